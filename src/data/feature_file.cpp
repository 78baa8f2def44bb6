#include "data/feature_file.h"

#include "data/feature_rows.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <numeric>
#include <optional>

#include "common/error.h"

namespace lica::data {
namespace {

// Where a broken rule goes: thrown at once (no log: the training path) or recorded in the log
// while the checks go on (lica_inspect). Messages read "<path>: dataset <name>[, row <r>]:
// <what>"; in the log, a dataset's own problems group under its name and row problems under
// "<name> (<rule>)", so a rule broken by every row lists a few and counts the rest.
class Rules {
 public:
  Rules(const std::string& path, ProblemLog* log) : path_(path), log_(log) {}

  void file(const std::string& rule, const std::string& what) const {
    broken(rule, path_ + ": " + what);
  }
  void dataset(const std::string& name, const std::string& what) const {
    broken(name, path_ + ": dataset " + name + ": " + what);
  }
  void row(const std::string& name, const char* rule, int64_t row, const std::string& what) const {
    const std::string key = name + " (" + rule + ")";
    if (log_ && !log_->listing(key)) {
      log_->count(key);  // not listed: skip building the message
      return;
    }
    broken(key, path_ + ": dataset " + name + ", row " + std::to_string(row) + ": " + what);
  }
  // Runs `step`; an InputError from it (say, a read of a damaged file) is recorded when
  // collecting and passed on otherwise. Returns whether `step` completed.
  template <typename Step>
  bool guard(const std::string& rule, Step&& step) const {
    if (!log_) {
      step();
      return true;
    }
    try {
      step();
      return true;
    } catch (const InputError& e) {
      log_->add(rule, e.what());
      return false;
    }
  }

 private:
  void broken(const std::string& rule, const std::string& message) const {
    if (!log_) throw InputError(message);
    log_->add(rule, message);
  }

