#include "data/feature_file.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "common/error.h"

namespace lica::data {
namespace {

// Builds the messages of one file: "<path>: dataset <name>[, row <r>]: <what>".
class Report {
 public:
  explicit Report(const std::string& path) : path_(path) {}
  [[noreturn]] void fail(const std::string& dataset, const std::string& what) const {
    throw InputError(path_ + ": dataset " + dataset + ": " + what);
  }
  [[noreturn]] void fail_row(const std::string& dataset, int64_t row,
                             const std::string& what) const {
    throw InputError(path_ + ": dataset " + dataset + ", row " + std::to_string(row) + ": " + what);
  }
  const std::string& path() const { return path_; }

 private:
  const std::string& path_;
};

std::string kind_names(h5::Kind kind) {
  switch (kind) {
    case h5::Kind::kInt32:
      return "int32";
    case h5::Kind::kString:
      return "strings";
    default:
      return "float16 or float32";
  }
}

// Opens a required dataset and checks its rank and element kind. `features` accepts float16
// and float32; otherwise `kind` is the one accepted.
h5::Dataset require(hid_t file, const Report& report, const std::string& name, size_t rank,
                    h5::Kind kind, const std::string& meaning) {
  if (!h5::exists(file, name)) {
    report.fail(name, "is missing, expected " + kind_names(kind) + " (" + meaning + ")");
  }
  h5::Dataset dataset = h5::open_dataset(file, name);
  std::vector<int64_t> dims = h5::shape(dataset);
  if (dims.size() != rank) {
    report.fail(name, "rank " + std::to_string(dims.size()) + " (shape " + h5::shape_string(dims) +
                          ") is wrong, expected rank " + std::to_string(rank) + " (" + meaning +
                          ")");
  }
  h5::Datatype type = h5::dataset_type(dataset);
  h5::Kind found = h5::kind_of(type.get());
  bool ok = kind == h5::Kind::kFloat32 ? found == h5::Kind::kFloat32 || found == h5::Kind::kFloat16
                                       : found == kind;
  if (!ok) {
    report.fail(name, "type " + h5::type_name(type.get()) + " is not supported, expected " +
                          kind_names(kind) + " (" + meaning + ")");
  }
  return dataset;
}

void check_length(const Report& report, const std::string& name, int64_t length,
                  const std::string& reference, int64_t expected, const char* what) {
  if (length != expected) {
    report.fail(name, "length " + std::to_string(length) + " does not match " + reference + " (" +
                          std::to_string(expected) + " " + what + ")");
  }
}

void check_range(const Report& report, const std::string& name, const std::vector<int32_t>& values,
                 int64_t lo, int64_t hi, const std::string& meaning) {
  for (size_t i = 0; i < values.size(); ++i) {
    if (values[i] < lo || values[i] > hi) {
      report.fail_row(name, static_cast<int64_t>(i),
                      "value " + std::to_string(values[i]) + " is out of range, expected " +
                          std::to_string(lo) + ".." + std::to_string(hi) + " (" + meaning + ")");
    }
  }
}

// Optional string dataset: rank 1, strings, `expected` rows.
void check_optional_strings(hid_t file, const Report& report, const std::string& name,
                            const std::string& reference, int64_t expected, const char* what) {
  if (!h5::exists(file, name)) return;
  h5::Dataset dataset = require(file, report, name, 1, h5::Kind::kString, what);
  check_length(report, name, h5::shape(dataset)[0], reference, expected, what);
}

}  // namespace

FeatureFile FeatureFile::open(const std::string& path, const ExpectedDims& expect) {
  FeatureFile f;
  f.path_ = path;
  f.file_ = h5::open_file(path);
  const hid_t file = f.file_.get();
  const Report report(f.path_);

  if (!h5::attribute_exists(file, "lica_schema")) {
    throw InputError(path +
                     ": file attribute lica_schema is missing, expected 1 (the schema "
                     "version of a lica feature file)");
  }
  const int64_t schema = h5::read_int_attribute(file, "lica_schema");
  if (schema != 1) {
    throw InputError(path + ": file attribute lica_schema: value " + std::to_string(schema) +
                     " is not supported, expected 1 (schema version)");
  }

  // Required datasets, ranks and types.
  f.video_features_ =
      require(file, report, "/videos/features", 3, h5::Kind::kFloat32, "frame features [V, F, Dv]");
  h5::Dataset num_frames = require(file, report, "/videos/num_frames", 1, h5::Kind::kInt32,
                                   "valid frames per video [V]");
  f.text_features_ =
      require(file, report, "/texts/features", 3, h5::Kind::kFloat32, "token features [T, L, Dt]");
  h5::Dataset num_tokens = require(file, report, "/texts/num_tokens", 1, h5::Kind::kInt32,
                                   "valid tokens per caption [T]");
  h5::Dataset text_video =
      require(file, report, "/texts/video", 1, h5::Kind::kInt32, "video of each caption [T]");
  f.video_half_ = h5::kind_of(h5::dataset_type(f.video_features_).get()) == h5::Kind::kFloat16;
  f.text_half_ = h5::kind_of(h5::dataset_type(f.text_features_).get()) == h5::Kind::kFloat16;

  // Shapes.
  const std::vector<int64_t> vdims = h5::shape(f.video_features_);
  const std::vector<int64_t> tdims = h5::shape(f.text_features_);
  if (*std::min_element(vdims.begin(), vdims.end()) < 1) {
    report.fail("/videos/features", "shape " + h5::shape_string(vdims) +
                                        " has an empty dimension, expected at least one video, "
                                        "frame and feature");
  }
  if (*std::min_element(tdims.begin(), tdims.end()) < 1) {
    report.fail("/texts/features", "shape " + h5::shape_string(tdims) +
                                       " has an empty dimension, expected at least one caption, "
                                       "token and feature");
  }
  const int64_t V = vdims[0], T = tdims[0];
  f.max_frames_ = vdims[1];
  f.video_dim_ = vdims[2];
  f.max_tokens_ = tdims[1];
  f.text_dim_ = tdims[2];
  check_length(report, "/videos/num_frames", h5::shape(num_frames)[0], "/videos/features", V,
               "videos");
  check_length(report, "/texts/num_tokens", h5::shape(num_tokens)[0], "/texts/features", T,
               "captions");
  check_length(report, "/texts/video", h5::shape(text_video)[0], "/texts/features", T, "captions");
  check_optional_strings(file, report, "/videos/ids", "/videos/features", V, "videos");
  check_optional_strings(file, report, "/texts/raw", "/texts/features", T, "captions");

  if (expect.video_dim != 0 && expect.video_dim != f.video_dim_) {
    report.fail("/videos/features", "frame feature size Dv = " + std::to_string(f.video_dim_) +
                                        " does not match the expected " +
                                        std::to_string(expect.video_dim) +
                                        " (the configured video feature dim)");
  }
  if (expect.text_dim != 0 && expect.text_dim != f.text_dim_) {
    report.fail("/texts/features", "token feature size Dt = " + std::to_string(f.text_dim_) +
                                       " does not match the expected " +
                                       std::to_string(expect.text_dim) +
                                       " (the configured text feature dim)");
  }

  // Values of the small arrays.
  f.num_frames_ = h5::read_int32(num_frames);
  f.num_tokens_ = h5::read_int32(num_tokens);
  f.text_video_ = h5::read_int32(text_video);
  check_range(report, "/videos/num_frames", f.num_frames_, 1, f.max_frames_,
              "valid frames per video");
  check_range(report, "/texts/num_tokens", f.num_tokens_, 1, f.max_tokens_,
              "valid tokens per caption");
  check_range(report, "/texts/video", f.text_video_, 0, V - 1, "a row of /videos");

  // Splits.
  if (h5::exists(file, "/splits")) {
    for (const std::string& name : h5::list_group(file, "/splits")) {
      const std::string prefix = "/splits/" + name;
      const std::string vname = prefix + "/videos", tname = prefix + "/texts";
      std::vector<int32_t> videos = h5::read_int32(
          require(file, report, vname, 1, h5::Kind::kInt32, "video rows of split " + name));
      std::vector<int32_t> texts = h5::read_int32(
          require(file, report, tname, 1, h5::Kind::kInt32, "caption rows of split " + name));
      check_range(report, vname, videos, 0, V - 1, "a row of /videos");
      check_range(report, tname, texts, 0, T - 1, "a row of /texts");
      if (videos.empty()) {
        report.fail(vname, "split " + name + " has no videos, expected at least one");
      }
      if (texts.empty()) {
        report.fail(tname, "split " + name + " has no captions, expected at least one");
      }
      // Position of each video in the split (-1: not in it), each row once.
      std::vector<int64_t> video_pos(static_cast<size_t>(V), -1);
      for (size_t i = 0; i < videos.size(); ++i) {
        int64_t& pos = video_pos[static_cast<size_t>(videos[i])];
        if (pos >= 0) {
          report.fail_row(vname, static_cast<int64_t>(i),
                          "value " + std::to_string(videos[i]) + " repeats row " +
                              std::to_string(pos) + ", expected each video once per split");
        }
        pos = static_cast<int64_t>(i);
      }
      std::vector<int64_t> text_pos(static_cast<size_t>(T), -1);
      std::vector<char> captioned(videos.size(), 0);
      for (size_t i = 0; i < texts.size(); ++i) {
        const int32_t t = texts[i];
        int64_t& pos = text_pos[static_cast<size_t>(t)];
        if (pos >= 0) {
          report.fail_row(tname, static_cast<int64_t>(i),
                          "value " + std::to_string(t) + " repeats row " + std::to_string(pos) +
                              ", expected each caption once per split");
        }
        pos = static_cast<int64_t>(i);
        const int32_t v = f.text_video_[static_cast<size_t>(t)];
        if (video_pos[static_cast<size_t>(v)] < 0) {
          report.fail_row(tname, static_cast<int64_t>(i),
                          "caption " + std::to_string(t) + " describes video " + std::to_string(v) +
                              " (/texts/video), which is not in " + vname +
                              ", expected every caption of a split to describe a video of it");
        }
        captioned[static_cast<size_t>(video_pos[static_cast<size_t>(v)])] = 1;
      }
      for (size_t i = 0; i < videos.size(); ++i) {
        if (!captioned[i]) {
          report.fail_row(vname, static_cast<int64_t>(i),
                          "video " + std::to_string(videos[i]) + " has no caption in " + tname +
                              ", expected at least one caption per video of a split");
        }
      }
      SplitIndex& split = f.splits_[name];
      split.videos.assign(videos.begin(), videos.end());
      split.texts.assign(texts.begin(), texts.end());
    }
  }
  return f;
}

const SplitIndex& FeatureFile::split(const std::string& name) const {
  auto it = splits_.find(name);
  if (it == splits_.end()) {
    std::string known;
    for (const auto& [n, s] : splits_) known += (known.empty() ? "" : ", ") + n;
    throw InputError(path_ + ": split " + name + " is missing (no group /splits/" + name +
                     "), the file has: " + (known.empty() ? "no splits" : known));
  }
  return it->second;
}

std::vector<std::string> FeatureFile::split_names() const {
  std::vector<std::string> names;
  for (const auto& [name, split] : splits_) names.push_back(name);
  return names;
}

torch::Tensor FeatureFile::read_videos(const std::vector<int64_t>& rows) const {
  return read_features(video_features_, "/videos/features", video_half_, num_videos(), max_frames_,
                       video_dim_, "frame", rows);
}

torch::Tensor FeatureFile::read_texts(const std::vector<int64_t>& rows) const {
  return read_features(text_features_, "/texts/features", text_half_, num_texts(), max_tokens_,
                       text_dim_, "token", rows);
}

torch::Tensor FeatureFile::read_features(const h5::Dataset& dataset, const char* name, bool half,
                                         int64_t total_rows, int64_t P, int64_t D,
                                         const char* position,
                                         const std::vector<int64_t>& rows) const {
  const int64_t n = static_cast<int64_t>(rows.size());
  for (int64_t r : rows) {
    if (r < 0 || r >= total_rows) {
      throw Error(path_ + ": dataset " + std::string(name) + ": row " + std::to_string(r) +
                  " requested, expected 0.." + std::to_string(total_rows - 1));
    }
  }
  // Visit the rows in ascending order; each run of adjacent (or repeated) rows is one read.
  std::vector<int64_t> order(static_cast<size_t>(n));
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](int64_t a, int64_t b) { return rows[a] < rows[b]; });
  const auto stored = half ? torch::kHalf : torch::kFloat;
  h5::Datatype mem_type = half ? h5::float16_type() : h5::Datatype(H5Tcopy(H5T_NATIVE_FLOAT));
  torch::Tensor out = torch::empty({n, P, D}, torch::kFloat);  // [n, P, D]
  for (int64_t i = 0; i < n;) {
    const int64_t first = rows[order[i]];
    int64_t j = i + 1;
    while (j < n && rows[order[j]] <= rows[order[j - 1]] + 1) ++j;
    const int64_t count = rows[order[j - 1]] - first + 1;
    torch::Tensor raw = torch::empty({count, P, D}, stored);  // [count, P, D]
    h5::read_rows(dataset, first, count, mem_type.get(), raw.data_ptr());
    torch::Tensor values = raw.to(torch::kFloat);
    torch::Tensor bad = torch::isfinite(values).logical_not();
    if (bad.any().item<bool>()) {
      torch::Tensor at = bad.nonzero()[0];  // [3]: row, position, feature
      const int64_t r = at[0].item<int64_t>(), p = at[1].item<int64_t>(), d = at[2].item<int64_t>();
      const float v = values[r][p][d].item<float>();
      throw InputError(path_ + ": dataset " + name + ", row " + std::to_string(first + r) +
                       ": value " +
                       (std::isnan(v) ? "nan"
                        : v > 0       ? "inf"
                                      : "-inf") +
                       " at " + position + " " + std::to_string(p) + ", feature " +
                       std::to_string(d) + " is not finite, expected finite features");
    }
    bool in_place = count == n;  // the whole request is rows first..first+n-1 in order
    for (int64_t k = 0; in_place && k < n; ++k) in_place = order[k] == k && rows[k] == first + k;
    if (in_place) return values;
    std::vector<int64_t> dst(order.begin() + i, order.begin() + j), src;
    for (int64_t k = i; k < j; ++k) src.push_back(rows[order[k]] - first);
    out.index_copy_(0, torch::tensor(dst), values.index_select(0, torch::tensor(src)));
    i = j;
  }
  return out;
}

}  // namespace lica::data
