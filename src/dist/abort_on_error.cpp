#include "dist/abort_on_error.h"

#include <glog/logging.h>

#include "common/error.h"

namespace lica::dist {

int run_or_abort(Communicator& comm, const std::function<int()>& body) {
  try {
    return body();
  } catch (const InputError& e) {
    if (comm.world_size() == 1) throw;
    LOG(ERROR) << "rank " << comm.rank() << ": " << e.what() << "; aborting the job";
    comm.abort(kExitBadInput);
  } catch (const std::exception& e) {
    if (comm.world_size() == 1) throw;
    LOG(ERROR) << "rank " << comm.rank() << ": internal failure: " << e.what()
               << "; aborting the job";
    comm.abort(kExitInternal);
  }
  return kExitInternal;  // not reached: abort() ends the process
}

}  // namespace lica::dist
