#include "trainer/config.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <type_traits>
#include <utility>
#include <variant>

#include "common/json_line.h"

namespace lica::trainer {
namespace {

// ---- value formatting ----------------------------------------------------------------------

// The shortest decimal that reads back as exactly `v` (YAML spellings for non-finite values).
std::string format_double(double v) {
  if (std::isnan(v)) return ".nan";
  if (std::isinf(v)) return v > 0 ? ".inf" : "-.inf";
  int precision = 1;
  char buf[40];
  for (; precision <= 17; ++precision) {
    std::snprintf(buf, sizeof buf, "%.*g", precision, v);
    if (std::strtod(buf, nullptr) == v) break;
  }
  // Whole digits up to 1e17 are written out (10, not 1e+01); more digits still round-trip.
  const double magnitude = std::fabs(v);
  if (magnitude >= 1 && magnitude < 1e17) {
    const int whole_digits = static_cast<int>(std::floor(std::log10(magnitude))) + 1;
    if (whole_digits > precision) std::snprintf(buf, sizeof buf, "%.*g", whole_digits, v);
  }
  return buf;
}

std::string quote(const std::string& s) { return "'" + s + "'"; }

std::string join(const std::vector<std::string>& items, const std::string& sep) {
  std::string out;
  for (size_t i = 0; i < items.size(); ++i) out += (i ? sep : "") + items[i];
  return out;
}

// What a YAML node is, for "expected X, got Y" messages.
std::string describe_node(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Scalar: return quote(node.Scalar());
    case YAML::NodeType::Map: return "a map";
    case YAML::NodeType::Sequence: return "a sequence";
    case YAML::NodeType::Null: return "an empty value";
    default: return "an undefined value";
  }
}

std::string line_suffix(const YAML::Node& node) {
  const YAML::Mark mark = node.Mark();
  if (mark.is_null()) return "";
  return " (line " + std::to_string(mark.line + 1) + ")";
}

// ---- the field table -----------------------------------------------------------------------
// One spec per value type. Each knows how to decode a YAML scalar, format a value for YAML,
// check its range or choices, and describe that range for comments.

struct IntSpec {
  using Value = int64_t;
  Value* (*member)(Config&);
  int64_t lo, hi;
  static constexpr const char* kExpected = "an integer";
  std::string format(Value v) const { return std::to_string(v); }
  std::string range() const { return "[" + std::to_string(lo) + ", " + std::to_string(hi) + "]"; }
  std::string check(Value v) const {
    if (v >= lo && v <= hi) return "";
    return "value " + format(v) + " is out of range, expected " + range();
  }
};

struct Bound {
  double value;
  bool open;
};
Bound incl(double v) { return {v, false}; }
Bound excl(double v) { return {v, true}; }

struct DoubleSpec {
  using Value = double;
  Value* (*member)(Config&);
  Bound lo, hi;
  static constexpr const char* kExpected = "a number";
  std::string format(Value v) const { return format_double(v); }
  std::string range() const {
    return (lo.open ? "(" : "[") + format_double(lo.value) + ", " + format_double(hi.value) +
           (hi.open ? ")" : "]");
  }
  std::string check(Value v) const {
    const bool above = lo.open ? v > lo.value : v >= lo.value;  // false for NaN
    const bool below = hi.open ? v < hi.value : v <= hi.value;
    if (above && below) return "";
    return "value " + format(v) + " is out of range, expected " + range();
  }
};

struct StringSpec {
  using Value = std::string;
  Value* (*member)(Config&);
  std::vector<std::string> choices;  // empty = any string
  bool allow_empty;
  static constexpr const char* kExpected = "a string";
  // A JSON string literal is a valid YAML double-quoted scalar.
  std::string format(const Value& v) const { return json_quote(v); }
  std::string range() const {
    if (!choices.empty()) return "one of: " + join(choices, ", ");
    return allow_empty ? "" : "non-empty";
  }
  std::string check(const Value& v) const {
    if (!choices.empty()) {
      if (std::find(choices.begin(), choices.end(), v) != choices.end()) return "";
      return "value " + quote(v) + " is not one of: " + join(choices, ", ");
    }
    if (v.empty() && !allow_empty) return "must not be empty";
    return "";
  }
};

struct BoolSpec {
  using Value = bool;
  Value* (*member)(Config&);
  static constexpr const char* kExpected = "a boolean";
  std::string format(Value v) const { return v ? "true" : "false"; }
  std::string range() const { return ""; }
  std::string check(Value) const { return ""; }
};

struct Field {
  std::string key;  // full path, "trainer.lr"
  std::variant<IntSpec, DoubleSpec, StringSpec, BoolSpec> spec;
  std::string help;
};

Field integer(const char* key, int64_t* (*member)(Config&), int64_t lo, int64_t hi,
              const char* help) {
  return {key, IntSpec{member, lo, hi}, help};
}
Field real(const char* key, double* (*member)(Config&), Bound lo, Bound hi, const char* help) {
  return {key, DoubleSpec{member, lo, hi}, help};
}
Field text(const char* key, std::string* (*member)(Config&), bool allow_empty, const char* help) {
  return {key, StringSpec{member, {}, allow_empty}, help};
}
Field choice(const char* key, std::string* (*member)(Config&), std::vector<std::string> choices,
             const char* help) {
  return {key, StringSpec{member, std::move(choices), false}, help};
}
Field flag(const char* key, bool* (*member)(Config&), const char* help) {
  return {key, BoolSpec{member}, help};
}

std::vector<std::string> best_metric_choices() {
  std::vector<std::string> choices{"none"};
  for (const auto& m : retrieval_metric_names()) choices.push_back(m);
  return choices;
}

// Every field, grouped by section (dump_config() relies on sections being contiguous). The
// captureless lambdas convert to the specs' member-access function pointers.
const std::vector<Field>& fields() {
  constexpr bool kMayBeEmpty = true, kNonEmpty = false;
  // clang-format off
  static const std::vector<Field> table = {
      text("data.path", [](Config& c) { return &c.data.path; }, kNonEmpty, "HDF5 feature file"),
      text("data.train_split", [](Config& c) { return &c.data.train_split; }, kNonEmpty,
           "split to train on"),
      text("data.val_split", [](Config& c) { return &c.data.val_split; }, kMayBeEmpty,
           "split validated during training; \"\" = none"),
      text("data.test_split", [](Config& c) { return &c.data.test_split; }, kMayBeEmpty,
           "split evaluated at the end; \"\" = none"),
      choice("data.pairing", [](Config& c) { return &c.data.pairing; },
             {"one_caption", "all_captions"},
             "training samples: each video with one caption drawn per epoch, or every caption"),
      flag("data.drop_last", [](Config& c) { return &c.data.drop_last; },
           "drop the last incomplete global batch"),
      integer("data.prefetch_batches", [](Config& c) { return &c.data.prefetch_batches; }, 0, 1024,
              "batches a loader thread reads ahead of training; 0 = read inside the step"),

      integer("model.embed_dim", [](Config& c) { return &c.model.embed_dim; }, 1, 65536,
              "joint embedding size"),
      integer("model.video_dim", [](Config& c) { return &c.model.video_dim; }, 0, 65536,
              "frame feature size; 0 = from the feature file"),
      integer("model.text_dim", [](Config& c) { return &c.model.text_dim; }, 0, 65536,
              "token feature size; 0 = from the feature file"),
      integer("model.max_frames", [](Config& c) { return &c.model.max_frames; }, 1, 4096,
              "frame-position table size; must be >= the file's frames per video"),
      integer("model.max_tokens", [](Config& c) { return &c.model.max_tokens; }, 1, 4096,
              "token-position table size"),
      real("model.dropout", [](Config& c) { return &c.model.dropout; }, incl(0), excl(1),
           "dropout probability"),
      real("model.init_temperature", [](Config& c) { return &c.model.init_temperature; },
           excl(0), incl(1), "initial softmax temperature; logit scale starts at ln(1/T)"),
      choice("model.video.encoder", [](Config& c) { return &c.model.video.encoder; },
             {"seqTransf", "meanP"}, "temporal encoder over frames"),
      choice("model.video.pooling", [](Config& c) { return &c.model.video.pooling; },
             {"mean", "gpo"}, "frame pooling: mean of valid frames, or GPO (VSE-infinity)"),
      integer("model.video.layers", [](Config& c) { return &c.model.video.layers; }, 1, 64,
              "transformer layers (seqTransf)"),
      integer("model.video.heads", [](Config& c) { return &c.model.video.heads; }, 1, 64,
              "attention heads; must divide embed_dim"),
      choice("model.text.pooling", [](Config& c) { return &c.model.text.pooling; },
             {"eot", "mean", "gpo"},
             "caption pooling: last valid (EOT) token, mean of valid tokens, or GPO"),
      integer("model.text.layers", [](Config& c) { return &c.model.text.layers; }, 0, 64,
              "transformer layers over tokens; 0 = none"),
      integer("model.text.heads", [](Config& c) { return &c.model.text.heads; }, 1, 64,
              "attention heads; must divide embed_dim when layers > 0"),
      real("model.momentum.m", [](Config& c) { return &c.model.momentum.m; }, incl(0), excl(1),
           "EMA of the momentum encoders (with loss.itc or loss.ims)"),
      integer("model.momentum.queue_size", [](Config& c) { return &c.model.momentum.queue_size; },
              0, 1 << 24, "past global-batch embeddings queued per modality as extra negatives"),
      integer("model.fusion.layers", [](Config& c) { return &c.model.fusion.layers; }, 0, 64,
              "cross-attention layers of the fusion encoder; 0 = none"),
      integer("model.fusion.heads", [](Config& c) { return &c.model.fusion.heads; }, 1, 64,
              "attention heads of the fusion encoder; must divide embed_dim"),

      integer("trainer.epochs", [](Config& c) { return &c.trainer.epochs; }, 1, 100000,
              "training epochs"),
      integer("trainer.batch_size", [](Config& c) { return &c.trainer.batch_size; }, 1, 1 << 24,
              "global batch size (all ranks together)"),
      real("trainer.lr", [](Config& c) { return &c.trainer.lr; }, excl(0), incl(10),
           "peak learning rate"),
      real("trainer.weight_decay", [](Config& c) { return &c.trainer.weight_decay; }, incl(0),
           incl(10), "AdamW weight decay"),
      real("trainer.warmup_fraction", [](Config& c) { return &c.trainer.warmup_fraction; },
           incl(0), incl(1), "fraction of steps with linear warm-up"),
      real("trainer.min_lr_ratio", [](Config& c) { return &c.trainer.min_lr_ratio; }, incl(0),
           incl(1), "cosine decay ends at lr * min_lr_ratio"),
      real("trainer.grad_clip", [](Config& c) { return &c.trainer.grad_clip; }, incl(0),
           incl(1e6), "gradient norm clip; 0 = off"),
      integer("trainer.seed", [](Config& c) { return &c.trainer.seed; }, 0, int64_t{1} << 62,
              "random seed"),
      integer("trainer.log_every", [](Config& c) { return &c.trainer.log_every; }, 1,
              1000000000, "log a metrics line every N steps"),
      integer("trainer.threads", [](Config& c) { return &c.trainer.threads; }, 0, 1024,
              "intra-op threads per rank; 0 = LibTorch default"),
      choice("trainer.device", [](Config& c) { return &c.trainer.device; },
             {"auto", "cpu", "cuda"},
             "auto = cuda:<local rank> when this build has CUDA and a GPU is visible, else cpu"),
      choice("trainer.precision", [](Config& c) { return &c.trainer.precision; },
             {"fp32", "bf16"},
             "bf16 = autocast of the encoders' forward; weights, optimizer and losses stay fp32"),
      flag("trainer.tf32", [](Config& c) { return &c.trainer.tf32; },
           "TF32 tensor cores for fp32 matmuls and convolutions on CUDA (no effect on cpu)"),

      real("loss.lica.weight", [](Config& c) { return &c.loss.lica.weight; }, incl(0), incl(1000),
           "λ of the LICA intra-modal consistency term; 0 = off (the baseline, bitwise)"),
      real("loss.lica.tau_intra", [](Config& c) { return &c.loss.lica.tau_intra; }, excl(0),
           incl(100), "temperature of the neighbour weights softmax(A / tau_intra)"),
      integer("loss.lica.top_k", [](Config& c) { return &c.loss.lica.top_k; }, 0, 1 << 24,
              "neighbours per anchor; 0 = all other samples of the global batch"),
      real("loss.lica.min_affinity", [](Config& c) { return &c.loss.lica.min_affinity; },
           incl(-1), incl(1), "neighbours with a smaller intra-modal cosine are dropped"),
      choice("loss.lica.source", [](Config& c) { return &c.loss.lica.source; },
             {"embedding", "input"},
             "affinities from the (stop-gradient) embeddings or the mean-pooled input features"),
      choice("loss.lica.divergence", [](Config& c) { return &c.loss.lica.divergence; },
             {"js", "kl"}, "Jensen-Shannon, or KL(anchor || neighbour)"),
      choice("loss.lica.form", [](Config& c) { return &c.loss.lica.form; },
             {"auto", "direct", "chunked", "fused"},
             "how the term is computed (auto: chunked on the CPU; on a GPU direct, chunked above "
             "2^24 elements); fused streams over column tiles (no [B, B] matrices)"),
      integer("loss.lica.tile_cols", [](Config& c) { return &c.loss.lica.tile_cols; }, 1,
              1 << 24, "similarity columns per tile of the fused form"),
      real("loss.itc.weight", [](Config& c) { return &c.loss.itc.weight; }, incl(0), incl(1000),
           "weight of ITC against the momentum queues; 0 = off"),
      real("loss.itc.temperature", [](Config& c) { return &c.loss.itc.temperature; }, excl(0),
           incl(10), "temperature of ITC"),
      real("loss.ims.weight", [](Config& c) { return &c.loss.ims.weight; }, incl(0), incl(1000),
           "weight of intra-modal separability; 0 = off"),
      real("loss.ims.temperature", [](Config& c) { return &c.loss.ims.temperature; }, excl(0),
           incl(10), "temperature of IMS"),
      real("loss.lmim.weight", [](Config& c) { return &c.loss.lmim.weight; }, incl(0),
           incl(1000), "weight of local mutual information; 0 = off"),
      real("loss.lmim.temperature", [](Config& c) { return &c.loss.lmim.temperature; }, excl(0),
           incl(10), "temperature of LMIM"),
      real("loss.itm_weight", [](Config& c) { return &c.loss.itm_weight; }, incl(0), incl(1000),
           "weight of the fusion encoder's matching loss; needs model.fusion.layers > 0"),

      integer("eval.every_epochs", [](Config& c) { return &c.eval.every_epochs; }, 0, 100000,
              "validate every N epochs; 0 = no validation during training"),
      integer("eval.batch_size", [](Config& c) { return &c.eval.batch_size; }, 1, 1 << 24,
              "encoding batch size at evaluation"),
      integer("eval.chunk_size", [](Config& c) { return &c.eval.chunk_size; }, 1, 1 << 24,
              "queries per similarity block"),
      flag("eval.dsl", [](Config& c) { return &c.eval.dsl; },
           "dual-softmax re-normalisation (DSL): scores times the softmax of their candidate's "
           "column over all queries"),
      real("eval.dsl_temperature", [](Config& c) { return &c.eval.dsl_temperature; }, excl(0),
           incl(10), "temperature of the DSL softmax over cosine scores"),
      integer("eval.rerank_top_k", [](Config& c) { return &c.eval.rerank_top_k; }, 0, 1 << 20,
              "fusion-encoder re-ranking of each query's top k; 0 = off"),

      choice("dist.backend", [](Config& c) { return &c.dist.backend; },
             {"auto", "local", "mpi", "nccl"},
             "communicator; auto = nccl with CUDA, else mpi under a launcher, else local"),
      real("dist.bucket_mb", [](Config& c) { return &c.dist.bucket_mb; }, excl(0), incl(1024),
           "gradient all-reduce bucket size in MB"),
      real("dist.timeout_s", [](Config& c) { return &c.dist.timeout_s; }, incl(0), incl(604800),
           "seconds a collective may stay pending before the job is aborted with a message "
           "naming it (a lost or stuck rank); 0 = wait forever"),

      integer("checkpoint.every_steps", [](Config& c) { return &c.checkpoint.every_steps; }, 0,
              int64_t{1} << 40,
              "write a checkpoint every N steps; 0 = only at the end and on SIGTERM/SIGUSR1"),
      integer("checkpoint.keep_last", [](Config& c) { return &c.checkpoint.keep_last; }, 1,
              1000000, "newest checkpoints kept; the best is kept besides"),
      choice("checkpoint.best_metric", [](Config& c) { return &c.checkpoint.best_metric; },
             best_metric_choices(),
             "validation metric whose best checkpoint is kept as 'best'; none = no best"),

      text("run.dir", [](Config& c) { return &c.run.dir; }, kNonEmpty,
           "run directory: resolved config, logs, metrics.jsonl, checkpoints"),
  };
  // clang-format on
  return table;
}

// The member accessors take a mutable Config so one table serves parsing and reading; the read-only
// operations (validate, dump, ==) only read through it.
Config& read_only(const Config& c) { return const_cast<Config&>(c); }

const Field* find_field(const std::string& key) {
  for (const Field& f : fields()) {
    if (f.key == key) return &f;
  }
  return nullptr;
}

// "" (the top level) and every proper prefix of a key, such as "model" or "model.video".
bool is_section(const std::string& path) {
  if (path.empty()) return true;
  for (const Field& f : fields()) {
    if (f.key.size() > path.size() && f.key.compare(0, path.size(), path) == 0 &&
        f.key[path.size()] == '.') {
      return true;
    }
  }
  return false;
}

// Direct children of a section, in table order: keys and sub-section names.
std::vector<std::string> section_children(const std::string& section) {
  const std::string prefix = section.empty() ? "" : section + ".";
  std::vector<std::string> names;
  for (const Field& f : fields()) {
    if (f.key.compare(0, prefix.size(), prefix) != 0) continue;
    const std::string rest = f.key.substr(prefix.size());
    const std::string name = rest.substr(0, rest.find('.'));
    if (std::find(names.begin(), names.end(), name) == names.end()) names.push_back(name);
  }
  return names;
}

[[noreturn]] void throw_unknown_key(const std::string& source, const std::string& path,
                                    const std::string& where) {
  std::string section = path;
  do {
    const size_t dot = section.rfind('.');
    section = dot == std::string::npos ? "" : section.substr(0, dot);
  } while (!is_section(section));
  const std::string valid = join(section_children(section), ", ");
  throw ConfigError(source + ": unknown key " + quote(path) + where + "; valid keys " +
                    (section.empty() ? "at the top level" : "in " + quote(section)) + ": " + valid);
}

// Sets field `f` of `c` from a YAML node; `where` locates the node in messages.
void set_from_node(const Field& f, Config& c, const YAML::Node& node, const std::string& source,
                   const std::string& where) {
  std::visit(
      [&](const auto& spec) {
        using Value = typename std::decay_t<decltype(spec)>::Value;
        const auto fail = [&] {
          throw ConfigError(source + ": key " + f.key + ": expected " + spec.kExpected + ", got " +
                            describe_node(node) + where);
        };
        if (!node.IsScalar()) fail();
        try {
          *spec.member(c) = node.template as<Value>();
        } catch (const YAML::BadConversion&) {
          fail();
        }
      },
      f.spec);
}

// Applies a YAML map found at `section` ("" = the document root) on top of `c`.
void merge_map(const YAML::Node& map, const std::string& section, Config& c,
               const std::string& source) {
  std::set<std::string> seen;
  for (const auto& kv : map) {
    const YAML::Node& key_node = kv.first;
    const YAML::Node& value = kv.second;
    if (!key_node.IsScalar()) {
      throw ConfigError(
          source + ": expected a key name " +
          (section.empty() ? std::string("at the top level") : "in " + quote(section)) + ", got " +
          describe_node(key_node) + line_suffix(key_node));
    }
    const std::string path =
        section.empty() ? key_node.Scalar() : section + "." + key_node.Scalar();
    if (!seen.insert(path).second) {
      throw ConfigError(source + ": duplicate key " + quote(path) + line_suffix(key_node));
    }
    if (const Field* f = find_field(path)) {
      set_from_node(*f, c, value, source, line_suffix(value));
    } else if (is_section(path)) {
      if (value.IsNull()) continue;  // a section with every key commented out
      if (!value.IsMap()) {
        throw ConfigError(source + ": key " + path + ": expected a map of keys (" +
                          join(section_children(path), ", ") + "), got " + describe_node(value) +
                          line_suffix(value));
      }
      merge_map(value, path, c, source);
    } else {
      throw_unknown_key(source, path, line_suffix(key_node));
    }
  }
}

YAML::Node load_yaml(const std::string& text, const std::string& source) {
  try {
    return YAML::Load(text);
  } catch (const YAML::Exception& e) {
    std::string where = source;
    if (!e.mark.is_null()) {
      where += ":" + std::to_string(e.mark.line + 1) + ":" + std::to_string(e.mark.column + 1);
    }
    throw ConfigError(where + ": YAML syntax error: " + e.msg);
  }
}

}  // namespace

