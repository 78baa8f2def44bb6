#include "trainer/evaluate_checkpoint.h"

#include <glog/logging.h>

#include <chrono>

#include "trainer/build_model.h"
#include "trainer/checkpoint.h"
#include "trainer/device.h"
#include "trainer/evaluate.h"

namespace lica::trainer {

ResolvedCheckpoint resolve_for_inference(Config cfg, const std::string& spec,
                                         dist::Communicator& comm) {
  std::string path;
  if (comm.rank() == 0) path = resolve_checkpoint(spec).string();
  dist::broadcast_string(comm, path, 0);
  ResolvedCheckpoint result;
  result.checkpoint = path;
  result.step = read_progress(path).step;
  const Config saved = read_checkpoint_config(path);
  for (const auto& key : config_keys()) {
    if (key.rfind("model.", 0) == 0 && config_value(saved, key) != config_value(cfg, key)) {
      LOG(INFO) << key << ": " << config_value(saved, key) << " from the checkpoint (config says "
                << config_value(cfg, key) << ")";
    }
  }
  cfg.model = saved.model;
  cfg.loss = saved.loss;  // the loss terms decide some heads of the saved model (LMIM)
  result.device = resolve_device(cfg.trainer.device, comm.info().local_rank);
  use_device(result.device, cfg.trainer.tf32);
  result.config = std::move(cfg);
  return result;
}

model::DualEncoder load_dual_encoder(const ResolvedCheckpoint& checkpoint,
                                     const data::FeatureFile& file) {
  model::DualEncoder model(dual_encoder_options(checkpoint.config, file));
  model->to(checkpoint.device);
  load_model(checkpoint.checkpoint, *model);
  model->eval();
  return model;
}

data::FeatureFile open_features_for(const ResolvedCheckpoint& checkpoint,
                                    const std::string& path) {
  Config cfg = checkpoint.config;
  cfg.data.path = path;
  return open_features(cfg);
}

CheckpointEval evaluate_checkpoint(Config cfg, const std::string& spec, const std::string& split,
                                   dist::Communicator& comm) {
  const auto started = std::chrono::steady_clock::now();
  const ResolvedCheckpoint resolved = resolve_for_inference(std::move(cfg), spec, comm);
  CheckpointEval result;
  result.checkpoint = resolved.checkpoint;
  result.step = resolved.step;
  const auto file = open_features(resolved.config);
  const auto& split_index = file.split(split);
  auto model = load_dual_encoder(resolved, file);
  LOG(INFO) << "evaluating " << resolved.checkpoint.string() << " (step " << result.step
            << ") on split '" << split << "' of " << file.path() << " with " << comm.world_size()
            << " rank(s) on " << resolved.device.str();
  result.metrics = evaluate_split(model, file, split_index, eval_options(resolved.config), comm);
  result.seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  return result;
}

}  // namespace lica::trainer
