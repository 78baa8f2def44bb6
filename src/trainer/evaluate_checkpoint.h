// Evaluation of a saved checkpoint (lica_eval): the model is built from the checkpoint's own
// model config, the data and evaluation settings come from the given config.
#pragma once

#include <filesystem>
#include <string>

#include "data/feature_file.h"
#include "dist/communicator.h"
#include "model/dual_encoder.h"
#include "trainer/config.h"
#include "trainer/retrieval_metrics.h"

namespace lica::trainer {

struct CheckpointEval {
  std::filesystem::path checkpoint;  // the resolved step_<N> directory
  int64_t step = 0;
  RetrievalMetrics metrics;
  double seconds = 0;  // load and evaluation
};

// `spec` as resolve_checkpoint() takes it (rank 0 resolves, every rank loads the same one).
// Sharded over comm's ranks; every rank returns the same result.
CheckpointEval evaluate_checkpoint(Config cfg, const std::string& spec, const std::string& split,
                                   dist::Communicator& comm);

// A checkpoint to run: its resolved directory, step and the given config with model.* taken
// from the checkpoint's config.yaml (keys that differ from `cfg` are logged).
struct ResolvedCheckpoint {
  std::filesystem::path checkpoint;  // the step_<N> directory
  int64_t step = 0;
  Config config;
  torch::Device device = torch::kCPU;  // where the model runs: the config's trainer.device
};
// Rank 0 resolves `spec` (see resolve_checkpoint()), every rank gets the same directory.
// The device is resolved for this rank (trainer.device of `cfg`) and made current, with
// trainer.tf32 applied; inference runs in fp32 whatever trainer.precision says.
ResolvedCheckpoint resolve_for_inference(Config cfg, const std::string& spec,
                                         dist::Communicator& comm);

// The checkpoint's dual encoder built for `file` (its dims) with the saved weights, in eval
// mode, on checkpoint.device. InputError when the file does not fit the checkpoint's model.
model::DualEncoder load_dual_encoder(const ResolvedCheckpoint& checkpoint,
                                     const data::FeatureFile& file);

// Opens `path` validated against the checkpoint's model dims (model.video_dim, text_dim).
data::FeatureFile open_features_for(const ResolvedCheckpoint& checkpoint, const std::string& path);

}  // namespace lica::trainer
