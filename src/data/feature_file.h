// An HDF5 feature file (docs/design.md §2), validated on open.
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
// where there is one, the value and the rule; docs/data.md lists them with their tests.
// open() with a ProblemLog runs the same rules but records every broken one and goes on
// (lica_inspect); data/inspect.h adds the scan of every feature value.
//
// Threads: HDF5 serialises its calls with a global lock when built thread-safe
// (H5_HAVE_THREADSAFE, as Debian's libhdf5 is), so a loader thread may read while another
// thread reads too; with a non-thread-safe HDF5, use the library from one thread at a time.
// Feature rows of a contiguous dataset stored in the type read (float16 or float32, as
// lica_make_synthetic and tools/import_features.py write them) are read with pread(2) at the
// offset HDF5 reports, outside its lock: 2.5x faster than H5Dread's hyperslab of the same rows
// on the 2-core machine, and several reader threads then read at once (docs/data.md).
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "data/h5.h"
#include "data/problem_log.h"

namespace lica::data {

// Feature dimensions the caller requires; 0 accepts the file's.
struct ExpectedDims {
  int64_t video_dim = 0;
  int64_t text_dim = 0;
};

// The message of a non-finite feature value, the same from every reader:
// "<path>: dataset <dataset>, row <row>: value nan at <position> <p>, feature <d> is not finite,
// expected finite features".
std::string non_finite_message(const std::string& path, const std::string& dataset, int64_t row,
                               const std::string& position, int64_t p, int64_t d, float value);

// Rows of /videos and /texts that make up one split.
struct SplitIndex {
  std::vector<int64_t> videos;
  std::vector<int64_t> texts;
};

class FeatureFile {
 public:
  // Opens and validates every rule of docs/design.md §2 before returning; throws lica::InputError at
  // the first broken rule.
  //
  // With `problems` set, each broken rule is recorded there instead, and the checks go on
  // wherever what they need is still sound (a missing /videos/features skips the checks that
  // need V and F; an out-of-range /texts/video skips the caption checks of the splits). Only a
  // file that cannot be opened at all (missing, not HDF5, truncated) still throws. The file
  // returned then holds what could be loaded, for reports: a feature dataset that is missing
  // or malformed has 0 rows and reading it throws; arrays that failed to load are empty.
  static FeatureFile open(const std::string& path, const ExpectedDims& expect = {},
                          ProblemLog* problems = nullptr);

  FeatureFile(FeatureFile&&) = default;
  FeatureFile& operator=(FeatureFile&&) = default;
  FeatureFile(const FeatureFile&) = delete;
  FeatureFile& operator=(const FeatureFile&) = delete;

  const std::string& path() const { return path_; }
  int64_t num_videos() const { return videos_.rows; }  // V
  int64_t num_texts() const { return texts_.rows; }    // T
  int64_t max_frames() const { return videos_.positions; }  // F
  int64_t max_tokens() const { return texts_.positions; }   // L
  int64_t video_dim() const { return videos_.dim; }         // Dv
  int64_t text_dim() const { return texts_.dim; }           // Dt
  const std::vector<int32_t>& num_frames() const { return num_frames_; }
  const std::vector<int32_t>& num_tokens() const { return num_tokens_; }
  const std::vector<int32_t>& text_video() const { return text_video_; }  // /texts/video

  bool has_split(const std::string& name) const { return splits_.count(name) > 0; }
  // InputError naming the file and the split if absent.
  const SplitIndex& split(const std::string& name) const;
  std::vector<std::string> split_names() const;  // sorted

  // Rows in any order, repeats allowed (adjacent rows coalesced into one hyperslab read each),
  // converted to float32, zero past the row's num_frames (num_tokens), and checked finite at
  // the valid positions: a NaN/Inf throws naming the file, dataset, row, position and feature.
  // A row outside 0..V-1 (0..T-1) is a caller bug: lica::Error.
  torch::Tensor read_videos(const std::vector<int64_t>& rows) const;  // [n, F, Dv] float32
  torch::Tensor read_texts(const std::vector<int64_t>& rows) const;   // [n, L, Dt] float32

  // Rows [first, first + count) as stored, converted to float32 but NOT checked finite: for
  // scans that report every bad value themselves (data/inspect.h). A range outside the
  // dataset is a caller bug: lica::Error.
  torch::Tensor read_video_block(int64_t first, int64_t count) const;  // [count, F, Dv]
  torch::Tensor read_text_block(int64_t first, int64_t count) const;   // [count, L, Dt]

  // One [rows, positions, dim] feature dataset: /videos/features [V, F, Dv] or
  // /texts/features [T, L, Dt]. Public only so that the helpers of open() can build it.
  struct Features {
    h5::Dataset dataset;  // invalid when missing or malformed (open() with a ProblemLog only)
    bool half = false;    // stored as float16 (else float32)
    int64_t rows = 0, positions = 0, dim = 0;
    int64_t direct_offset = -1;  // where the rows start in the file, or -1: read by H5Dread
  };

  // Whether read_videos/read_texts read some feature dataset with pread(2) (see above), and
  // turning that off (every read through H5Dread, as for chunked or compressed datasets).
  bool reads_directly() const;
  void set_direct_reads(bool on);

 private:
  FeatureFile() = default;
  struct CloseFile {
    void operator()(const int* fd) const;
  };
  // Finds the feature datasets that can be read with pread and opens the file for it.
  void open_direct_reads();
  // Rows [first, first + count) of `features` in the stored type into `out`; `name` for messages.
  void read_raw(const Features& features, const char* name, int64_t first, int64_t count,
                void* out) const;
  // Runs {first, count} of rows (ascending, disjoint) in the stored type into `out`, one read.
  void read_runs(const Features& features, const char* name,
                 const std::vector<std::pair<int64_t, int64_t>>& runs, void* out) const;
  // Rows [first, first + count) of `features` in float32, as stored (padding included).
  torch::Tensor read_block(const Features& features, const char* name, int64_t first,
                           int64_t count) const;
  // Rows in any order of `features` (src/data/feature_rows.h), zero past counts[row], checked
  // finite at the valid positions; `position` names the middle axis.
  torch::Tensor read_features(const Features& features, const char* name, const char* position,
                              const std::vector<int64_t>& rows,
                              const std::vector<int32_t>& counts) const;

  std::string path_;
  h5::File file_;
  std::unique_ptr<int, CloseFile> direct_file_;  // the file opened for pread, when any dataset is
  bool direct_reads_ = true;
  Features videos_;
  Features texts_;
  std::vector<int32_t> num_frames_;
  std::vector<int32_t> num_tokens_;
  std::vector<int32_t> text_video_;
  std::map<std::string, SplitIndex> splits_;
};

}  // namespace lica::data