Config parse_config_yaml(const std::string& yaml_text, const std::string& source) {
  Config c;
  const YAML::Node root = load_yaml(yaml_text, source);
  if (root.IsNull()) return c;  // an empty file: all defaults
  if (!root.IsMap()) {
    throw ConfigError(source + ": expected a map of sections (" + join(section_children(""), ", ") +
                      ") at the top level, got " + describe_node(root) + line_suffix(root));
  }
  merge_map(root, "", c, source);
  return c;
}

Config load_config(const std::string& path) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) {
    throw ConfigError(path + ": cannot read config file: is a directory");
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) throw ConfigError(path + ": cannot open config file (missing or unreadable)");
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) throw ConfigError(path + ": cannot read config file");
  return parse_config_yaml(text.str(), path);
}

void apply_override(Config& c, const std::string& assignment) {
  const std::string source = "--set " + assignment;
  const size_t eq = assignment.find('=');
  if (eq == std::string::npos || eq == 0) {
    throw ConfigError(source + ": expected section.key=value, e.g. --set trainer.lr=1e-4");
  }
  const std::string key = assignment.substr(0, eq);
  const std::string value = assignment.substr(eq + 1);
  const Field* f = find_field(key);
  if (f == nullptr) {
    if (is_section(key)) {
      throw ConfigError(source + ": " + quote(key) +
                        " is a section, not a key; its keys: " + join(section_children(key), ", "));
    }
    throw_unknown_key(source, key, "");
  }
  if (value.empty() && std::holds_alternative<StringSpec>(f->spec)) {
    *std::get<StringSpec>(f->spec).member(c) = "";
    return;
  }
  set_from_node(*f, c, load_yaml(value, source), source, "");
}

