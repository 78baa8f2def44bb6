// The NCCL communicator (CUDA builds only, LICA_WITH_NCCL): collectives on CUDA tensors of
// the device `local_rank`, on a stream of its own that waits for the compute stream by an
// event before each collective; the compute stream waits for the result the same way, so
// neither stream blocks the host. MPI bootstraps it (the unique id is broadcast over MPI)
// and serves barrier and abort.
#pragma once

#ifdef LICA_WITH_NCCL

#include <memory>

#include "dist/communicator.h"

namespace lica::dist {

// A collective not complete after `timeout_s` (0 = never), or an asynchronous NCCL error,
// aborts the communicator (ncclCommAbort) and then the job (MPI_Abort), with a message.
std::unique_ptr<Communicator> make_nccl_communicator(const RankInfo& info, double timeout_s);

}  // namespace lica::dist

#endif  // LICA_WITH_NCCL
