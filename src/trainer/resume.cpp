#include "trainer/resume.h"

#include <glog/logging.h>

#include "common/error.h"
#include "run/checkpoint.h"
#include "run/checkpoint_store.h"
#include "run/run_dir.h"
#include "trainer/progress_log.h"
#include "trainer/training_run.h"

namespace lica::trainer {
namespace {

void check_same_training(const std::filesystem::path& ckpt, const run::TrainingProgress& p,
                         const run::Config& cfg, const EpochShape& shape) {
  const auto diffs = run::training_differences(run::read_checkpoint_config(ckpt), cfg);
  if (!diffs.empty()) {
    std::string list;
    for (const auto& d : diffs) list += "\n  " + d;
    throw InputError("cannot resume from " + ckpt.string() +
                     ": the config differs in keys that change the training (saved -> now):" +
                     list);
  }
  if (p.steps_per_epoch != shape.steps_per_epoch || p.total_steps != shape.total_steps) {
    throw InputError("cannot resume from " + ckpt.string() + ": it was written for " +
                     std::to_string(p.steps_per_epoch) + " steps/epoch and " +
                     std::to_string(p.total_steps) + " steps, this run has " +
                     std::to_string(shape.steps_per_epoch) + " and " +
                     std::to_string(shape.total_steps) + " (has the feature file changed?)");
  }
}

}  // namespace

std::filesystem::path resolve_resume(const std::string& resume,
                                     const std::filesystem::path& checkpoints,
                                     dist::Communicator& comm) {
  std::string path;
  if (comm.rank() == 0 && !resume.empty()) {
    if (resume == "latest") {
      const auto newest = run::newest_valid_checkpoint(checkpoints);
      if (newest) {
        path = newest->string();
      } else {
        LOG(INFO) << "--resume latest: no checkpoint in " << checkpoints.string()
                  << " yet, starting at step 0";
      }
    } else {
      path = run::resolve_checkpoint(resume).string();
    }
  }
  dist::broadcast_string(comm, path, 0);
  return path;
}

void restore_checkpoint(TrainingRun& t) {
  const auto t0 = Clock::now();
  const auto& from = t.resume_from;
  t.progress = run::read_progress(from);
  check_same_training(from, t.progress, t.cfg, t.shape);
  run::load_model(from, *t.model);
  run::load_optimizer(from, *t.optimizer);
  if (t.momentum) run::load_momentum(from, *t.momentum);
  // Each rank continues its own generator; a rank the saved run did not have takes one of
  // the saved ones (its dropout masks then differ from a run that never stopped).
  const int rank = t.comm.rank();
  const auto states = run::load_rng_states(from);
  run::set_rng_state(states[rank % states.size(0)]);
  const auto cuda_states = run::load_cuda_rng_states(from);
  if (t.device.is_cuda() && cuda_states.defined()) {
    run::set_rng_state(cuda_states[rank % cuda_states.size(0)], t.device);
  }
  LOG(INFO) << "resumed from " << from.string() << " (step " << t.progress.step << "/"
            << t.shape.total_steps << ", epoch " << t.progress.epoch << ", written by "
            << t.progress.world_size << " rank(s)) in " << seconds_since(t0) << " s";
}

void continue_run_dir(TrainingRun& t) {
  run::rewind_metrics(t.cfg.run.dir, t.progress.metrics_bytes);
  const auto moved = run::set_aside_newer_checkpoints(t.checkpoints, t.progress.step);
  for (const auto& m : moved) {
    LOG(WARNING) << "moved " << m << " (newer than the resumed step) to "
                 << (t.checkpoints / "superseded").string();
  }
  if (!t.resume_from.empty()) {
    run::write_pointer(t.checkpoints, "latest", t.resume_from.filename().string());
  }
}

}  // namespace lica::trainer