void validate(const Config& c, const std::string& source) {
  for (const Field& f : fields()) {
    const std::string problem = std::visit(
        [&](const auto& spec) { return spec.check(*spec.member(read_only(c))); }, f.spec);
    if (!problem.empty()) throw ConfigError(source + ": key " + f.key + ": " + problem);
  }

  const auto fail = [&](const std::string& key, const std::string& problem) {
    throw ConfigError(source + ": key " + key + ": " + problem);
  };
  const ModelConfig& m = c.model;
  if (m.embed_dim % m.video.heads != 0) {
    fail("model.embed_dim", "value " + std::to_string(m.embed_dim) +
                                " must be divisible by model.video.heads (" +
                                std::to_string(m.video.heads) + ")");
  }
  if (m.text.layers > 0 && m.embed_dim % m.text.heads != 0) {
    fail("model.embed_dim", "value " + std::to_string(m.embed_dim) +
                                " must be divisible by model.text.heads (" +
                                std::to_string(m.text.heads) + ") when model.text.layers > 0");
  }
  if (m.fusion.layers > 0 && m.embed_dim % m.fusion.heads != 0) {
    fail("model.embed_dim", "value " + std::to_string(m.embed_dim) +
                                " must be divisible by model.fusion.heads (" +
                                std::to_string(m.fusion.heads) + ") when model.fusion.layers > 0");
  }
  if (m.fusion.layers == 0 && c.loss.itm_weight > 0) {
    fail("loss.itm_weight", "value " + format_double(c.loss.itm_weight) +
                                " needs a fusion encoder: set model.fusion.layers > 0");
  }
  if (m.fusion.layers == 0 && c.eval.rerank_top_k > 0) {
    fail("eval.rerank_top_k", "value " + std::to_string(c.eval.rerank_top_k) +
                                  " needs a fusion encoder: set model.fusion.layers > 0");
  }
  if (c.loss.itm_weight > 0 && c.trainer.batch_size < 2) {
    fail("loss.itm_weight", "needs trainer.batch_size >= 2 (hard negatives come from the batch)");
  }
  if (c.data.val_split == c.data.train_split) {
    fail("data.val_split",
         "value " + quote(c.data.val_split) + " must differ from data.train_split");
  }
  if (c.data.test_split == c.data.train_split) {
    fail("data.test_split",
         "value " + quote(c.data.test_split) + " must differ from data.train_split");
  }
}

