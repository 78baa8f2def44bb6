#include "trainer/training_run.h"

#include <glog/logging.h>

#include <cmath>

#include "common/error.h"
#include "common/files.h"
#include "common/logging.h"
#include "data/validate_rows.h"
#include "eval/eval_options.h"
#include "run/backend.h"
#include "run/device.h"
#include "run/model_options.h"
#include "trainer/loss_options.h"
#include "trainer/resume.h"

namespace lica::trainer {
namespace {

// Before anything is written: a batch W cannot share, or a device this process cannot
// have, is an input error.
void check_fits_the_ranks(TrainingRun& t) {
  const int world = t.comm.world_size();
  if (t.cfg.trainer.batch_size % world != 0) {
    throw InputError("trainer.batch_size: " + std::to_string(t.cfg.trainer.batch_size) +
                     " is not divisible by the " + std::to_string(world) +
                     " ranks; every rank takes an equal share of the global batch");
  }
  t.device = run::resolve_device(t.cfg.trainer.device, t.comm.info().local_rank,
                                 t.cfg.dist.ranks_per_gpu);
  run::check_backend_fits(t.device, t.comm.backend());
}

// The run directory (locked by rank 0), every rank's log file, the resolved config;
// threads, device, seeds.
void prepare_process(TrainingRun& t, bool resuming) {
  const auto& cfg = t.cfg;
  if (t.rank0) {
    t.lock = run::RunLock::take(cfg.run.dir);  // before anything in it is read or written
    run::prepare_run_dir(cfg.run.dir, resuming);
  }
  t.comm.barrier();  // the directory exists before any rank opens its log there
  // Every rank logs to its own file; only rank 0 also prints progress to the terminal.
  const std::string log = t.rank0 ? "train.log" : "rank" + std::to_string(t.comm.rank()) + ".log";
  log_to_file((t.dir / log).string());
  if (!t.rank0) FLAGS_alsologtostderr = false;
  if (t.rank0 && !t.lock.took_over_from().empty()) {
    LOG(WARNING) << t.lock.path() << ": took over the lock of " << t.lock.took_over_from()
                 << ", which ended without releasing it (killed, or its job is over)";
  }
  if (t.rank0) write_file_atomically((t.dir / "config.yaml").string(), run::dump_config(cfg));
  if (cfg.trainer.threads > 0) torch::set_num_threads(static_cast<int>(cfg.trainer.threads));
  run::use_device(t.device, cfg.trainer.tf32);
  run::seed_generators(static_cast<uint64_t>(cfg.trainer.seed), t.device);
}

// data.validate full: every rank checks its share of the rows of the splits in use, before
// the first step (a bad row throws, and a failing rank ends the job).
void check_feature_rows(dist::Communicator& comm, const run::Config& cfg,
                        const data::FeatureFile& file) {
  std::vector<std::string> splits{cfg.data.train_split};
  for (const auto& s : {cfg.data.val_split, cfg.data.test_split}) {
    if (!s.empty()) splits.push_back(s);
  }
  const auto check = data::check_rows_finite(file, data::rows_of_splits(file, splits),
                                             comm.rank(), comm.world_size());
  comm.barrier();  // every share checked before any rank starts
  LOG(INFO) << "data.validate full: " << check.video_rows << " video and " << check.text_rows
            << " caption rows finite (" << check.megabytes << " MB in " << check.seconds
            << " s on this rank)";
}

// The features, with every split the run will use looked up now, not after hours of training.
void open_data(TrainingRun& t) {
  const auto& cfg = t.cfg;
  t.file.emplace(run::open_features(cfg));
  t.train_split = &t.file->split(cfg.data.train_split);
  if (!cfg.data.val_split.empty()) t.file->split(cfg.data.val_split);
  if (!cfg.data.test_split.empty()) t.file->split(cfg.data.test_split);
  t.shape = epoch_shape(cfg, *t.file, *t.train_split);
  if (cfg.data.validate == "full") check_feature_rows(t.comm, cfg, *t.file);
}

// The model (initialised on the cpu by the cpu generator, then moved, then rank 0's weights
// broadcast), the reducer and optimizer over its parameters, and the momentum towers.
void build_model(TrainingRun& t) {
  const auto& cfg = t.cfg;
  t.model_options = run::dual_encoder_options(cfg, *t.file);
  t.model = model::DualEncoder(t.model_options);
  t.model->to(t.device);  // before the optimizer and the reducer take its parameters
  dist::broadcast_parameters(t.comm, t.model->parameters());
  t.reducer.emplace(t.comm, t.model->parameters(), cfg.dist.bucket_mb);
  t.optimizer = make_adamw(*t.model, cfg.trainer.lr, cfg.trainer.weight_decay);
  t.loss = loss_options(cfg);
  // ITC and IMS: momentum towers (a copy of the broadcast model, so the same on every rank)
  // and queues, updated identically by every rank after every step.
  if (t.loss.needs_momentum()) {
    t.momentum = model::Momentum(t.model_options, t.model, cfg.model.momentum.m,
                                 cfg.model.momentum.queue_size);
  }
}

void set_options(TrainingRun& t) {
  const auto& cfg = t.cfg;
  const int64_t total = t.shape.total_steps;
  t.schedule = ScheduleOptions{
      cfg.trainer.lr, total,
      static_cast<int64_t>(std::llround(cfg.trainer.warmup_fraction * total)),
      cfg.trainer.min_lr_ratio};
  t.eval = eval::eval_options(cfg);
  t.track_best = cfg.checkpoint.best_metric != "none" && !cfg.data.val_split.empty();
  t.progress.steps_per_epoch = t.shape.steps_per_epoch;
  t.progress.total_steps = total;
  t.progress.seed = cfg.trainer.seed;
  t.progress.best_metric = t.track_best ? cfg.checkpoint.best_metric : "";
}

}  // namespace

std::unique_ptr<TrainingRun> start_training(const run::Config& cfg, dist::Communicator& comm,
                                            const TrainOptions& options) {
  auto t = std::make_unique<TrainingRun>(cfg, comm);
  t->dir = cfg.run.dir;
  t->checkpoints = t->dir / "checkpoints";
  t->rank0 = comm.rank() == 0;
  check_fits_the_ranks(*t);
  prepare_process(*t, !options.resume.empty());
  open_data(*t);
  build_model(*t);
  set_options(*t);
  if (!options.resume.empty()) restore_checkpoint(*t, options.resume);
  if (t->rank0 && !options.resume.empty()) continue_run_dir(*t);
  if (t->rank0) t->metrics.emplace((t->dir / "metrics.jsonl").string());
  return t;
}

void log_run_summary(const TrainingRun& t) {
  const auto& cfg = t.cfg;
  int64_t params = 0;
  for (const auto& p : t.model->parameters()) params += p.numel();
  LOG(INFO) << "training on " << t.file->path() << ": " << t.shape.samples_per_epoch
            << " samples/epoch, " << t.shape.steps_per_epoch << " steps/epoch x "
            << cfg.trainer.epochs << " epochs, batch " << t.shape.batch << ", " << params
            << " parameters, " << torch::get_num_threads() << " threads per rank, "
            << t.comm.world_size() << " rank(s) on " << t.comm.backend() << ", device "
            << t.device.str() << " (" << cfg.trainer.precision
            << (t.device.is_cuda() && cfg.trainer.tf32 ? ", tf32" : "") << ")"
            << "; run dir " << cfg.run.dir;
}

}  // namespace lica::trainer
