#include "eval/inference.h"

#include <glog/logging.h>

#include "run/checkpoint.h"
#include "run/checkpoint_store.h"
#include "run/device.h"
#include "run/model_options.h"

namespace lica::eval {

ResolvedCheckpoint resolve_for_inference(run::Config cfg, const std::string& spec,
                                         dist::Communicator& comm) {
  std::string path;
  if (comm.rank() == 0) path = run::resolve_checkpoint(spec).string();
  dist::broadcast_string(comm, path, 0);
  ResolvedCheckpoint result;
  result.checkpoint = path;
  result.step = run::read_progress(path).step;
  const run::Config saved = run::read_checkpoint_config(path);
  for (const auto& key : run::config_keys()) {
    if (key.rfind("model.", 0) == 0 && run::config_value(saved, key) != run::config_value(cfg, key)) {
      LOG(INFO) << key << ": " << run::config_value(saved, key) << " from the checkpoint (config says "
                << run::config_value(cfg, key) << ")";
    }
  }
  cfg.model = saved.model;
  cfg.loss = saved.loss;  // the loss terms decide some heads of the saved model (LMIM)
  result.device =
      run::resolve_device(cfg.trainer.device, comm.info().local_rank, cfg.dist.ranks_per_gpu);
  run::use_device(result.device, cfg.trainer.tf32);
  result.config = std::move(cfg);
  return result;
}

model::DualEncoder load_dual_encoder(const ResolvedCheckpoint& checkpoint,
                                     const data::FeatureFile& file) {
  model::DualEncoder model(run::dual_encoder_options(checkpoint.config, file));
  model->to(checkpoint.device);
  run::load_model(checkpoint.checkpoint, *model);
  model->eval();
  return model;
}

data::FeatureFile open_features_for(const ResolvedCheckpoint& checkpoint,
                                    const std::string& path) {
  run::Config cfg = checkpoint.config;
  cfg.data.path = path;
  return run::open_features(cfg);
}

}  // namespace lica::eval
