#include "common/logging.h"

#include <glog/logging.h>

namespace lica {

void init_logging(const char* argv0) {
  FLAGS_logtostderr = false;
  FLAGS_alsologtostderr = true;
  FLAGS_colorlogtostderr = false;
  FLAGS_logbufsecs = 0;  // a killed job keeps its last lines
  FLAGS_timestamp_in_logfile_name = false;
  google::InitGoogleLogging(argv0);
  // No files until the run directory is known (log_to_file).
  for (auto severity : {google::GLOG_INFO, google::GLOG_WARNING, google::GLOG_ERROR,
                        google::GLOG_FATAL}) {
    google::SetLogDestination(severity, "");
  }
}

void log_to_file(const std::string& path) {
  // The INFO file receives every severity.
  google::SetLogDestination(google::GLOG_INFO, path.c_str());
  google::SetLogSymlink(google::GLOG_INFO, "");  // no <program>.INFO link beside it
}

}  // namespace lica
