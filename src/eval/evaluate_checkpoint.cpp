#include "eval/evaluate_checkpoint.h"

#include <glog/logging.h>

#include <chrono>

#include "eval/eval_options.h"
#include "eval/evaluate.h"
#include "eval/inference.h"
#include "run/model_options.h"

namespace lica::eval {

CheckpointEval evaluate_checkpoint(run::Config cfg, const std::string& spec, const std::string& split,
                                   dist::Communicator& comm) {
  const auto started = std::chrono::steady_clock::now();
  const ResolvedCheckpoint resolved = resolve_for_inference(std::move(cfg), spec, comm);
  CheckpointEval result;
  result.checkpoint = resolved.checkpoint;
  result.step = resolved.step;
  const auto file = run::open_features(resolved.config);
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

}  // namespace lica::eval
