#include "trainer/run_dir.h"

#include <filesystem>

#include "common/error.h"

namespace lica::trainer {

namespace fs = std::filesystem;

MetricsLog::MetricsLog(const std::string& path) : path_(path), out_(path, std::ios::app) {
  if (!out_) throw Error("cannot open " + path + " for appending");
}

void MetricsLog::write(const JsonLine& record) {
  out_ << record.str() << '\n';
  out_.flush();
  if (!out_) throw Error("cannot write to " + path_);
}

void prepare_run_dir(const std::string& dir) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) throw InputError("run.dir: cannot create '" + dir + "': " + ec.message());
  if (fs::exists(fs::path(dir) / "metrics.jsonl")) {
    throw InputError("run.dir: '" + dir +
                     "' already holds a run (metrics.jsonl); choose another run.dir "
                     "(--set run.dir=...) or remove it");
  }
}

void write_file_atomically(const std::string& path, const std::string& text) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << text;
    out.flush();
    if (!out) throw Error("cannot write " + tmp);
  }
  std::error_code ec;
  fs::rename(tmp, path, ec);
  if (ec) throw Error("cannot rename " + tmp + " to " + path + ": " + ec.message());
}

}  // namespace lica::trainer
