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
#include "run/checkpoint_store.h"
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

// The shorthands of checkpoint.h (read_progress(), load_model(), ...) each read `dir` with
// a CheckpointReader.

// The untrusted reading of the checkpoint store (defined in checkpoint_store.cpp).

// Every file the manifest of `dir` lists, each read once and checked against its size and
// CRC-32; nothing else is read. The manifest is untrusted: each entry must be a plain file
// name (letters, digits, '_', '-', '.', not starting with a dot: no '/', no ".."), listed
// once; each file a regular file of `dir` (never a symlink); `dir` itself a directory, or a
// symlink to one in the same folder. InputError naming the file and what is wrong ("model.pt:
// 1234 bytes, manifest says 5678"). verify_checkpoint() is this, returning the message.
std::map<std::string, std::string> read_verified_files(const std::filesystem::path& dir);

// The newest step_<N> under root for which `open` returns (rather than throwing InputError),
// logging a warning for each newer one that throws (its message names the file and what is
// wrong). nullopt when root holds no checkpoint at all; InputError when it holds some but
// none opens, or when root is not a directory. list_checkpoints() lists every entry spelled
// step_<N> as the writer spells it (no leading zeros, at most 18 digits), of any file type.
std::optional<std::filesystem::path> open_newest(
    const std::filesystem::path& root, const std::function<void(const std::filesystem::path&)>& open);

// What a checkpoint argument names: `checkpoint` when it names one (a step_<N> directory, or
// a pointer file other than `latest`, which must be a regular file holding a step_<N> name,
// never a path), else "" meaning the newest valid checkpoint under `root` (a checkpoints
// directory, or its `latest`). InputError naming the path when it is none of these.
struct CheckpointSpec {
  std::filesystem::path root;
  std::filesystem::path checkpoint;
};
CheckpointSpec checkpoint_spec(const std::filesystem::path& spec);

// Resume's checks of the run directory (defined in run_dir.cpp), before anything is changed.

// metrics.jsonl at `dir` holds the first `bytes` bytes a checkpoint covers, ending on a record
// boundary (a newline). InputError naming the file otherwise.
void check_metrics_cover(const std::string& dir, int64_t bytes);

// `dir`, its metrics.jsonl and `checkpoints` (with its `latest` and `best` pointers, when they
// exist) are what they should be and writable. InputError naming the path otherwise.
void check_run_dir_writable(const std::string& dir, const std::string& checkpoints);

}  // namespace lica::run
