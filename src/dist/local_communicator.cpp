#include "dist/local_communicator.h"

#include <glog/logging.h>

#include <cstdlib>

namespace lica::dist {
namespace {

class DoneWork : public Work {
 public:
  void wait() override {}
  bool test() override { return true; }
};

}  // namespace

std::unique_ptr<Work> LocalCommunicator::all_reduce_sum_async(torch::Tensor&) {
  return std::make_unique<DoneWork>();
}

void LocalCommunicator::abort(int exit_code) {
  google::FlushLogFiles(google::GLOG_INFO);
  std::_Exit(exit_code);
}

}  // namespace lica::dist
