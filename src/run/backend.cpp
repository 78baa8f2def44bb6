#include "run/backend.h"

#include "common/error.h"

namespace lica::run {

std::string communicator_backend(const Config& cfg) {
  // nccl reduces CUDA tensors only, and refuses two ranks on one GPU.
  if (cfg.dist.backend == "auto" && (cfg.trainer.device == "cpu" || cfg.dist.ranks_per_gpu > 1)) {
    return "mpi";
  }
  return cfg.dist.backend;
}

void check_backend_fits(const torch::Device& device, const std::string& backend) {
  if (backend == "nccl" && !device.is_cuda()) {
    throw InputError("trainer.device: the run is on " + device.str() +
                     ", but dist.backend is nccl, which reduces CUDA tensors only; set "
                     "dist.backend: mpi (or auto) for a cpu run");
  }
}

}  // namespace lica::run
