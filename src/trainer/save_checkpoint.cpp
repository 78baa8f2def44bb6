#include "trainer/save_checkpoint.h"

#include <glog/logging.h>

#include <string>

#include "run/checkpoint.h"
#include "run/checkpoint_store.h"
#include "trainer/progress_log.h"
#include "trainer/training_run.h"

namespace lica::trainer {

void save_checkpoint(TrainingRun& t, int64_t done, bool new_best) {
  const auto t0 = Clock::now();
  auto& comm = t.comm;
  auto& progress = t.progress;
  const auto states = comm.all_gather(run::rng_state().unsqueeze(0));  // [W, n]
  const auto cuda_states = t.device.is_cuda()
                               ? comm.all_gather(run::rng_state(t.device).unsqueeze(0))  // [W, m]
                               : torch::Tensor();
  progress.step = done;
  progress.epoch = done / t.shape.steps_per_epoch;
  progress.step_in_epoch = done % t.shape.steps_per_epoch;
  progress.world_size = comm.world_size();
  const std::string name = "step_" + std::to_string(done);
  if (new_best) progress.best_checkpoint = name, progress.best_value = progress.metric_value;
  if (t.rank0) {
    progress.metrics_bytes = t.metrics->bytes();
    const auto files = run::checkpoint_files(progress, t.cfg, *t.model, *t.optimizer, states,
                                             t.momentum ? t.momentum.get() : nullptr, cuda_states);
    int64_t bytes = 0;
    for (const auto& f : files) bytes += static_cast<int64_t>(f.bytes.size());
    const auto path = run::write_checkpoint(t.checkpoints, done, files);
    if (new_best) run::write_pointer(t.checkpoints, "best", name);
    const auto deleted = run::prune_checkpoints(t.checkpoints, t.cfg.checkpoint.keep_last,
                                                {progress.best_checkpoint});
    LOG(INFO) << "checkpoint " << path.string() << ": " << bytes / 1e6 << " MB in "
              << seconds_since(t0) << " s"
              << (new_best ? " (best " + t.cfg.checkpoint.best_metric + ")" : "")
              << (deleted.empty() ? "" : ", deleted " + std::to_string(deleted.size()) + " older");
  }
  comm.barrier();  // no rank leaves (or exits) before the checkpoint is on disk
  t.summary.last_checkpoint = (t.checkpoints / name).string();
}

}  // namespace lica::trainer
