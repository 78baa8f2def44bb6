// Which communicator a run starts (dist.backend), and whether it fits the run's device.
#pragma once

#include <torch/torch.h>

#include <string>

#include "run/config.h"

namespace lica::run {

// The dist.backend to start for `cfg`: dist.backend itself, except that "auto" means mpi with
// trainer.device cpu (nccl reduces CUDA tensors only, and auto would pick it on a machine with
// a GPU) or with dist.ranks_per_gpu > 1 (nccl refuses two ranks on one GPU).
std::string communicator_backend(const Config& cfg);

// Throws an InputError naming trainer.device and dist.backend when the two cannot work
// together (nccl with a cpu device).
void check_backend_fits(const torch::Device& device, const std::string& backend);

}  // namespace lica::run
