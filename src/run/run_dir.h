// The run directory (docs/design.md §1): resolved config, per-rank logs, metrics.jsonl.
#pragma once

#include <fstream>
#include <string>

#include "common/json_line.h"

namespace lica::run {

// Appends one JSON object per line to metrics.jsonl, flushed at once so a killed job loses
// nothing it logged.
class MetricsLog {
 public:
  explicit MetricsLog(const std::string& path);
  void write(const JsonLine& record);
  const std::string& path() const { return path_; }
  // Bytes in the file so far: a checkpoint records it to know which records it covers.
  int64_t bytes();

 private:
  std::string path_;
  std::ofstream out_;
};

// Creates `dir` if needed. A new run refuses one that already holds a run's metrics (it never
// overwrites results: choose another run.dir or remove the old one); a resumed run expects it.
void prepare_run_dir(const std::string& dir, bool resuming);

// Cuts metrics.jsonl at `dir` back to its first `bytes` bytes (the records a checkpoint
// covers), appending what follows to metrics.superseded.jsonl: after a resume the log has
// each step once, and nothing is lost.
void rewind_metrics(const std::string& dir, int64_t bytes);

}  // namespace lica::run
