#include "data/inspect.h"

#include <glog/logging.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <set>
#include <sstream>

#include "common/error.h"
#include "common/json_line.h"
#include "data/problem_log.h"

namespace lica::data {
namespace {

// Shortest readable form of a value for messages: 0.25, 1e-05, 7.98.
std::string number(double value) {
  std::ostringstream out;
  out << value;
  return out.str();
}

std::string fixed(double value, int digits) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", digits, value);
  return buf;
}

// --- the scan of every feature value ---------------------------------------------------------

// One feature dataset as the scan sees it.
struct ScanTarget {
  std::string name;                // "/videos/features"
  const char* position;            // "frame"
  const char* count_name;          // "num_frames"
  int64_t rows = 0, positions = 0;
  torch::Tensor (FeatureFile::*read_block)(int64_t, int64_t) const;
  const std::vector<int32_t>* counts;  // valid positions per row; null: padding not checked
};

// Rows of a [n, ...] bool mask that have any true entry, with how many each has.
std::vector<std::pair<int64_t, int64_t>> rows_with_any(const torch::Tensor& mask) {
  torch::Tensor per_row = mask.flatten(1).sum(1);  // [n] int64
  torch::Tensor rows = per_row.nonzero().flatten();
  std::vector<std::pair<int64_t, int64_t>> out;
  auto r = rows.accessor<int64_t, 1>();
  auto c = per_row.accessor<int64_t, 1>();
  for (int64_t k = 0; k < rows.size(0); ++k) out.emplace_back(r[k], c[r[k]]);
  return out;
}

// NaN and Inf anywhere in rows [first, first + n): one problem per row.
void check_finite(const std::string& path, const ScanTarget& target, int64_t first,
                  const torch::Tensor& values, ProblemLog& log) {
  const std::string rule = target.name + " (non-finite value)";
  const torch::Tensor bad = torch::isfinite(values).logical_not();  // [n, P, D]
  for (const auto& [r, count] : rows_with_any(bad)) {
    if (!log.listing(rule)) {
      log.count(rule);
      continue;
    }
    torch::Tensor at = bad[r].nonzero()[0];  // [2]: position, feature
    const int64_t p = at[0].item<int64_t>(), d = at[1].item<int64_t>();
    log.add(rule, non_finite_message(path, target.name, first + r, target.position, p, d,
                                     values[r][p][d].item<float>()) +
                      " (" + std::to_string(count) + " non-finite in this row)");
  }
}

// Positions past the valid count must be zero (docs/design.md §2); rows whose count is out of range
// were reported by the rules of open() and are skipped here.
void check_padding(const std::string& path, const ScanTarget& target, int64_t first,
                   const torch::Tensor& values, ProblemLog& log) {
  const std::string rule = target.name + " (non-zero padding)";
  const int64_t n = values.size(0), P = target.positions;
  std::vector<int64_t> block_counts(target.counts->begin() + first,
                                    target.counts->begin() + first + n);
  torch::Tensor counts = torch::tensor(block_counts, torch::kLong);  // [n]
  torch::Tensor sound = (counts >= 1).logical_and(counts <= P);   // [n]
  torch::Tensor padding = torch::arange(P, torch::kLong).unsqueeze(0) >= counts.unsqueeze(1);
  padding = padding.logical_and(sound.unsqueeze(1));  // [n, P]
  // Non-finite padding is already a non-finite value: counted once, there.
  const torch::Tensor bad =
      values.ne(0).logical_and(torch::isfinite(values)).logical_and(padding.unsqueeze(2));
  for (const auto& [r, count] : rows_with_any(bad)) {
    if (!log.listing(rule)) {
      log.count(rule);
      continue;
    }
    torch::Tensor at = bad[r].nonzero()[0];  // [2]: position, feature
    const int64_t p = at[0].item<int64_t>(), d = at[1].item<int64_t>();
    const std::string count_text = std::to_string(block_counts[static_cast<size_t>(r)]);
    log.add(rule, path + ": dataset " + target.name + ", row " + std::to_string(first + r) +
                      ": value " + number(values[r][p][d].item<float>()) + " at " +
                      target.position + " " + std::to_string(p) + ", feature " +
                      std::to_string(d) + " is padding (" + target.count_name + " = " +
                      count_text + ") but not zero (" + std::to_string(count) +
                      " non-zero padding values in this row), expected zeros past " +
                      target.count_name);
  }
}

// Every row of one feature dataset, `block_rows` at a time. A read that fails (truncated or
// damaged file) is one problem and ends the scan of that dataset: the rest would fail alike.
void scan(const FeatureFile& file, const ScanTarget& target, int64_t block_rows,
          ProblemLog& log) {
  LOG(INFO) << "scanning " << target.name << ": " << target.rows << " rows";
  for (int64_t first = 0; first < target.rows; first += block_rows) {
    const int64_t n = std::min(block_rows, target.rows - first);
    torch::Tensor values;  // [n, P, D]
    try {
      values = (file.*target.read_block)(first, n);
    } catch (const InputError& e) {
      log.add(target.name + " (unreadable)", e.what());
      return;
    }
    check_finite(file.path(), target, first, values, log);
    if (target.counts) check_padding(file.path(), target, first, values, log);
  }
}

// --- the summary -----------------------------------------------------------------------------

FeatureStorage feature_storage(hid_t h5file, const std::string& name, bool sound) {
  FeatureStorage out;
  if (!sound) return out;
  h5::Dataset dataset = h5::open_dataset(h5file, name);
  out.present = true;
  out.dtype = h5::type_name(h5::dataset_type(dataset).get());
  out.storage = h5::storage(dataset);
  return out;
}

void summarise_captions(const FeatureFile& file, Inspection& out) {
  const int64_t V = file.num_videos();
  if (V == 0 || file.text_video().empty()) return;
  std::vector<int64_t> per_video(static_cast<size_t>(V), 0);
  for (int32_t v : file.text_video()) {
    if (v >= 0 && v < V) ++per_video[static_cast<size_t>(v)];  // out of range: a listed problem
  }
  for (int64_t c : per_video) ++out.captions_per_video[c];
  std::sort(per_video.begin(), per_video.end());
  out.captions_min = per_video.front();
  out.captions_max = per_video.back();
  out.captions_median = 0.5 * static_cast<double>(per_video[static_cast<size_t>((V - 1) / 2)] +
                                                  per_video[static_cast<size_t>(V / 2)]);
}

double mean(const std::vector<int32_t>& values) {
  if (values.empty()) return 0;
  double sum = 0;
  for (int32_t v : values) sum += v;
  return sum / static_cast<double>(values.size());
}

// Whether `path` is a dataset the schema names: /videos/..., /texts/..., /splits/<name>/videos
// or /splits/<name>/texts.
bool in_schema(const std::string& path) {
  static const std::set<std::string> fixed_paths = {
      "/videos/features", "/videos/num_frames", "/videos/ids", "/texts/features",
      "/texts/num_tokens", "/texts/video",      "/texts/raw"};
  if (fixed_paths.count(path)) return true;
  const std::string prefix = "/splits/";
  if (path.rfind(prefix, 0) != 0) return false;
  const size_t slash = path.find('/', prefix.size());
  if (slash == std::string::npos || slash == prefix.size()) return false;
  const std::string leaf = path.substr(slash + 1);
  return leaf == "videos" || leaf == "texts";
}

// Datasets outside the schema: lica ignores them, but they are worth knowing about. Walks
// groups down to /splits/<name>/<dataset>, the deepest schema path.
std::vector<std::string> other_datasets(hid_t h5file) {
  std::vector<std::string> out;
  std::vector<std::pair<std::string, int>> pending = {{"/", 0}};  // group, depth
  while (!pending.empty()) {
    const auto [path, depth] = pending.back();
    pending.pop_back();
    if (!h5::is_group(h5file, path)) {  // a dataset (or a named type)
      if (!in_schema(path)) out.push_back(path);
      continue;
    }
    if (depth == 3) continue;
    for (const std::string& child : h5::list_group(h5file, path)) {
      pending.emplace_back((path == "/" ? "/" : path + "/") + child, depth + 1);
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::string storage_text(const FeatureStorage& f) {
  if (!f.present) return "(missing or malformed)";
  std::string s = f.dtype + ", " + f.storage.layout;
  if (!f.storage.chunk.empty()) s += " " + h5::shape_string(f.storage.chunk);
  if (f.storage.filters.empty()) {
    s += ", no compression";
  } else {
    s += ", filters";
    for (const h5::Filter& filter : f.storage.filters) {
      s += " " + filter.name + (filter.available ? "" : " (NOT available)");
    }
  }
  return s + ", " + fixed(static_cast<double>(f.storage.stored_bytes) / (1 << 20), 1) +
         " MiB stored";
}

std::string histogram_text(const std::map<int64_t, int64_t>& histogram) {
  constexpr size_t kShown = 16;  // a long tail would drown the line; --json has all of it
  std::string s;
  size_t shown = 0;
  for (const auto& [captions, videos] : histogram) {
    if (shown++ == kShown) {
      s += " ... (" + std::to_string(histogram.size() - kShown) + " more values)";
      break;
    }
    s += " " + std::to_string(captions) + ":" + std::to_string(videos);
  }
  return s;
}

std::string padding_text(double mean_valid, int64_t length, const char* what) {
  if (length == 0) return std::string(what) + " unknown";
  const double share = 1.0 - mean_valid / static_cast<double>(length);
  return std::string(what) + " " + fixed(mean_valid, 2) + " of " + std::to_string(length) +
         " valid on average (" + fixed(100 * share, 1) + "% padding)";
}

// --- JSON --------------------------------------------------------------------------------------

std::string json_number(double value) {
  if (!std::isfinite(value)) return "null";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.6g", value);
  return buf;
}

std::string json_bool(bool value) { return value ? "true" : "false"; }

std::string json_ints(const std::vector<int64_t>& values) {
  std::string s = "[";
  for (size_t i = 0; i < values.size(); ++i) s += (i ? ", " : "") + std::to_string(values[i]);
  return s + "]";
}

std::string json_strings(const std::vector<std::string>& values) {
  std::string s = "[";
  for (size_t i = 0; i < values.size(); ++i) s += (i ? ", " : "") + json_quote(values[i]);
  return s + "]";
}

std::string json_storage(const FeatureStorage& f) {
  if (!f.present) return "null";
  std::string filters = "[";
  for (size_t i = 0; i < f.storage.filters.size(); ++i) {
    const h5::Filter& filter = f.storage.filters[i];
    filters += std::string(i ? ", " : "") + "{\"id\": " + std::to_string(filter.id) +
               ", \"name\": " + json_quote(filter.name) +
               ", \"available\": " + json_bool(filter.available) + "}";
  }
  return "{\"dtype\": " + json_quote(f.dtype) + ", \"layout\": " + json_quote(f.storage.layout) +
         ", \"chunk\": " + json_ints(f.storage.chunk) + ", \"filters\": " + filters +
         "], \"stored_bytes\": " + std::to_string(f.storage.stored_bytes) + "}";
}

}  // namespace

Inspection inspect_file(const std::string& path, const InspectOptions& options) {
  ProblemLog log(options.problems_per_rule);
  const FeatureFile file = FeatureFile::open(path, options.expect, &log);
  h5::File h5file = h5::open_file(path);
  const hid_t root = h5file.get();

  Inspection out;
  out.path = path;
  std::error_code ec;
  out.file_bytes = static_cast<int64_t>(std::filesystem::file_size(path, ec));
  if (h5::attribute_exists(root, "lica_schema")) {
    try {
      out.schema = h5::read_int_attribute(root, "lica_schema");
    } catch (const InputError&) {  // not an integer: already a listed problem
    }
  }
  out.videos = file.num_videos();
  out.texts = file.num_texts();
  out.frames = file.max_frames();
  out.tokens = file.max_tokens();
  out.video_dim = file.video_dim();
  out.text_dim = file.text_dim();
  out.video_features = feature_storage(root, "/videos/features", out.videos > 0);
  out.text_features = feature_storage(root, "/texts/features", out.texts > 0);
  for (const std::string& name : file.split_names()) {
    const SplitIndex& split = file.split(name);
    out.splits[name] = {static_cast<int64_t>(split.videos.size()),
                        static_cast<int64_t>(split.texts.size())};
  }
  summarise_captions(file, out);
  out.mean_frames = mean(file.num_frames());
  out.mean_tokens = mean(file.num_tokens());
  out.has_ids = h5::exists(root, "/videos/ids");
  out.has_raw = h5::exists(root, "/texts/raw");
  out.other_datasets = other_datasets(root);

  if (options.scan_values) {
    const int64_t block = std::max<int64_t>(options.block_rows, 1);
    // Counts of the wrong length were not loaded (a listed problem): no padding check then.
    auto counts = [](const std::vector<int32_t>& c, int64_t rows) {
      return static_cast<int64_t>(c.size()) == rows ? &c : nullptr;
    };
    if (out.videos > 0) {
      scan(file,
           {"/videos/features", "frame", "num_frames", out.videos, out.frames,
            &FeatureFile::read_video_block, counts(file.num_frames(), out.videos)},
           block, log);
    }
    if (out.texts > 0) {
      scan(file,
           {"/texts/features", "token", "num_tokens", out.texts, out.tokens,
            &FeatureFile::read_text_block, counts(file.num_tokens(), out.texts)},
           block, log);
    }
  }
  out.problem_count = log.total();
  out.problems = log.lines();
  return out;
}

std::string format_text(const Inspection& in) {
  std::ostringstream s;
  auto line = [&](const char* key, const std::string& value) {
    s << key << std::string(12 - std::string(key).size(), ' ') << value << "\n";
  };
  line("file", in.path + ", " + fixed(static_cast<double>(in.file_bytes) / (1 << 20), 1) +
                   " MiB (" + std::to_string(in.file_bytes) + " bytes), lica_schema " +
                   (in.schema ? std::to_string(in.schema) : "missing"));
  line("videos", "V " + std::to_string(in.videos) + ", F " + std::to_string(in.frames) + ", Dv " +
                     std::to_string(in.video_dim) + "; " + storage_text(in.video_features));
  line("texts", "T " + std::to_string(in.texts) + ", L " + std::to_string(in.tokens) + ", Dt " +
                    std::to_string(in.text_dim) + "; " + storage_text(in.text_features));
  std::string splits;
  for (const auto& [name, c] : in.splits) {
    splits += (splits.empty() ? "" : ", ") + name + " " + std::to_string(c.videos) + " videos / " +
              std::to_string(c.texts) + " captions";
  }
  line("splits", splits.empty() ? "none" : splits);
  line("captions", in.captions_per_video.empty()
                       ? "unknown (/texts/video not loaded)"
                       : "per video min " + std::to_string(in.captions_min) + ", median " +
                             number(in.captions_median) + ", max " +
                             std::to_string(in.captions_max) + "; captions:videos" +
                             histogram_text(in.captions_per_video));
  line("padding", padding_text(in.mean_frames, in.frames, "frames") + "; " +
                      padding_text(in.mean_tokens, in.tokens, "tokens"));
  line("optional", std::string("/videos/ids ") + (in.has_ids ? "present" : "absent") +
                       ", /texts/raw " + (in.has_raw ? "present" : "absent"));
  if (!in.other_datasets.empty()) {
    std::string names;
    for (const std::string& n : in.other_datasets) names += (names.empty() ? "" : ", ") + n;
    line("other", names + " (not in the schema, ignored)");
  }
  if (in.ok()) {
    line("problems", "none");
  } else {
    line("problems", std::to_string(in.problem_count) + " found");
    for (const std::string& p : in.problems) s << "  " << p << "\n";
  }
  return s.str();
}

std::string format_json(const Inspection& in) {
  std::string splits = "{";
  for (const auto& [name, c] : in.splits) {
    splits += std::string(splits.size() > 1 ? ", " : "") + json_quote(name) +
              ": {\"videos\": " + std::to_string(c.videos) +
              ", \"texts\": " + std::to_string(c.texts) + "}";
  }
  splits += "}";
  std::string histogram = "{";
  for (const auto& [captions, videos] : in.captions_per_video) {
    histogram += std::string(histogram.size() > 1 ? ", " : "") + "\"" + std::to_string(captions) +
                 "\": " + std::to_string(videos);
  }
  histogram += "}";
  auto share = [](double mean_valid, int64_t length) {
    return length ? 1.0 - mean_valid / static_cast<double>(length) : 0.0;
  };
  std::ostringstream s;
  s << "{\"path\": " << json_quote(in.path) << ", \"file_bytes\": " << in.file_bytes
    << ", \"schema\": " << in.schema << ", \"videos\": " << in.videos
    << ", \"texts\": " << in.texts << ", \"frames\": " << in.frames
    << ", \"tokens\": " << in.tokens << ", \"video_dim\": " << in.video_dim
    << ", \"text_dim\": " << in.text_dim
    << ", \"video_features\": " << json_storage(in.video_features)
    << ", \"text_features\": " << json_storage(in.text_features) << ", \"splits\": " << splits
    << ", \"captions_per_video\": {\"min\": " << in.captions_min
    << ", \"median\": " << json_number(in.captions_median) << ", \"max\": " << in.captions_max
    << ", \"histogram\": " << histogram << "}"
    << ", \"padding\": {\"mean_frames\": " << json_number(in.mean_frames)
    << ", \"frame_padding\": " << json_number(share(in.mean_frames, in.frames))
    << ", \"mean_tokens\": " << json_number(in.mean_tokens)
    << ", \"token_padding\": " << json_number(share(in.mean_tokens, in.tokens)) << "}"
    << ", \"ids\": " << json_bool(in.has_ids) << ", \"raw\": " << json_bool(in.has_raw)
    << ", \"other_datasets\": " << json_strings(in.other_datasets)
    << ", \"ok\": " << json_bool(in.ok()) << ", \"problem_count\": " << in.problem_count
    << ", \"problems\": " << json_strings(in.problems) << "}";
  return s.str();
}

}  // namespace lica::data
