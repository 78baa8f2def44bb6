// The run directory (DESIGN §1): resolved config, per-rank logs, metrics.jsonl.
#pragma once

#include <fstream>
#include <string>

#include "common/json_line.h"

namespace lica::trainer {

// Appends one JSON object per line to metrics.jsonl, flushed at once so a killed job loses
// nothing it logged.
class MetricsLog {
 public:
  explicit MetricsLog(const std::string& path);
  void write(const JsonLine& record);
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  std::ofstream out_;
};

// Creates `dir` if needed and refuses one that already holds a run's metrics (a new run
// never overwrites results: choose another run.dir or remove the old one).
void prepare_run_dir(const std::string& dir);

// Writes `text` to `path` through a temporary file and a rename, so a reader never sees half.
void write_file_atomically(const std::string& path, const std::string& text);

}  // namespace lica::trainer
