// Where a run computes (trainer.device) and the switches that go with it (trainer.tf32).
// One rank drives one GPU: cuda:<local rank> (docs/design.md §5).
#pragma once

#include <torch/torch.h>

#include <string>


namespace lica::run {

// trainer.device's value for this process:
//   "cpu"  -> cpu;
//   "cuda" -> cuda:<local_rank>; an InputError naming trainer.device when this build has no
//             CUDA, no GPU is visible, or none for this local rank;
//   "auto" -> cuda:<local_rank> when this build has CUDA and a GPU is visible, else cpu.
// Anything else is an InputError naming trainer.device.
// With `ranks_per_gpu` > 1 (dist.ranks_per_gpu) that many consecutive local ranks share a GPU:
// cuda:<local_rank / ranks_per_gpu>.
torch::Device resolve_device(const std::string& key_value, int local_rank,
                             int64_t ranks_per_gpu = 1);

// Makes a CUDA `device` this process's current one (so streams and the allocator use it) and
// applies trainer.tf32 to CUDA matmuls and cuDNN convolutions. Nothing to do on the cpu.
void use_device(const torch::Device& device, bool tf32);

// Seeds the generator of `device` with `seed` besides the CPU one (torch::manual_seed), so a
// CUDA run's dropout masks follow trainer.seed too.
void seed_generators(uint64_t seed, const torch::Device& device);

}  // namespace lica::run
