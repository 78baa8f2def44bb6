// Where a run computes (trainer.device) and the switches that go with it (trainer.tf32).
// One rank drives one GPU: cuda:<local rank> (DESIGN §5).
#pragma once

#include <torch/torch.h>

#include <string>

#include "data/batch.h"
#include "trainer/config.h"

namespace lica::trainer {

// trainer.device's value for this process:
//   "cpu"  -> cpu;
//   "cuda" -> cuda:<local_rank>; an InputError naming trainer.device when this build has no
//             CUDA, no GPU is visible, or none for this local rank;
//   "auto" -> cuda:<local_rank> when this build has CUDA and a GPU is visible, else cpu.
// Anything else is an InputError naming trainer.device.
torch::Device resolve_device(const std::string& key_value, int local_rank);

// Makes a CUDA `device` this process's current one (so streams and the allocator use it) and
// applies trainer.tf32 to CUDA matmuls and cuDNN convolutions. Nothing to do on the cpu.
void use_device(const torch::Device& device, bool tf32);

// The dist.backend to start for `cfg`: dist.backend itself, except that "auto" with
// trainer.device cpu means mpi (nccl reduces CUDA tensors only, and auto would pick it on
// a machine with a GPU).
std::string communicator_backend(const Config& cfg);

// Throws an InputError naming trainer.device and dist.backend when the two cannot work
// together (nccl with a cpu device).
void check_backend_fits(const torch::Device& device, const std::string& backend);

// `batch` with every defined tensor on `device` (undefined ones stay undefined). Copies
// from pinned host memory are non-blocking: the loader pins batches for a CUDA run, and the
// copy then overlaps the work already queued on the stream.
data::Batch batch_to(const data::Batch& batch, const torch::Device& device);

// Seeds the generator of `device` with `seed` besides the CPU one (torch::manual_seed), so a
// CUDA run's dropout masks follow trainer.seed too.
void seed_generators(uint64_t seed, const torch::Device& device);

}  // namespace lica::trainer
