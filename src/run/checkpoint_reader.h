// Reading a checkpoint as untrusted input (docs/checkpoints.md, "What is checked at load").
// A checkpoint is data, never code: it is copied between clusters, half-synced, edited by
// hand and read by other builds, so every file, name, number and tensor in it is checked
// before anything of it is used, and no path in it leads out of its directory. Every failed
// check is a lica::InputError naming the file and what is wrong; under --resume latest the
// caller skips to the next older checkpoint on it (open_newest_checkpoint()).
#pragma once

#include <torch/torch.h>

#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <string>

#include "run/checkpoint.h"
#include "run/config.h"

namespace lica::run {

class CheckpointReader {
 public:
  // Reads the checkpoint directory `dir` (step_<N>): the manifest and every file it lists,
  // each once (read_verified_files()); the files a checkpoint needs all listed; state.yaml
  // parsed strictly and checked (format; step == N within 0..total steps; epoch and step in
  // epoch agree with the step; totals, seed and best checkpoint consistent); config.yaml
  // parsed and validated as a user's config, its epochs agreeing with state.yaml.
  explicit CheckpointReader(std::filesystem::path dir);

  const std::filesystem::path& dir() const { return dir_; }
  const TrainingProgress& progress() const { return progress_; }
  const Config& config() const { return config_; }

  // Copies the saved parameters and buffers into `model` (wherever it lives) once every one
  // is checked: present, the module's shape and dtype, every value finite. Nothing is
  // copied when one fails.
  void load_model(torch::nn::Module& model) const;
  // As load_model() from momentum.pt (InputError when the checkpoint has none), its queue
  // position within the queue.
  void load_momentum(torch::nn::Module& momentum) const;
  // Replaces the optimizer's state by the saved one (on its parameters' device), then checks
  // every AdamW state: moments of its parameter's shape and dtype, finite, exp_avg_sq >= 0,
  // step count within 0..progress().step. On failure the state is cleared and InputError
  // thrown.
  void load_optimizer(torch::optim::Optimizer& optimizer) const;
  // [world_size, n] uint8: every saved rank's CPU generator state, n this build's size of it.
  torch::Tensor rng_states() const;
  // [world_size, m] uint8, or undefined when the saved run was not on CUDA.
  torch::Tensor cuda_rng_states() const;

 private:
  std::filesystem::path path(const std::string& file) const { return dir_ / file; }
  const std::string& bytes(const std::string& file) const;
  void read_state();
  void check_state() const;
  std::map<std::string, torch::Tensor> read_module(const std::string& file,
                                                   torch::nn::Module& module) const;
  torch::Tensor read_rng(const char* key) const;

  std::filesystem::path dir_;
  int64_t step_ = 0;  // N of step_<N>
  std::map<std::string, std::string> files_;
  TrainingProgress progress_;
  Config config_;
};

// The newest checkpoint under `root` that a CheckpointReader reads and `accept` takes (it
// throws InputError when the checkpoint does not fit what the caller restores, or is the
// restoring itself), each newer one skipped with a warning saying why. nullopt when root
// holds no checkpoint at all; InputError when it holds some but none is taken.
std::optional<std::filesystem::path> open_newest_checkpoint(
    const std::filesystem::path& root, const std::function<void(const CheckpointReader&)>& accept);

// The checkpoint `spec` names (checkpoint_spec()): one named checkpoint, read and accepted
// or InputError; a checkpoints directory or its `latest`: as open_newest_checkpoint(), with
// InputError when there is none.
std::filesystem::path open_checkpoint(const std::filesystem::path& spec,
                                      const std::function<void(const CheckpointReader&)>& accept);

// Shorthands, each reading `dir` with a CheckpointReader.
TrainingProgress read_progress(const std::filesystem::path& dir);
Config read_checkpoint_config(const std::filesystem::path& dir);
void load_model(const std::filesystem::path& dir, torch::nn::Module& model);
void load_momentum(const std::filesystem::path& dir, torch::nn::Module& momentum);
void load_optimizer(const std::filesystem::path& dir, torch::optim::Optimizer& optimizer);
torch::Tensor load_rng_states(const std::filesystem::path& dir);
torch::Tensor load_cuda_rng_states(const std::filesystem::path& dir);

}  // namespace lica::run
