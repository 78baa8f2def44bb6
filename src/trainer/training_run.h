// Everything one process's training run holds, and the set-up that builds it: run
// directory and logs, device, features, model, optimizer, schedule, loss and eval options,
// momentum towers, and where training starts (step 0 or a checkpoint, see resume.h).
#pragma once

#include <filesystem>
#include <memory>
#include <optional>
#include <string>

#include "data/feature_file.h"
#include "dist/communicator.h"
#include "dist/gradient_reducer.h"
#include "eval/evaluate.h"
#include "model/dual_encoder.h"
#include "model/momentum.h"
#include "run/checkpoint.h"
#include "run/config.h"
#include "run/run_dir.h"
#include "run/run_lock.h"
#include "trainer/global_batch.h"
#include "trainer/schedule.h"
#include "trainer/step.h"
#include "trainer/train.h"

namespace lica::trainer {

struct TrainingRun {
  const run::Config& cfg;
  dist::Communicator& comm;
  std::filesystem::path dir;          // run.dir
  std::filesystem::path checkpoints;  // run.dir/checkpoints
  bool rank0 = false;
  torch::Device device = torch::kCPU;
  std::filesystem::path resume_from;  // the checkpoint this run continues, "" = step 0
  run::RunLock lock;                  // rank 0: the one writer of run.dir (run_lock.h)

  std::optional<data::FeatureFile> file;
  const data::SplitIndex* train_split = nullptr;
  EpochShape shape;
  ScheduleOptions schedule;
  LossOptions loss;
  eval::EvalOptions eval;
  bool track_best = false;  // checkpoint.best_metric is set and there is a val split

  model::DualEncoderOptions model_options;
  model::DualEncoder model{nullptr};
  model::Momentum momentum{nullptr};  // ITC and IMS only
  std::unique_ptr<torch::optim::AdamW> optimizer;
  std::optional<dist::GradientReducer> reducer;

  run::TrainingProgress progress;          // where training is; what a checkpoint saves
  std::optional<run::MetricsLog> metrics;  // rank 0 writes the run's records
  TrainSummary summary;

  TrainingRun(const run::Config& c, dist::Communicator& m) : cfg(c), comm(m) {}
};

// The set-up of a run, in this order: checks that need nothing on disk (batch divisible by
// W, the device), the run directory and logs, the resolved resume checkpoint, the features
// and their splits, the model (broadcast from rank 0), optimizer and reducer, the options,
// and then the checkpoint's state when resuming. Heap-allocated: the loader and reducer keep
// references into it.
std::unique_ptr<TrainingRun> start_training(const run::Config& cfg, dist::Communicator& comm,
                                            const TrainOptions& options);

// The log line that opens training: data, shape, parameters, threads, ranks and device.
void log_run_summary(const TrainingRun& training);

}  // namespace lica::trainer
