#include "run/device.h"

#include <torch/version.h>

#include <algorithm>

#ifdef LICA_WITH_CUDA
#include <c10/cuda/CUDAFunctions.h>
#endif

#include "common/error.h"

namespace lica::run {
namespace {

constexpr bool kBuiltWithCuda =
#ifdef LICA_WITH_CUDA
    true;
#else
    false;
#endif

int64_t visible_gpus() {
  return torch::cuda::is_available() ? static_cast<int64_t>(torch::cuda::device_count()) : 0;
}

}  // namespace

torch::Device resolve_device(const std::string& key_value, int local_rank,
                             int64_t ranks_per_gpu) {
  if (key_value == "cpu") return torch::kCPU;
  if (key_value != "auto" && key_value != "cuda") {
    throw InputError("trainer.device: unknown device '" + key_value +
                     "', expected auto, cpu or cuda");
  }
  const int64_t gpus = kBuiltWithCuda ? visible_gpus() : 0;
  if (key_value == "auto" && gpus == 0) return torch::kCPU;
  if (!kBuiltWithCuda) {
    throw InputError(std::string("trainer.device: cuda, but this build has no CUDA (LibTorch ") +
                     TORCH_VERSION + " without CUDA); use trainer.device: cpu or auto");
  }
  if (gpus == 0) {
    throw InputError(
        "trainer.device: cuda, but no CUDA device is visible to this process (check "
        "CUDA_VISIBLE_DEVICES and the driver); use trainer.device: cpu or auto");
  }
  const int64_t gpu = local_rank / std::max<int64_t>(1, ranks_per_gpu);
  if (local_rank < 0 || gpu >= gpus) {
    throw InputError("trainer.device: " + key_value + " gives local rank " +
                     std::to_string(local_rank) + " the GPU cuda:" + std::to_string(gpu) +
                     ", but only " + std::to_string(gpus) + " are visible: start at most " +
                     std::to_string(gpus * ranks_per_gpu) +
                     " ranks per node (dist.ranks_per_gpu lets several ranks share a GPU, with "
                     "dist.backend: mpi)");
  }
  return {torch::kCUDA, static_cast<c10::DeviceIndex>(gpu)};
}

void use_device(const torch::Device& device, bool tf32) {
  if (!device.is_cuda()) return;
#ifdef LICA_WITH_CUDA
  c10::cuda::set_device(device.index());
#endif
  at::globalContext().setAllowTF32CuBLAS(tf32);
  at::globalContext().setAllowTF32CuDNN(tf32);
}

void seed_generators(uint64_t seed, const torch::Device& device) {
  torch::manual_seed(seed);
  if (!device.is_cuda()) return;
  auto gen = at::globalContext().defaultGenerator(device);
  std::lock_guard<std::mutex> lock(gen.mutex());
  gen.set_current_seed(seed);
}

}  // namespace lica::run
