// glog set-up shared by the programs: INFO and above to stderr, optionally also to a file
// of the run directory.
#pragma once

#include <string>

namespace lica {

// Call once at the top of main().
void init_logging(const char* argv0);

// From now on every message (all severities) is also written to `path`, exactly that name.
void log_to_file(const std::string& path);

}  // namespace lica
