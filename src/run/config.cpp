#include "run/config.h"

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
#include "run/config_fields.h"

namespace lica::run {
namespace {

using namespace config_table;  // NOLINT: the table is this file's vocabulary

// ---- value formatting ----------------------------------------------------------------------

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

// The member accessors take a mutable Config so one table serves parsing and reading; the read-only
// operations (validate, dump, ==) only read through it.
Config& read_only(const Config& c) { return const_cast<Config&>(c); }

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
  if (c.trainer.micro_batch > 0 && (c.loss.lmim.weight > 0 || c.loss.itm_weight > 0)) {
    fail("trainer.micro_batch",
         "value " + std::to_string(c.trainer.micro_batch) + " caches embeddings only; " +
             (c.loss.lmim.weight > 0 ? "loss.lmim.weight" : "loss.itm_weight") +
             " needs the encoders' sequences with gradient: set trainer.micro_batch: 0");
  }
  if (c.trainer.host_inputs && c.trainer.micro_batch <= 0) {
    fail("trainer.host_inputs",
         "true needs trainer.micro_batch > 0 (the inputs are copied one micro-batch at a time)");
  }
  if (c.loss.itm_weight > 0 && c.trainer.batch_size < 2) {
    fail("loss.itm_weight", "needs trainer.batch_size >= 2 (hard negatives come from the batch)");
  }
  if (c.dist.ranks_per_gpu > 1 && c.dist.backend == "nccl") {
    fail("dist.ranks_per_gpu", "value " + std::to_string(c.dist.ranks_per_gpu) +
                                   " puts several ranks on one GPU, which NCCL refuses; set "
                                   "dist.backend: mpi (CUDA tensors staged through the host)");
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

std::vector<std::string> config_keys() {
  std::vector<std::string> keys;
  for (const Field& f : fields()) keys.push_back(f.key);
  return keys;
}

}  // namespace lica::run
