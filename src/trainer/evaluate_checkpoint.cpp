#include "trainer/evaluate_checkpoint.h"

#include <glog/logging.h>

#include <chrono>

#include "trainer/build_model.h"
#include "trainer/checkpoint.h"
#include "trainer/evaluate.h"

namespace lica::trainer {

CheckpointEval evaluate_checkpoint(Config cfg, const std::string& spec, const std::string& split,
                                   dist::Communicator& comm) {
  const auto started = std::chrono::steady_clock::now();
  std::string path;
  if (comm.rank() == 0) path = resolve_checkpoint(spec).string();
  dist::broadcast_string(comm, path, 0);
  CheckpointEval result;
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
  const auto file = open_features(cfg);
  const auto& split_index = file.split(split);
  model::DualEncoder model(dual_encoder_options(cfg, file));
  load_model(path, *model);
  LOG(INFO) << "evaluating " << path << " (step " << result.step << ") on split '" << split
            << "' of " << file.path() << " with " << comm.world_size() << " rank(s)";
  result.metrics = evaluate_split(model, file, split_index,
                                  eval_options(cfg), comm);
  result.seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  return result;
}

}  // namespace lica::trainer
