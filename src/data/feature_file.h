// An HDF5 feature file (DESIGN §2), validated on open.
//
//   /videos/features   float16|float32 [V, F, Dv]   zero past num_frames
//   /videos/num_frames int32 [V]                    1..F
//   /videos/ids        string [V]                   optional
//   /texts/features    float16|float32 [T, L, Dt]   zero past num_tokens
//   /texts/num_tokens  int32 [T]                    1..L, the last valid token is EOT
//   /texts/video       int32 [T]                    0..V-1
//   /texts/raw         string [T]                   optional
//   /splits/<name>/videos, /splits/<name>/texts  int32   (optional group /splits)
//   attribute lica_schema = 1
//
// Everything but the feature values is checked by open(); feature values are checked finite
// in the rows read. Every error is a lica::InputError naming the file, the dataset, the row
// where there is one, the value and the rule.
//
// Threads: HDF5 serialises its calls with a global lock when built thread-safe
// (H5_HAVE_THREADSAFE, as Debian's libhdf5 is), so a loader thread may read while another
// thread reads too; with a non-thread-safe HDF5, use the library from one thread at a time.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "data/h5.h"

namespace lica::data {

// Feature dimensions the caller requires; 0 accepts the file's.
struct ExpectedDims {
  int64_t video_dim = 0;
  int64_t text_dim = 0;
};

// Rows of /videos and /texts that make up one split.
struct SplitIndex {
  std::vector<int64_t> videos;
  std::vector<int64_t> texts;
};

class FeatureFile {
 public:
  // Opens and validates every rule of DESIGN §2 before returning; throws lica::InputError.
  static FeatureFile open(const std::string& path, const ExpectedDims& expect = {});

  FeatureFile(FeatureFile&&) = default;
  FeatureFile& operator=(FeatureFile&&) = default;
  FeatureFile(const FeatureFile&) = delete;
  FeatureFile& operator=(const FeatureFile&) = delete;

  const std::string& path() const { return path_; }
  int64_t num_videos() const { return static_cast<int64_t>(num_frames_.size()); }
  int64_t num_texts() const { return static_cast<int64_t>(num_tokens_.size()); }
  int64_t max_frames() const { return max_frames_; }  // F
  int64_t max_tokens() const { return max_tokens_; }  // L
  int64_t video_dim() const { return video_dim_; }    // Dv
  int64_t text_dim() const { return text_dim_; }      // Dt
  const std::vector<int32_t>& num_frames() const { return num_frames_; }
  const std::vector<int32_t>& num_tokens() const { return num_tokens_; }
  const std::vector<int32_t>& text_video() const { return text_video_; }  // /texts/video

  bool has_split(const std::string& name) const { return splits_.count(name) > 0; }
  // InputError naming the file and the split if absent.
  const SplitIndex& split(const std::string& name) const;
  std::vector<std::string> split_names() const;  // sorted

  // Rows in any order, repeats allowed (adjacent rows coalesced into one hyperslab read each),
  // converted to float32 and checked finite: a NaN/Inf throws naming the file, dataset and row.
  // A row outside 0..V-1 (0..T-1) is a caller bug: lica::Error.
  torch::Tensor read_videos(const std::vector<int64_t>& rows) const;  // [n, F, Dv] float32
  torch::Tensor read_texts(const std::vector<int64_t>& rows) const;   // [n, L, Dt] float32

 private:
  FeatureFile() = default;
  // Rows of a [rows, P, D] feature dataset; `position` names the middle axis in messages.
  torch::Tensor read_features(const h5::Dataset& dataset, const char* name, bool half,
                              int64_t total_rows, int64_t P, int64_t D, const char* position,
                              const std::vector<int64_t>& rows) const;

  std::string path_;
  h5::File file_;
  h5::Dataset video_features_;
  h5::Dataset text_features_;
  bool video_half_ = false;  // stored as float16 (else float32)
  bool text_half_ = false;
  int64_t max_frames_ = 0, max_tokens_ = 0, video_dim_ = 0, text_dim_ = 0;
  std::vector<int32_t> num_frames_;
  std::vector<int32_t> num_tokens_;
  std::vector<int32_t> text_video_;
  std::map<std::string, SplitIndex> splits_;
};

}  // namespace lica::data