  const std::string& path_;
  ProblemLog* log_;
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

// A filter this library cannot decode would only fail at the first read, mid-training; h5py's
// "lzf" and plugins such as blosc are the usual ones.
bool filters_available(const Rules& rules, const std::string& name, const h5::Dataset& dataset) {
  for (const h5::Filter& filter : h5::storage(dataset).filters) {
    if (!filter.available) {
      rules.dataset(name, "compression filter '" + filter.name + "' (HDF5 filter id " +
                              std::to_string(filter.id) +
                              ") is not available in this HDF5 library, expected no filter or a "
                              "built-in one such as deflate (gzip) or shuffle; rewrite the file, "
                              "e.g. h5repack -f GZIP=4 IN OUT");
      return false;
    }
  }
  return true;
}

// Opens a required dataset and checks its rank, element kind and filters. `features` accepts
// float16 and float32; otherwise `kind` is the one accepted. Invalid after a broken rule.
h5::Dataset require(hid_t file, const Rules& rules, const std::string& name, size_t rank,
                    h5::Kind kind, const std::string& meaning) {
  if (!h5::exists(file, name)) {
    rules.dataset(name, "is missing, expected " + kind_names(kind) + " (" + meaning + ")");
    return {};
  }
  h5::Dataset dataset;
  if (!rules.guard(name, [&] { dataset = h5::open_dataset(file, name); })) return {};
  std::vector<int64_t> dims = h5::shape(dataset);
  if (dims.size() != rank) {
    rules.dataset(name, "rank " + std::to_string(dims.size()) + " (shape " +
                            h5::shape_string(dims) + ") is wrong, expected rank " +
                            std::to_string(rank) + " (" + meaning + ")");
    return {};
  }
  h5::Datatype type = h5::dataset_type(dataset);
  h5::Kind found = h5::kind_of(type.get());
  bool ok = kind == h5::Kind::kFloat32 ? found == h5::Kind::kFloat32 || found == h5::Kind::kFloat16
                                       : found == kind;
  if (!ok) {
    rules.dataset(name, "type " + h5::type_name(type.get()) + " is not supported, expected " +
                            kind_names(kind) + " (" + meaning + ")");
    return {};
  }
  if (!filters_available(rules, name, dataset)) return {};
  return dataset;
}

bool check_length(const Rules& rules, const std::string& name, int64_t length,
                  const std::string& reference, int64_t expected, const char* what) {
  if (length == expected) return true;
  rules.dataset(name, "length " + std::to_string(length) + " does not match " + reference + " (" +
                          std::to_string(expected) + " " + what + ")");
  return false;
}

// Whether every value is in lo..hi; each one outside breaks the rule.
bool check_range(const Rules& rules, const std::string& name, const std::vector<int32_t>& values,
                 int64_t lo, int64_t hi, const std::string& meaning) {
  bool ok = true;
  for (size_t i = 0; i < values.size(); ++i) {
    if (values[i] < lo || values[i] > hi) {
      rules.row(name, "value out of range", static_cast<int64_t>(i),
                "value " + std::to_string(values[i]) + " is out of range, expected " +
                    std::to_string(lo) + ".." + std::to_string(hi) + " (" + meaning + ")");
      ok = false;
    }
  }
  return ok;
}

void check_schema(hid_t file, const Rules& rules) {
  if (!h5::attribute_exists(file, "lica_schema")) {
    rules.file("lica_schema",
               "file attribute lica_schema is missing, expected 1 (the schema version of a lica "
               "feature file)");
    return;
  }
  int64_t schema = 0;
  if (!rules.guard("lica_schema", [&] { schema = h5::read_int_attribute(file, "lica_schema"); })) {
    return;
  }
  if (schema != 1) {
    rules.file("lica_schema", "file attribute lica_schema: value " + std::to_string(schema) +
                                  " is not supported, expected 1 (schema version)");
  }
}

// What the messages about one feature dataset say.
struct FeatureNames {
  const char* name;        // "/videos/features"
  const char* meaning;     // "frame features [V, F, Dv]"
  const char* items;       // "video, frame and feature"
  const char* dim_words;   // "frame feature size Dv"
  const char* dim_config;  // "the configured video feature dim"
};
const FeatureNames kVideoFeatures{"/videos/features", "frame features [V, F, Dv]",
                                  "video, frame and feature", "frame feature size Dv",
                                  "the configured video feature dim"};
const FeatureNames kTextFeatures{"/texts/features", "token features [T, L, Dt]",
                                 "caption, token and feature", "token feature size Dt",
                                 "the configured text feature dim"};

FeatureFile::Features load_features(hid_t file, const Rules& rules, const FeatureNames& names,
                                    int64_t expected_dim) {
  FeatureFile::Features features;
  h5::Dataset dataset = require(file, rules, names.name, 3, h5::Kind::kFloat32, names.meaning);
  if (!dataset.valid()) return features;
  const std::vector<int64_t> dims = h5::shape(dataset);
  if (*std::min_element(dims.begin(), dims.end()) < 1) {
    rules.dataset(names.name, "shape " + h5::shape_string(dims) +
                                  " has an empty dimension, expected at least one " + names.items);
    return features;
  }
  if (expected_dim != 0 && expected_dim != dims[2]) {
    // The file itself is sound: when collecting, go on with its own size.
    rules.dataset(names.name, std::string(names.dim_words) + " = " + std::to_string(dims[2]) +
                                  " does not match the expected " + std::to_string(expected_dim) +
                                  " (" + names.dim_config + ")");
  }
  features.half = h5::kind_of(h5::dataset_type(dataset).get()) == h5::Kind::kFloat16;
  features.rows = dims[0];
  features.positions = dims[1];
  features.dim = dims[2];
  features.dataset = std::move(dataset);
  return features;
}

// A required 1-D int32 array with one value per row of `features` (`reference`). Its values
// are loaded only when its length can be checked against a sound feature dataset.
std::optional<std::vector<int32_t>> load_per_row(hid_t file, const Rules& rules,
                                                 const std::string& name,
                                                 const std::string& meaning,
                                                 const FeatureFile::Features& features,
                                                 const char* reference, const char* rows_word) {
  h5::Dataset dataset = require(file, rules, name, 1, h5::Kind::kInt32, meaning);
  if (!dataset.valid() || !features.dataset.valid()) return std::nullopt;
  if (!check_length(rules, name, h5::shape(dataset)[0], reference, features.rows, rows_word)) {
    return std::nullopt;
  }
  std::vector<int32_t> values;
  if (!rules.guard(name, [&] { values = h5::read_int32(dataset); })) return std::nullopt;
  return values;
}

// Optional string dataset: rank 1, strings, one per row of `features`.
void check_optional_strings(hid_t file, const Rules& rules, const std::string& name,
                            const FeatureFile::Features& features, const char* reference,
                            const char* rows_word) {
  if (!h5::exists(file, name)) return;
  h5::Dataset dataset = require(file, rules, name, 1, h5::Kind::kString, rows_word);
  if (dataset.valid() && features.dataset.valid()) {
    check_length(rules, name, h5::shape(dataset)[0], reference, features.rows, rows_word);
  }
}

// Position of each row in a split (-1: not in it); a row listed twice breaks the rule.
// `rows` must be in 0..total-1.
std::vector<int64_t> positions_in_split(const Rules& rules, const std::string& name,
                                        const std::vector<int32_t>& rows, int64_t total,
                                        const char* item) {
  std::vector<int64_t> position(static_cast<size_t>(total), -1);
  for (size_t i = 0; i < rows.size(); ++i) {
    int64_t& pos = position[static_cast<size_t>(rows[i])];
    if (pos >= 0) {
      rules.row(name, "repeated row", static_cast<int64_t>(i),
                "value " + std::to_string(rows[i]) + " repeats row " + std::to_string(pos) +
                    ", expected each " + item + " once per split");
      continue;
    }
    pos = static_cast<int64_t>(i);
  }
  return position;
}

// Each caption of a split describes a video of the split, and each video has a caption in it.
// `video_position`: row of each video in the split (-1: not in it).
void check_split_captions(const Rules& rules, const std::string& vname, const std::string& tname,
                          const std::vector<int32_t>& videos, const std::vector<int32_t>& texts,
                          const std::vector<int64_t>& video_position,
                          const std::vector<int32_t>& text_video) {
  std::vector<char> captioned(videos.size(), 0);
  for (size_t i = 0; i < texts.size(); ++i) {
    const int32_t t = texts[i];
    const int32_t v = text_video[static_cast<size_t>(t)];
    const int64_t pos = video_position[static_cast<size_t>(v)];
    if (pos < 0) {
      rules.row(tname, "caption of a video outside the split", static_cast<int64_t>(i),
                "caption " + std::to_string(t) + " describes video " + std::to_string(v) +
                    " (/texts/video), which is not in " + vname +
                    ", expected every caption of a split to describe a video of it");
      continue;
    }
    captioned[static_cast<size_t>(pos)] = 1;
  }
  for (size_t i = 0; i < videos.size(); ++i) {
    if (!captioned[i]) {
      rules.row(vname, "video without a caption", static_cast<int64_t>(i),
                "video " + std::to_string(videos[i]) + " has no caption in " + tname +
                    ", expected at least one caption per video of a split");
    }
  }
}

// Checks split `name` and returns its rows. V or T is 0 when that feature dataset is unsound,
// and `text_video` null when /texts/video is not loaded whole and in range: the checks that
// need them are skipped.
std::optional<SplitIndex> load_split(hid_t file, const Rules& rules, const std::string& name,
                                     int64_t V, int64_t T, const std::vector<int32_t>* text_video) {
  const std::string prefix = "/splits/" + name;
  const std::string vname = prefix + "/videos", tname = prefix + "/texts";
  if (!h5::is_group(file, prefix)) {
    rules.file(prefix, prefix + " is not a group, expected a split: a group holding datasets "
                                "videos and texts");
    return std::nullopt;
  }
  h5::Dataset vset = require(file, rules, vname, 1, h5::Kind::kInt32, "video rows of split " + name);
  h5::Dataset tset =
      require(file, rules, tname, 1, h5::Kind::kInt32, "caption rows of split " + name);
  if (!vset.valid() || !tset.valid()) return std::nullopt;
  std::vector<int32_t> videos, texts;
  if (!rules.guard(prefix, [&] {
        videos = h5::read_int32(vset);
        texts = h5::read_int32(tset);
      })) {
    return std::nullopt;
  }
  const bool videos_in_range = V > 0 && check_range(rules, vname, videos, 0, V - 1, "a row of /videos");
  const bool texts_in_range = T > 0 && check_range(rules, tname, texts, 0, T - 1, "a row of /texts");
  if (videos.empty()) {
    rules.dataset(vname, "split " + name + " has no videos, expected at least one");
  }
  if (texts.empty()) {
    rules.dataset(tname, "split " + name + " has no captions, expected at least one");
  }
  if (videos_in_range) {
    std::vector<int64_t> video_position = positions_in_split(rules, vname, videos, V, "video");
    if (texts_in_range) {
      positions_in_split(rules, tname, texts, T, "caption");
      if (text_video) {
        check_split_captions(rules, vname, tname, videos, texts, video_position, *text_video);
      }
    }
  }
  SplitIndex split;
  split.videos.assign(videos.begin(), videos.end());
  split.texts.assign(texts.begin(), texts.end());
  return split;
}

}  // namespace

std::string non_finite_message(const std::string& path, const std::string& dataset, int64_t row,
                               const std::string& position, int64_t p, int64_t d, float value) {
  const char* text = std::isnan(value) ? "nan" : value > 0 ? "inf" : "-inf";
  return path + ": dataset " + dataset + ", row " + std::to_string(row) + ": value " + text +
         " at " + position + " " + std::to_string(p) + ", feature " + std::to_string(d) +
         " is not finite, expected finite features";
}

FeatureFile FeatureFile::open(const std::string& path, const ExpectedDims& expect,
                              ProblemLog* problems) {
  FeatureFile f;
  f.path_ = path;
  f.file_ = h5::open_file(path);  // nothing can be checked without it: thrown even when collecting
  const hid_t file = f.file_.get();
  const Rules rules(f.path_, problems);

  check_schema(file, rules);
  f.videos_ = load_features(file, rules, kVideoFeatures, expect.video_dim);
  f.texts_ = load_features(file, rules, kTextFeatures, expect.text_dim);
  f.open_direct_reads();

  if (auto num_frames = load_per_row(file, rules, "/videos/num_frames", "valid frames per video [V]",
                                     f.videos_, "/videos/features", "videos")) {
    check_range(rules, "/videos/num_frames", *num_frames, 1, f.videos_.positions,
                "valid frames per video");
    f.num_frames_ = std::move(*num_frames);
  }
  if (auto num_tokens = load_per_row(file, rules, "/texts/num_tokens",
                                     "valid tokens per caption [T]", f.texts_, "/texts/features",
                                     "captions")) {
    check_range(rules, "/texts/num_tokens", *num_tokens, 1, f.texts_.positions,
                "valid tokens per caption");
    f.num_tokens_ = std::move(*num_tokens);
  }
  bool text_video_sound = false;  // loaded whole and in range: the split checks may index by it
  if (auto text_video = load_per_row(file, rules, "/texts/video", "video of each caption [T]",
                                     f.texts_, "/texts/features", "captions")) {
    text_video_sound = f.videos_.dataset.valid() &&
                       check_range(rules, "/texts/video", *text_video, 0, f.videos_.rows - 1,
                                   "a row of /videos");
    f.text_video_ = std::move(*text_video);
  }
  check_optional_strings(file, rules, "/videos/ids", f.videos_, "/videos/features", "videos");
  check_optional_strings(file, rules, "/texts/raw", f.texts_, "/texts/features", "captions");

  if (h5::exists(file, "/splits") && !h5::is_group(file, "/splits")) {
    rules.file("/splits", "/splits is not a group, expected a group holding one group per split "
                          "(/splits/<name>/videos, /splits/<name>/texts)");
  } else if (h5::exists(file, "/splits")) {
    std::vector<std::string> names;
    rules.guard("/splits", [&] { names = h5::list_group(file, "/splits"); });
    for (const std::string& name : names) {
      if (auto split = load_split(file, rules, name, f.videos_.rows, f.texts_.rows,
                                  text_video_sound ? &f.text_video_ : nullptr)) {
        f.splits_[name] = std::move(*split);
      }
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
  return read_features(videos_, "/videos/features", "frame", rows, num_frames_);
}

torch::Tensor FeatureFile::read_texts(const std::vector<int64_t>& rows) const {
  return read_features(texts_, "/texts/features", "token", rows, num_tokens_);
}

torch::Tensor FeatureFile::read_video_block(int64_t first, int64_t count) const {
  return read_block(videos_, "/videos/features", first, count);
}

torch::Tensor FeatureFile::read_text_block(int64_t first, int64_t count) const {
  return read_block(texts_, "/texts/features", first, count);
}

void FeatureFile::read_raw(const Features& features, const char* name, int64_t first,
                           int64_t count, void* out) const {
  if (!features.dataset.valid()) {
    throw InputError(path_ + ": dataset " + name +
                     " cannot be read: it is missing or malformed (reported when the file was "
                     "opened)");
  }
  if (first < 0 || count < 0 || first + count > features.rows) {
    throw Error(path_ + ": dataset " + std::string(name) + ": rows " + std::to_string(first) +
                ".." + std::to_string(first + count - 1) + " requested, expected 0.." +
                std::to_string(features.rows - 1));
  }
  h5::Datatype mem_type =
      features.half ? h5::float16_type() : h5::Datatype(H5Tcopy(H5T_NATIVE_FLOAT));
  h5::read_rows(features.dataset, first, count, mem_type.get(), out);
}

void FeatureFile::CloseFile::operator()(const int* fd) const {
  ::close(*fd);
  delete fd;
}

void FeatureFile::open_direct_reads() {
  for (Features* features : {&videos_, &texts_}) {
    if (!features->dataset.valid()) continue;
    h5::Datatype stored =
        features->half ? h5::float16_type() : h5::Datatype(H5Tcopy(H5T_NATIVE_FLOAT));
    features->direct_offset = h5::direct_offset(features->dataset, stored.get());
  }
  if (videos_.direct_offset < 0 && texts_.direct_offset < 0) return;
  const int fd = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {  // HDF5 has it open: read through HDF5 then
    videos_.direct_offset = texts_.direct_offset = -1;
    return;
  }
  direct_file_.reset(new int(fd));
}

bool FeatureFile::reads_directly() const {
  return direct_reads_ && direct_file_ != nullptr;
}

void FeatureFile::set_direct_reads(bool on) { direct_reads_ = on; }

void FeatureFile::read_runs(const Features& features, const char* name,
                            const std::vector<std::pair<int64_t, int64_t>>& runs, void* out) const {
  if (!features.dataset.valid()) {
    throw InputError(path_ + ": dataset " + name +
                     " cannot be read: it is missing or malformed (reported when the file was "
                     "opened)");
  }
  if (direct_reads_ && features.direct_offset >= 0 && direct_file_) {
    // The runs, one pread each, at the rows' place in the contiguous dataset.
    const int64_t row_bytes = features.positions * features.dim * (features.half ? 2 : 4);
    char* to = static_cast<char*>(out);
    for (const auto& [first, count] : runs) {
      const int64_t bytes = count * row_bytes;
      const int64_t at = features.direct_offset + first * row_bytes;
      for (int64_t done = 0; done < bytes;) {
        const ssize_t n = ::pread(*direct_file_, to + done, static_cast<size_t>(bytes - done),
                                  static_cast<off_t>(at + done));
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
          throw InputError(path_ + ": dataset " + name + ": rows " + std::to_string(first) +
                           ".." + std::to_string(first + count - 1) + " could not be read (" +
                           (n < 0 ? std::strerror(errno) : "the file ends before them") + ")");
        }
        done += n;
      }
      to += bytes;
    }
    return;
  }
  h5::Datatype mem_type =
      features.half ? h5::float16_type() : h5::Datatype(H5Tcopy(H5T_NATIVE_FLOAT));
  h5::read_row_runs(features.dataset, runs, mem_type.get(), out);
}

torch::Tensor FeatureFile::read_block(const Features& features, const char* name, int64_t first,
                                      int64_t count) const {
  torch::Tensor raw = torch::empty({std::max<int64_t>(count, 0), features.positions, features.dim},
                                   features.half ? torch::kHalf : torch::kFloat);
  read_raw(features, name, first, count, raw.data_ptr());
  return raw.to(torch::kFloat);  // [count, P, D]; no copy when stored float32
}

torch::Tensor FeatureFile::read_features(const Features& features, const char* name,
                                         const char* position, const std::vector<int64_t>& rows,
                                         const std::vector<int32_t>& counts) const {
  const auto n = static_cast<int64_t>(rows.size());
  for (int64_t r : rows) {
    if (r < 0 || r >= features.rows || r >= static_cast<int64_t>(counts.size())) {
      throw Error(path_ + ": dataset " + std::string(name) + ": row " + std::to_string(r) +
                  " requested, expected 0.." + std::to_string(features.rows - 1));
    }
  }
  // The distinct rows in file order, each run of adjacent rows one hyperslab read, into one
  // buffer in the stored type; source[i] is request i's place in it.
  std::vector<int64_t> unique(rows);
  std::sort(unique.begin(), unique.end());
  unique.erase(std::unique(unique.begin(), unique.end()), unique.end());
  std::vector<int64_t> source(static_cast<size_t>(n));
  std::vector<int32_t> valid(static_cast<size_t>(n));
  for (size_t i = 0; i < rows.size(); ++i) {
    source[i] = std::lower_bound(unique.begin(), unique.end(), rows[i]) - unique.begin();
    valid[i] = counts[static_cast<size_t>(rows[i])];
  }
  std::vector<std::pair<int64_t, int64_t>> runs;  // {first row, count}
  for (int64_t r : unique) {
    if (!runs.empty() && runs.back().first + runs.back().second == r) {
      ++runs.back().second;
    } else {
      runs.emplace_back(r, 1);
    }
  }
  const int64_t row_bytes = features.positions * features.dim * (features.half ? 2 : 4);
  // Reused by the thread: a fresh 10 MB buffer per batch costs as much in page faults as
  // the read itself.
  thread_local std::vector<char> stored;
  stored.resize(unique.size() * static_cast<size_t>(row_bytes));
  read_runs(features, name, runs, stored.data());
  torch::Tensor out =
      torch::empty({n, features.positions, features.dim}, torch::kFloat);  // [n, P, D]
  const auto bad = convert_rows(stored.data(), features.half, features.positions, features.dim,
                                source, valid, out.data_ptr<float>());
  if (bad) {
    throw InputError(non_finite_message(path_, name, rows[static_cast<size_t>(bad->row)], position,
                                        bad->position, bad->feature, bad->value));
  }
  return out;
}

}  // namespace lica::data
