// Loading a saved checkpoint for inference (lica_eval, lica_export, lica_search): resolve it
// on rank 0, build its model, open features that fit it.
#pragma once

#include <filesystem>
#include <string>

#include "data/feature_file.h"
#include "dist/communicator.h"
#include "model/dual_encoder.h"
#include "run/config.h"

namespace lica::eval {

// A checkpoint to run: its resolved directory, step and the given config with model.* taken
// from the checkpoint's config.yaml (keys that differ from `cfg` are logged).
struct ResolvedCheckpoint {
  std::filesystem::path checkpoint;  // the step_<N> directory
  int64_t step = 0;
  run::Config config;
  torch::Device device = torch::kCPU;  // where the model runs: the config's trainer.device
};
// Rank 0 resolves `spec` (see resolve_checkpoint()), every rank gets the same directory.
// The device is resolved for this rank (trainer.device of `cfg`) and made current, with
// trainer.tf32 applied; inference runs in fp32 whatever trainer.precision says.
ResolvedCheckpoint resolve_for_inference(run::Config cfg, const std::string& spec,
                                         dist::Communicator& comm);

// The checkpoint's dual encoder built for `file` (its dims) with the saved weights, in eval
// mode, on checkpoint.device. InputError when the file does not fit the checkpoint's model.
model::DualEncoder load_dual_encoder(const ResolvedCheckpoint& checkpoint,
                                     const data::FeatureFile& file);

// Opens `path` validated against the checkpoint's model dims (model.video_dim, text_dim).
data::FeatureFile open_features_for(const ResolvedCheckpoint& checkpoint, const std::string& path);

}  // namespace lica::eval
