// What lica_inspect reports about a feature file: a summary (sizes, storage, splits, captions
// per video, padding) and a full validation that lists every problem, not just the first: the
// rules of FeatureFile::open run with a ProblemLog, plus a scan of every feature row for
// non-finite values and for non-zero padding (docs/design.md §2: positions past num_frames/num_tokens
// are zero). The scan reads `block_rows` rows at a time, so memory stays bounded
// (about block_rows * P * D * 10 bytes) for files of any size.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "data/feature_file.h"
#include "data/h5.h"

namespace lica::data {

struct InspectOptions {
  ExpectedDims expect;            // Dv/Dt the file must have (0: any)
  int64_t block_rows = 1024;      // feature rows per read of the scan
  int64_t problems_per_rule = 20; // listed per rule; the rest are counted
  bool scan_values = true;        // false: the rules of open() only, no pass over the features
};

// One feature dataset as stored.
struct FeatureStorage {
  bool present = false;  // opened with a sound shape and type
  std::string dtype;     // "float16" or "float32"
  h5::Storage storage;
};

struct SplitCounts {
  int64_t videos = 0;
  int64_t texts = 0;
};

struct Inspection {
  std::string path;
  int64_t file_bytes = 0;
  int64_t schema = 0;                // attribute lica_schema, 0 when missing or not an integer
  int64_t videos = 0, texts = 0;     // V, T (0 when /videos or /texts features are unsound)
  int64_t frames = 0, tokens = 0;    // F, L
  int64_t video_dim = 0, text_dim = 0;  // Dv, Dt
  FeatureStorage video_features, text_features;
  std::map<std::string, SplitCounts> splits;
  // Captions per video: videos having each count (0 included); empty when /texts/video is not
  // loaded. min/median/max over the videos.
  std::map<int64_t, int64_t> captions_per_video;
  int64_t captions_min = 0, captions_max = 0;
  double captions_median = 0;  // the mean of the two middle ones for an even count
  double mean_frames = 0, mean_tokens = 0;  // mean valid frames (tokens) per row
  bool has_ids = false, has_raw = false;    // the optional /videos/ids, /texts/raw
  std::vector<std::string> other_datasets;  // datasets outside the schema (e.g. /videos/cluster)
  int64_t problem_count = 0;                // every problem found
  std::vector<std::string> problems;        // listed ones, then "... and N more of rule R"

  bool ok() const { return problem_count == 0; }
};

// Inspects the file. Throws lica::InputError only when it cannot be opened at all (missing,
// not HDF5, truncated); every other problem is listed in the result.
Inspection inspect_file(const std::string& path, const InspectOptions& options = {});

// The report lica_inspect prints: aligned "key  value" lines, then the problems.
std::string format_text(const Inspection& inspection);
// The same as one JSON object on one line.
std::string format_json(const Inspection& inspection);

}  // namespace lica::data
