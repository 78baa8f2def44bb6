#include "trainer/resume.h"

#include <glog/logging.h>

#include "common/error.h"
#include "run/checkpoint.h"
#include "run/checkpoint_reader.h"
#include "run/checkpoint_store.h"
#include "run/run_dir.h"
#include "trainer/progress_log.h"
#include "trainer/training_run.h"

namespace lica::trainer {
namespace {

void check_same_training(const std::filesystem::path& ckpt, const run::Config& saved,
                         const run::TrainingProgress& p, const run::Config& cfg,
                         const EpochShape& shape) {
  const auto diffs = run::training_differences(saved, cfg);
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

// Restores `r` into the run; InputError when it does not fit. Rank 0 also checks metrics.jsonl.
void restore_from(TrainingRun& t, const run::CheckpointReader& r) {
  const auto t0 = Clock::now();
  const auto& p = r.progress();
  check_same_training(r.dir(), r.config(), p, t.cfg, t.shape);
  if (t.rank0) run::check_metrics_cover(t.cfg.run.dir, p.metrics_bytes);
  r.load_model(*t.model);
  r.load_optimizer(*t.optimizer);
  if (t.momentum) r.load_momentum(*t.momentum);
  // Each rank continues its own generator; a rank the saved run did not have takes one of
  // the saved ones (its dropout masks then differ from a run that never stopped).
  const int64_t rank = t.comm.rank();
  const auto states = r.rng_states();  // [world_size >= 1, n]
  const auto cuda_states = r.cuda_rng_states();
  run::set_rng_state(states[rank % states.size(0)]);
  if (t.device.is_cuda() && cuda_states.defined()) {
    run::set_rng_state(cuda_states[rank % cuda_states.size(0)], t.device);
  }
  t.progress = p;
  LOG(INFO) << "resumed from " << r.dir().string() << " (step " << p.step << "/"
            << t.shape.total_steps << ", epoch " << p.epoch << ", written by " << p.world_size
            << " rank(s)) in " << seconds_since(t0) << " s";
}

}  // namespace

void restore_checkpoint(TrainingRun& t, const std::string& resume) {
  const auto accept = [&](const run::CheckpointReader& r) { restore_from(t, r); };
  std::string path;
  if (t.rank0) {
    const auto taken = resume == "latest" ? run::open_newest_checkpoint(t.checkpoints, accept)
                                          : run::open_checkpoint(resume, accept);
    if (taken) path = taken->string();
    if (!taken) LOG(INFO) << "--resume latest: no checkpoint in " << t.checkpoints.string()
                          << " yet, starting at step 0";
  }
  dist::broadcast_string(t.comm, path, 0);
  t.resume_from = path;
  if (!t.rank0 && !path.empty()) restore_from(t, run::CheckpointReader(path));
}

void continue_run_dir(TrainingRun& t) {
  run::check_run_dir_writable(t.cfg.run.dir, t.checkpoints.string());
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