std::string dump_config(const Config& c) {
  std::string out =
      "# lica config: every key, with its range; sections data, model, trainer, loss, eval, dist,\n"
      "# checkpoint, run\n";
  std::vector<std::string> open;  // the sections currently open, outermost first
  for (const Field& f : fields()) {
    std::vector<std::string> parts;
    std::stringstream ss(f.key);
    for (std::string part; std::getline(ss, part, '.');) parts.push_back(part);
    const std::string name = parts.back();
    parts.pop_back();
    size_t common = 0;
    while (common < open.size() && common < parts.size() && open[common] == parts[common]) ++common;
    open.resize(common);
    for (size_t i = common; i < parts.size(); ++i) {
      if (i == 0 && !out.empty()) out += "\n";
      out += std::string(2 * i, ' ') + parts[i] + ":\n";
      open.push_back(parts[i]);
    }
    std::visit(
        [&](const auto& spec) {
          const std::string range = spec.range();
          out += std::string(2 * parts.size(), ' ') + name + ": " +
                 spec.format(*spec.member(read_only(c))) + "  # " + f.help +
                 (range.empty() ? "" : "; " + range) + "\n";
        },
        f.spec);
  }
  return out;
}

bool operator==(const Config& a, const Config& b) {
  for (const Field& f : fields()) {
    const bool same = std::visit(
        [&](const auto& spec) { return *spec.member(read_only(a)) == *spec.member(read_only(b)); },
        f.spec);
    if (!same) return false;
  }
  return true;
}

std::string config_value(const Config& c, const std::string& key) {
  const Field* f = find_field(key);
  if (f == nullptr) throw_unknown_key("config_value", key, "");
  return std::visit([&](const auto& spec) { return spec.format(*spec.member(read_only(c))); },
                    f->spec);
}

const std::vector<std::string>& retrieval_metric_names() {
  static const std::vector<std::string> names{"t2v_r1", "t2v_r5", "t2v_r10", "t2v_mdr", "t2v_mnr",
                                              "v2t_r1", "v2t_r5", "v2t_r10", "v2t_mdr", "v2t_mnr"};
  return names;
}

bool larger_is_better(const std::string& metric) {
  return metric.find("_mdr") == std::string::npos && metric.find("_mnr") == std::string::npos;
}

std::vector<std::string> config_keys() {
  std::vector<std::string> keys;
  for (const Field& f : fields()) keys.push_back(f.key);
  return keys;
}

}  // namespace lica::trainer
