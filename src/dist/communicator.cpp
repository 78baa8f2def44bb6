#include "dist/communicator.h"

#include <glog/logging.h>

#include <cstring>

#include "common/error.h"
#include "dist/local_communicator.h"
#include "dist/mpi_communicator.h"
#ifdef LICA_WITH_NCCL
#include "dist/nccl_communicator.h"
#endif

namespace lica::dist {

double all_reduce_sum(Communicator& comm, double value) {
  auto t = torch::tensor({value}, torch::kDouble);
  comm.all_reduce_sum(t);
  return t.item<double>();
}

void broadcast_string(Communicator& comm, std::string& s, int root) {
  auto size = torch::tensor({static_cast<int64_t>(s.size())}, torch::kLong);
  comm.broadcast(size, root);
  auto bytes = torch::zeros({size.item<int64_t>()}, torch::kByte);
  if (comm.rank() == root) std::memcpy(bytes.data_ptr(), s.data(), s.size());
  comm.broadcast(bytes, root);
  s.assign(static_cast<const char*>(bytes.data_ptr()), static_cast<size_t>(bytes.numel()));
}

std::unique_ptr<Communicator> make_communicator(const std::string& backend,
                                                const CommunicatorOptions& options) {
  if (!(options.timeout_s >= 0)) {
    throw InputError("dist.timeout_s: got " + std::to_string(options.timeout_s) +
                     ", expected >= 0 (0 = no timeout)");
  }
  const auto env = launcher_env();
  const bool launched = launched_by_mpi_launcher(env);
  if (backend != "auto" && backend != "local" && backend != "mpi" && backend != "nccl") {
    throw InputError("dist.backend: unknown backend '" + backend +
                     "', expected auto, local, mpi or nccl");
  }
  if (!launched) {
    if (backend == "mpi" || backend == "nccl") {
      LOG(INFO) << "dist.backend " << backend << ": no launcher (mpirun/srun), running as W = 1";
    }
    return std::make_unique<LocalCommunicator>();
  }
  const RankInfo info = init_mpi();
  check_launcher_env(info, env);
  if (backend == "local") {
    if (info.world_size != 1) {
      throw InputError("dist.backend: local runs one process, but the launcher started " +
                       std::to_string(info.world_size) + "; use auto, mpi or nccl");
    }
    return std::make_unique<MpiCommunicator>(info, /*owns_mpi=*/true, options.timeout_s);
  }
  std::string chosen = backend;
  if (chosen == "auto") {
#ifdef LICA_WITH_NCCL
    chosen = torch::cuda::is_available() ? "nccl" : "mpi";
#else
    chosen = "mpi";
#endif
  }
  if (chosen == "nccl") {
#ifdef LICA_WITH_NCCL
    return make_nccl_communicator(info, options.timeout_s);
#else
    throw InputError(
        "dist.backend: nccl was asked for, but this build has no NCCL (LibTorch without CUDA); "
        "use dist.backend: mpi");
#endif
  }
  return std::make_unique<MpiCommunicator>(info, /*owns_mpi=*/true, options.timeout_s);
}

}  // namespace lica::dist
