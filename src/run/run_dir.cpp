#include "run/run_dir.h"

#include <filesystem>

#include "common/error.h"

namespace lica::run {

namespace fs = std::filesystem;

MetricsLog::MetricsLog(const std::string& path) : path_(path), out_(path, std::ios::app) {
  if (!out_) throw Error("cannot open " + path + " for appending");
}

void MetricsLog::write(const JsonLine& record) {
  out_ << record.str() << '\n';
  out_.flush();
  if (!out_) throw Error("cannot write to " + path_);
}

int64_t MetricsLog::bytes() {
  out_.flush();
  return static_cast<int64_t>(out_.tellp());
}

void prepare_run_dir(const std::string& dir, bool resuming) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) throw InputError("run.dir: cannot create '" + dir + "': " + ec.message());
  if (!resuming && fs::exists(fs::path(dir) / "metrics.jsonl")) {
    throw InputError("run.dir: '" + dir +
                     "' already holds a run (metrics.jsonl); continue it with --resume latest, "
                     "choose another run.dir (--set run.dir=...) or remove it");
  }
}

void rewind_metrics(const std::string& dir, int64_t bytes) {
  const fs::path path = fs::path(dir) / "metrics.jsonl";
  std::error_code ec;
  const auto size = static_cast<int64_t>(fs::file_size(path, ec));
  if (ec) {
    if (bytes > 0) throw InputError(path.string() + ": missing, but the checkpoint covers " +
                                    std::to_string(bytes) + " bytes of it");
    return;
  }
  if (size < bytes) {
    throw InputError(path.string() + ": " + std::to_string(size) + " bytes, shorter than the " +
                     std::to_string(bytes) + " the checkpoint covers (was it edited?)");
  }
  if (size == bytes) return;
  std::ifstream in(path, std::ios::binary);
  in.seekg(bytes);
  std::ofstream aside(fs::path(dir) / "metrics.superseded.jsonl", std::ios::app | std::ios::binary);
  aside << in.rdbuf();
  aside.flush();
  if (!aside) throw Error("cannot write " + (fs::path(dir) / "metrics.superseded.jsonl").string());
  fs::resize_file(path, static_cast<uintmax_t>(bytes), ec);
  if (ec) throw Error("cannot truncate " + path.string() + ": " + ec.message());
}

}  // namespace lica::run
