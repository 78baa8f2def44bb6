#include "trainer/train.h"

#include <glog/logging.h>

#include <cmath>
#include <optional>
#include <string>

#include "common/error.h"
#include "common/metric_keys.h"
#include "data/batch.h"
#include "data/loader.h"
#include "eval/evaluate.h"
#include "trainer/global_batch.h"
#include "trainer/loss_readout.h"
#include "trainer/micro_batch.h"
#include "trainer/optimizer_step.h"
#include "trainer/progress_log.h"
#include "trainer/save_checkpoint.h"
#include "trainer/schedule.h"
#include "trainer/training_run.h"

namespace lica::trainer {
namespace {

// The seed of a step's sampling (ITM's hard negatives): a function of the run's seed and the
// step alone, so every rank, every W and a resumed run draw alike.
uint64_t sample_seed(int64_t seed, int64_t step) {
  return static_cast<uint64_t>(seed) * 0x9E3779B97F4A7C15ull + static_cast<uint64_t>(step);
}

// Whether `flag` is true on any rank. The flag travels on the run's device: the nccl
// communicator reduces CUDA tensors only. One rank needs no collective (and no wait for the
// device).
bool any_rank(dist::Communicator& comm, bool flag, const torch::Device& device) {
  if (comm.world_size() == 1) return flag;
  auto t = torch::full({1}, flag ? 1.0 : 0.0, torch::dtype(torch::kDouble).device(device));
  comm.all_reduce_sum(t);
  return t.item<double>() > 0;
}

// Is `value` better than `best` for `metric`? Any value beats none (NaN).
bool improves(const std::string& metric, double value, double best) {
  if (std::isnan(best)) return true;
  return larger_is_better(metric) ? value > best : value < best;
}

// One optimisation step on this rank's slice of the global batch; returns the global losses
// ([8] in LossValues' order, on the run's device: nothing here waits for the device).
// After it every rank holds the same updated weights (and momentum towers and queues).
torch::Tensor train_step(TrainingRun& t, const data::Batch& batch, const StepSlice& slice,
                         int64_t step) {
  auto& model = t.model;
  t.optimizer->zero_grad();
  // Every rank then holds the gradient of the global-batch loss.
  const auto losses = losses_and_gradients(model, t.momentum, t.comm, batch, slice.r0, t.loss,
                                           *t.reducer, sample_seed(t.cfg.trainer.seed, step));
  // The global losses: the sums of the ranks' shares, in one all-reduce.
  auto values = torch::stack({losses.total.detach(), losses.nce, losses.intra_video,
                              losses.intra_text, losses.itc, losses.ims, losses.lmim,
                              losses.itm})
                    .to(torch::kDouble)
                    .contiguous();
  if (t.comm.world_size() > 1) t.comm.all_reduce_sum(values);
  if (t.cfg.trainer.grad_clip > 0) clip_grad_norm(model->parameters(), t.cfg.trainer.grad_clip);
  set_learning_rate(*t.optimizer, learning_rate(t.schedule, step));
  adamw_step(*t.optimizer);
  model->clamp_logit_scale();
  if (t.momentum) {
    t.momentum->update(model);
    t.momentum->enqueue(losses.momentum_video, losses.momentum_text);
  }
  return values;
}

// The progress line and the train record after step `done`, every trainer.log_every steps.
void log_step(TrainingRun& t, int64_t done, const LossValues& loss, Throughput& window,
              double data_wait_s) {
  StepReport r;
  r.done = done;
  r.epoch = (done - 1) / t.shape.steps_per_epoch;
  r.epochs = t.cfg.trainer.epochs;
  r.total_steps = t.shape.total_steps;
  r.loss = loss;
  r.lr = learning_rate(t.schedule, done - 1);
  r.scale = t.model->scale().item<double>();
  r.samples_per_s = window.samples_per_s();
  r.step_s = window.seconds_per_step();
  r.eta_s = window.seconds_per_step() * static_cast<double>(t.shape.total_steps - done);
  r.data_wait_s = data_wait_s;
  LOG(INFO) << progress_line(r, t.loss);
  const auto record = train_record(r);
  if (t.rank0) t.metrics->write(record);
  t.progress.last_train_record = record.str();
  window.reset();
}

// Validation after an epoch that ends a multiple of eval.every_epochs; returns whether it
// gave a new best checkpoint.best_metric.
bool validate_after_epoch(TrainingRun& t, int64_t done, int64_t epoch) {
  const auto& cfg = t.cfg;
  const auto m = eval::evaluate_split(t.model, *t.file, t.file->split(cfg.data.val_split),
                                      t.eval, t.comm);
  LOG(INFO) << "val after epoch " << epoch + 1 << ": " << eval::format_metrics(m);
  const auto record = eval_record(cfg.data.val_split, done, epoch, m);
  if (t.rank0) t.metrics->write(record);
  t.progress.last_eval_record = record.str();
  if (!t.track_best) return false;
  const auto& metric = cfg.checkpoint.best_metric;
  t.progress.metric_value = eval::metric_by_name(m, metric);
  return improves(metric, t.progress.metric_value, t.progress.best_value);
}

bool validation_due(const run::Config& cfg, int64_t done, int64_t steps_per_epoch) {
  const int64_t epochs_done = done / steps_per_epoch;
  return done % steps_per_epoch == 0 && !cfg.data.val_split.empty() &&
         cfg.eval.every_epochs > 0 && epochs_done % cfg.eval.every_epochs == 0;
}

void test_at_end(TrainingRun& t, int64_t step) {
  const auto& cfg = t.cfg;
  if (cfg.data.test_split.empty()) return;
  const auto m = eval::evaluate_split(t.model, *t.file, t.file->split(cfg.data.test_split),
                                      t.eval, t.comm);
  LOG(INFO) << "test: " << eval::format_metrics(m);
  if (t.rank0) t.metrics->write(eval_record(cfg.data.test_split, step, cfg.trainer.epochs - 1, m));
  t.summary.test = m;
}

}  // namespace

TrainSummary train(const run::Config& cfg, dist::Communicator& comm, const TrainOptions& options) {
  const auto training = start_training(cfg, comm, options);
  TrainingRun& t = *training;
  log_run_summary(t);
  const EpochShape& shape = t.shape;
  data::PrefetchLoader loader(
      *t.file, rank_batch_plan(cfg, *t.file, *t.train_split, shape, comm.rank(), comm.world_size()),
      t.progress.step, shape.total_steps,
      // Not pinned with trainer.host_inputs: the caching host allocator rounds each block up
      // to a power of two (a 93 GB batch would ask for 128 GB of page-locked memory).
      {cfg.data.prefetch_batches, /*pin_memory=*/t.device.is_cuda() && !cfg.trainer.host_inputs,
       cfg.data.reader_threads});
  Throughput window;
  LossReadout readout(shape.steps_per_epoch);
  double waited_at_last_record = 0;
  const auto started = Clock::now();
  auto& summary = t.summary;
  summary.start_step = t.progress.step;
  int64_t step = t.progress.step;
  for (; step < shape.total_steps; ++step) {
    t.model->train();
    const StepSlice slice = step_slice(shape, step, comm.rank(), comm.world_size());
    // Non-blocking when pinned; with trainer.host_inputs the step copies each micro-batch.
    const auto batch = cfg.trainer.host_inputs ? loader.next() : data::batch_to(loader.next(), t.device);
    readout.record(train_step(t, batch, slice, step), step);
    // The losses are read back only where they are used: the first step, progress lines,
    // validation and checkpoints (each read also checks every step since the last one).
    std::optional<LossValues> loss;
    const auto read_loss = [&] {
      if (!loss) loss = readout.read();
      summary.last_loss = loss->total;
      return *loss;
    };
    if (step == summary.start_step) summary.first_loss = read_loss().total;
    window.add(slice.global);
    const int64_t done = step + 1;
    if (done % cfg.trainer.log_every == 0 || done == shape.total_steps) {
      log_step(t, done, read_loss(), window, loader.wait_seconds() - waited_at_last_record);
      waited_at_last_record = loader.wait_seconds();
    }
    if (options.after_step) options.after_step(done);
    bool new_best = false;
    if (validation_due(cfg, done, shape.steps_per_epoch)) {
      read_loss();  // no evaluation of a model that a non-finite loss has spoilt
      new_best = validate_after_epoch(t, done, step / shape.steps_per_epoch);
      window.reset();  // evaluation time is not training throughput
    }
    // All ranks agree on stopping: any rank that received the signal stops everyone.
    const bool stop = any_rank(comm, options.stop_requested && options.stop_requested(), t.device);
    const int64_t every = cfg.checkpoint.every_steps;
    if ((every > 0 && done % every == 0) || done == shape.total_steps || stop || new_best) {
      read_loss();  // nor a checkpoint of one
      save_checkpoint(t, done, new_best);
      window.reset();
    }
    if (stop) {
      LOG(WARNING) << "stop requested: checkpoint written after step " << done
                   << "; exiting so the job can be requeued and resumed";
      summary.stopped = true;
      summary.steps = done;
      return summary;
    }
  }
  summary.steps = step;
  LOG(INFO) << "trained " << step - summary.start_step << " steps in "
            << format_duration(seconds_since(started));
  test_at_end(t, step);
  if (t.rank0) {
    LOG(INFO) << "plot the run: python3 tools/plot_runs.py " << t.dir.string() << " --out "
              << (t.dir / "curves.png").string();
  }
  return summary;
}

}  // namespace lica::trainer
