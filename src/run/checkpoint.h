// What a training checkpoint holds (docs/design.md §6), on top of the protocol of checkpoint_store.h:
//
//   model.pt      parameters and buffers (the logit scale among them)
//   optimizer.pt  AdamW state: step counts and both moments of every parameter
//   rng.pt        the torch generator state of every rank, [W, n] bytes ("cpu"); in a CUDA
//                 run also every rank's CUDA generator ("cuda")
//   state.yaml    TrainingProgress: data position, schedule, world size, metrics, best
//   config.yaml   the resolved config of the run
//   momentum.pt   with ITC or IMS: the momentum towers and their embedding queues
//
// The learning-rate schedule is a pure function of the step and the config, so the step is
// the scheduler's whole state; the sampler is seeded by (trainer.seed, epoch), so the epoch
// and the step within it are the sampler's.
//
// Every tensor is written as a CPU tensor, whatever device the run trained on, so any build
// reads any checkpoint; readers put the state where the model they load into lives.
#pragma once

#include <torch/torch.h>

#include <cmath>
#include <filesystem>
#include <limits>
#include <string>
#include <vector>

#include "run/checkpoint_store.h"
#include "run/config.h"

namespace lica::run {

struct TrainingProgress {
  int64_t step = 0;            // optimizer steps done
  int64_t epoch = 0;           // epoch of the next step
  int64_t step_in_epoch = 0;   // index of the next step within its epoch
  int64_t steps_per_epoch = 0;
  int64_t total_steps = 0;
  int64_t seed = 0;            // trainer.seed: the sampler's and the model's
  int64_t world_size = 1;      // ranks of the run that wrote it
  int64_t metrics_bytes = 0;   // length of metrics.jsonl when written: the records it covers
  // The validation metric of this checkpoint (the last validation before it, at its step),
  // and the best checkpoint so far; NaN / "" when none.
  std::string best_metric;
  double metric_value = std::numeric_limits<double>::quiet_NaN();
  std::string best_checkpoint;
  double best_value = std::numeric_limits<double>::quiet_NaN();
  std::string last_train_record;  // the last train and eval records of metrics.jsonl (JSON)
  std::string last_eval_record;
};

// The files of a checkpoint. `rng_states` is [W, n] uint8: every rank's generator state;
// `cuda_rng_states` [W, m] every rank's CUDA generator state in a CUDA run, else undefined.
std::vector<CheckpointFile> checkpoint_files(const TrainingProgress& progress, const Config& cfg,
                                             torch::nn::Module& model,
                                             torch::optim::Optimizer& optimizer,
                                             const torch::Tensor& rng_states,
                                             torch::nn::Module* momentum = nullptr,
                                             const torch::Tensor& cuda_rng_states = {});

// Readers of a verified checkpoint directory. Each throws lica::InputError naming the file
// when it is missing or does not fit (a model of another shape, a broken state.yaml).
TrainingProgress read_progress(const std::filesystem::path& dir);
Config read_checkpoint_config(const std::filesystem::path& dir);
// The model and momentum tensors are copied into the module wherever it lives; the
// optimizer's state goes to the device of its parameters.
void load_model(const std::filesystem::path& dir, torch::nn::Module& model);
void load_momentum(const std::filesystem::path& dir, torch::nn::Module& momentum);
void load_optimizer(const std::filesystem::path& dir, torch::optim::Optimizer& optimizer);
torch::Tensor load_rng_states(const std::filesystem::path& dir);  // [W, n] uint8
// [W, m] uint8, or an undefined tensor when the run that wrote it was not on CUDA.
torch::Tensor load_cuda_rng_states(const std::filesystem::path& dir);

// This process's generator state of `device` (the CPU one by default) as [n] uint8, and
// setting it back.
torch::Tensor rng_state(const torch::Device& device = torch::kCPU);
void set_rng_state(const torch::Tensor& state, const torch::Device& device = torch::kCPU);

// The keys whose values must agree for a resumed run to continue the same training: data,
// model, trainer and loss, except data.path (features may be staged elsewhere),
// trainer.threads, trainer.log_every and trainer.device (a checkpoint is device-free; a run
// may move between machines, though only a run that stays on the cpu continues bitwise).
// Returns "key: a -> b" lines.
std::vector<std::string> training_differences(const Config& saved, const Config& now);

}  // namespace lica::run
