#include "trainer/train.h"

#include <glog/logging.h>

#include <chrono>
#include <cmath>
#include <filesystem>

#include "common/logging.h"
#include "trainer/checkpoint.h"
#include "data/batch.h"
#include "data/loader.h"
#include "data/pairing.h"
#include "trainer/build_model.h"
#include "trainer/device.h"
#include "trainer/evaluate.h"
#include "dist/gradient_reducer.h"
#include "dist/shard.h"
#include "common/files.h"
#include "trainer/run_dir.h"
#include "trainer/schedule.h"
#include "trainer/step.h"

namespace lica::trainer {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

std::string format_duration(double seconds) {
  const auto s = static_cast<int64_t>(std::max(0.0, seconds));
  char buf[32];
  std::snprintf(buf, sizeof buf, "%lld:%02lld:%02lld", static_cast<long long>(s / 3600),
                static_cast<long long>(s / 60 % 60), static_cast<long long>(s % 60));
  return buf;
}

// Throughput over the steps since the last progress line.
class Throughput {
 public:
  void add(int64_t samples) { samples_ += samples, ++steps_; }
  double samples_per_s() const { return samples_ / std::max(1e-9, seconds_since(start_)); }
  double seconds_per_step() const { return seconds_since(start_) / std::max<int64_t>(1, steps_); }
  void reset() { start_ = Clock::now(), samples_ = 0, steps_ = 0; }

 private:
  Clock::time_point start_ = Clock::now();
  int64_t samples_ = 0;
  int64_t steps_ = 0;
};

// Which checkpoint, if any, this run continues from: rank 0 resolves `resume` and broadcasts
// the path, so every rank loads the same one. "" = start at step 0.
std::string resolve_resume(const std::string& resume, const std::filesystem::path& root,
                           dist::Communicator& comm) {
  std::string path;
  if (comm.rank() == 0 && !resume.empty()) {
    if (resume == "latest") {
      const auto newest = newest_valid_checkpoint(root);
      if (newest) {
        path = newest->string();
      } else {
        LOG(INFO) << "--resume latest: no checkpoint in " << root.string() << " yet, starting at step 0";
      }
    } else {
      path = resolve_checkpoint(resume).string();
    }
  }
  dist::broadcast_string(comm, path, 0);
  return path;
}

// The saved run must be the one configured: otherwise "resuming" would silently train
// something else.
void check_same_training(const std::filesystem::path& ckpt, const TrainingProgress& p,
                         const Config& cfg, int64_t steps_per_epoch, int64_t total_steps) {
  const auto diffs = training_differences(read_checkpoint_config(ckpt), cfg);
  if (!diffs.empty()) {
    std::string list;
    for (const auto& d : diffs) list += "\n  " + d;
    throw InputError("cannot resume from " + ckpt.string() +
                     ": the config differs in keys that change the training (saved -> now):" + list);
  }
  if (p.steps_per_epoch != steps_per_epoch || p.total_steps != total_steps) {
    throw InputError("cannot resume from " + ckpt.string() + ": it was written for " +
                     std::to_string(p.steps_per_epoch) + " steps/epoch and " +
                     std::to_string(p.total_steps) + " steps, this run has " +
                     std::to_string(steps_per_epoch) + " and " + std::to_string(total_steps) +
                     " (has the feature file changed?)");
  }
}

// Is `value` better than `best` for `metric`? Any value beats none (NaN).
bool improves(const std::string& metric, double value, double best) {
  if (std::isnan(best)) return true;
  return larger_is_better(metric) ? value > best : value < best;
}

// " itc 1.23 lmim 4.56": the AAI terms that are on, for the progress line.
std::string aai_terms(const LossOptions& opt, double itc, double ims, double lmim, double itm) {
  std::string out;
  char buf[64];
  const auto add = [&](const char* name, double weight, double value) {
    if (weight == 0.0) return;
    std::snprintf(buf, sizeof buf, " %s %.4f", name, value);
    out += buf;
  };
  add("itc", opt.itc.weight, itc);
  add("ims", opt.ims.weight, ims);
  add("lmim", opt.lmim.weight, lmim);
  add("itm", opt.itm_weight, itm);
  return out;
}

// The seed of a step's sampling (ITM's hard negatives): a function of the run's seed and the
// step alone, so every rank, every W and a resumed run draw alike.
uint64_t sample_seed(int64_t seed, int64_t step) {
  return static_cast<uint64_t>(seed) * 0x9E3779B97F4A7C15ull + static_cast<uint64_t>(step);
}

// Whether `flag` is true on any rank. The flag travels on the run's device: the nccl
// communicator reduces CUDA tensors only.
bool any_rank(dist::Communicator& comm, bool flag, const torch::Device& device) {
  auto t = torch::full({1}, flag ? 1.0 : 0.0, torch::dtype(torch::kDouble).device(device));
  comm.all_reduce_sum(t);
  return t.item<double>() > 0;
}

JsonLine eval_record(const std::string& split, int64_t step, int64_t epoch,
                     const RetrievalMetrics& m) {
  JsonLine line;
  line.add("type", "eval").add("split", split).add("step", step).add("epoch", epoch);
  add_metrics(line, m);
  return line;
}

}  // namespace

TrainSummary train(const Config& cfg, dist::Communicator& comm, const TrainOptions& options) {
  namespace fs = std::filesystem;
  const fs::path dir(cfg.run.dir);
  const fs::path checkpoints = dir / "checkpoints";
  const bool rank0 = comm.rank() == 0;
  const int world = comm.world_size();
  if (cfg.trainer.batch_size % world != 0) {
    throw InputError("trainer.batch_size: " + std::to_string(cfg.trainer.batch_size) +
                     " is not divisible by the " + std::to_string(world) +
                     " ranks; every rank takes an equal share of the global batch");
  }
  // Before anything is written: a device this process cannot have is an input error.
  const torch::Device device = resolve_device(cfg.trainer.device, comm.info().local_rank);
  check_backend_fits(device, comm.backend());
  if (rank0) prepare_run_dir(cfg.run.dir, !options.resume.empty());
  comm.barrier();  // the directory exists before any rank opens its log there
  // Every rank logs to its own file; only rank 0 also prints progress to the terminal.
  log_to_file((dir / (rank0 ? "train.log" : "rank" + std::to_string(comm.rank()) + ".log")).string());
  if (!rank0) FLAGS_alsologtostderr = false;
  if (rank0) write_file_atomically((dir / "config.yaml").string(), dump_config(cfg));
  if (cfg.trainer.threads > 0) torch::set_num_threads(static_cast<int>(cfg.trainer.threads));
  use_device(device, cfg.trainer.tf32);
  seed_generators(static_cast<uint64_t>(cfg.trainer.seed), device);
  const fs::path resume_from = resolve_resume(options.resume, checkpoints, comm);

  const auto file = open_features(cfg);
  const auto& train_split = file.split(cfg.data.train_split);
  // Look the evaluation splits up now, not after hours of training.
  if (!cfg.data.val_split.empty()) file.split(cfg.data.val_split);
  if (!cfg.data.test_split.empty()) file.split(cfg.data.test_split);

  const auto model_options = dual_encoder_options(cfg, file);
  model::DualEncoder model(model_options);  // initialised on the cpu, by the cpu generator
  model->to(device);  // before the optimizer and the reducer take its parameters
  dist::broadcast_parameters(comm, model->parameters());
  dist::GradientReducer reducer(comm, model->parameters(), cfg.dist.bucket_mb);
  auto optimizer = make_adamw(*model, cfg.trainer.lr, cfg.trainer.weight_decay);
  const auto pairing = data::parse_pairing(cfg.data.pairing);
  const int64_t batch = cfg.trainer.batch_size;
  const auto samples_per_epoch = static_cast<int64_t>(
      pairing == data::Pairing::kOneCaption ? train_split.videos.size() : train_split.texts.size());
  const int64_t steps_per_epoch = cfg.data.drop_last ? samples_per_epoch / batch
                                                     : (samples_per_epoch + batch - 1) / batch;
  if (steps_per_epoch == 0) {
    throw InputError("trainer.batch_size: " + std::to_string(batch) + " exceeds the " +
                     std::to_string(samples_per_epoch) + " training samples of split '" +
                     cfg.data.train_split + "' in " + file.path() +
                     " (lower it or set data.drop_last: false)");
  }
  const int64_t total_steps = steps_per_epoch * cfg.trainer.epochs;
  const ScheduleOptions schedule{
      cfg.trainer.lr, total_steps,
      static_cast<int64_t>(std::llround(cfg.trainer.warmup_fraction * total_steps)),
      cfg.trainer.min_lr_ratio};
  const EvalOptions eval_opt = eval_options(cfg);
  const LossOptions loss_opt = loss_options(cfg);
  // ITC and IMS: momentum towers (a copy of the broadcast model, so the same on every rank)
  // and queues, updated identically by every rank after every step.
  model::Momentum momentum{nullptr};
  if (loss_opt.needs_momentum()) {
    momentum = model::Momentum(model_options, model, cfg.model.momentum.m,
                               cfg.model.momentum.queue_size);
  }
  const std::string& best_metric = cfg.checkpoint.best_metric;
  const bool track_best = best_metric != "none" && !cfg.data.val_split.empty();

  // Where training starts: step 0, or everything a checkpoint saved.
  TrainingProgress progress;
  progress.steps_per_epoch = steps_per_epoch;
  progress.total_steps = total_steps;
  progress.seed = cfg.trainer.seed;
  progress.best_metric = track_best ? best_metric : "";
  if (!resume_from.empty()) {
    const auto t0 = Clock::now();
    progress = read_progress(resume_from);
    check_same_training(resume_from, progress, cfg, steps_per_epoch, total_steps);
    load_model(resume_from, *model);
    load_optimizer(resume_from, *optimizer);
    if (momentum) load_momentum(resume_from, *momentum);
    // Each rank continues its own generator; a rank the saved run did not have takes one of
    // the saved ones (its dropout masks then differ from a run that never stopped).
    const auto states = load_rng_states(resume_from);
    set_rng_state(states[comm.rank() % states.size(0)]);
    const auto cuda_states = load_cuda_rng_states(resume_from);
    if (device.is_cuda() && cuda_states.defined()) {
      set_rng_state(cuda_states[comm.rank() % cuda_states.size(0)], device);
    }
    LOG(INFO) << "resumed from " << resume_from.string() << " (step " << progress.step << "/"
              << total_steps << ", epoch " << progress.epoch << ", written by "
              << progress.world_size << " rank(s)) in " << seconds_since(t0) << " s";
  }
  if (rank0 && !options.resume.empty()) {
    // The log and the checkpoint directory continue from this checkpoint: records and
    // checkpoints past it are set aside, never deleted.
    rewind_metrics(cfg.run.dir, progress.metrics_bytes);
    const auto moved = set_aside_newer_checkpoints(checkpoints, progress.step);
    for (const auto& m : moved) LOG(WARNING) << "moved " << m << " (newer than the resumed step) to " << (checkpoints / "superseded").string();
    if (!resume_from.empty()) write_pointer(checkpoints, "latest", resume_from.filename().string());
  }
  std::optional<MetricsLog> metrics;  // rank 0 writes the run's records
  if (rank0) metrics.emplace((dir / "metrics.jsonl").string());

  int64_t params = 0;
  for (const auto& p : model->parameters()) params += p.numel();
  LOG(INFO) << "training on " << file.path() << ": " << samples_per_epoch << " samples/epoch, "
            << steps_per_epoch << " steps/epoch x " << cfg.trainer.epochs << " epochs, batch "
            << batch << ", " << params << " parameters, " << torch::get_num_threads()
            << " threads per rank, " << world << " rank(s) on " << comm.backend() << ", device "
            << device.str() << " (" << cfg.trainer.precision
            << (device.is_cuda() && cfg.trainer.tf32 ? ", tf32" : "") << ")"
            << "; run dir " << cfg.run.dir;

  // Every rank takes part (the generator states are gathered); rank 0 writes.
  TrainSummary summary;
  const auto save_checkpoint = [&](int64_t done, bool new_best) {
    const auto t0 = Clock::now();
    const auto states = comm.all_gather(rng_state().unsqueeze(0));  // [W, n]
    const auto cuda_states = device.is_cuda()
                                 ? comm.all_gather(rng_state(device).unsqueeze(0))  // [W, m]
                                 : torch::Tensor();
    progress.step = done;
    progress.epoch = done / steps_per_epoch;
    progress.step_in_epoch = done % steps_per_epoch;
    progress.world_size = world;
    const std::string name = "step_" + std::to_string(done);
    if (new_best) progress.best_checkpoint = name, progress.best_value = progress.metric_value;
    if (rank0) {
      progress.metrics_bytes = metrics->bytes();
      const auto files = checkpoint_files(progress, cfg, *model, *optimizer, states,
                                          momentum ? momentum.get() : nullptr, cuda_states);
      int64_t bytes = 0;
      for (const auto& f : files) bytes += static_cast<int64_t>(f.bytes.size());
      const auto path = write_checkpoint(checkpoints, done, files);
      if (new_best) write_pointer(checkpoints, "best", name);
      const auto deleted = prune_checkpoints(checkpoints, cfg.checkpoint.keep_last,
                                             {progress.best_checkpoint});
      LOG(INFO) << "checkpoint " << path.string() << ": " << bytes / 1e6 << " MB in "
                << seconds_since(t0) << " s" << (new_best ? " (best " + best_metric + ")" : "")
                << (deleted.empty() ? "" : ", deleted " + std::to_string(deleted.size()) + " older");
    }
    comm.barrier();  // no rank leaves (or exits) before the checkpoint is on disk
    summary.last_checkpoint = (checkpoints / name).string();
  };

  // The global batch of a step is the same at every W; this rank reads only its contiguous
  // slice of it: samples [begin + r0, begin + r1) of the epoch's order.
  struct StepSlice {
    int64_t begin, global, r0, r1;
  };
  const auto slice_of = [&](int64_t step) {
    const int64_t begin = step % steps_per_epoch * batch;
    const int64_t global = std::min<int64_t>(samples_per_epoch, begin + batch) - begin;
    const auto [r0, r1] = dist::shard_range(global, comm.rank(), world);
    return StepSlice{begin, global, r0, r1};
  };
  // Called on the loader thread, in step order.
  data::BatchPlan plan = [&, samples = std::vector<data::Sample>(),
                          samples_epoch = int64_t{-1}](int64_t step) mutable {
    const int64_t epoch = step / steps_per_epoch;
    if (epoch != samples_epoch) {
      samples = data::epoch_samples(file, train_split, pairing,
                                    static_cast<uint64_t>(cfg.trainer.seed), epoch);
      samples_epoch = epoch;
    }
    const StepSlice s = slice_of(step);
    data::BatchRows rows;
    for (int64_t k = s.begin + s.r0; k < s.begin + s.r1; ++k) {
      rows.video_rows.push_back(samples[static_cast<size_t>(k)].video);
      rows.text_rows.push_back(samples[static_cast<size_t>(k)].text);
    }
    return rows;
  };
  data::PrefetchLoader loader(file, std::move(plan), progress.step, total_steps,
                              {cfg.data.prefetch_batches, /*pin_memory=*/device.is_cuda()});

  Throughput window;
  double waited_at_last_record = 0;
  const auto started = Clock::now();
  summary.start_step = progress.step;
  int64_t step = progress.step;
  for (; step < total_steps; ++step) {
    const int64_t epoch = step / steps_per_epoch;
    const int64_t i = step % steps_per_epoch;
    model->train();
    const StepSlice slice = slice_of(step);
    const auto b = batch_to(loader.next(), device);  // non-blocking from pinned memory
    const auto losses =
        step_losses(model, momentum, comm, b, slice.r0, loss_opt, sample_seed(cfg.trainer.seed, step));
    optimizer->zero_grad();
    reducer.prepare();
    losses.total.backward();
    reducer.finish();  // every rank now holds the gradient of the global-batch loss
    // The global losses: the sums of the ranks' shares, in one all-reduce.
    auto values = torch::stack({losses.total.detach(), losses.nce, losses.intra_video,
                                losses.intra_text, losses.itc, losses.ims, losses.lmim,
                                losses.itm})
                      .to(torch::kDouble)
                      .contiguous();
    comm.all_reduce_sum(values);
    const double loss_value = values[0].item<double>();
    if (!std::isfinite(loss_value)) {
      throw Error("non-finite loss " + std::to_string(loss_value) + " at step " +
                  std::to_string(step + 1) + " (epoch " + std::to_string(epoch) + ")");
    }
    if (cfg.trainer.grad_clip > 0) {
      torch::nn::utils::clip_grad_norm_(model->parameters(), cfg.trainer.grad_clip);
    }
    const double lr = learning_rate(schedule, step);
    set_learning_rate(*optimizer, lr);
    optimizer->step();
    model->clamp_logit_scale();
    if (momentum) {
      momentum->update(model);
      momentum->enqueue(losses.momentum_video, losses.momentum_text);
    }

    if (step == summary.start_step) summary.first_loss = loss_value;
    summary.last_loss = loss_value;
    window.add(slice.global);
    const int64_t done = step + 1;
    if (done % cfg.trainer.log_every == 0 || done == total_steps) {
      const double scale = model->scale().item<double>();
      const double eta = window.seconds_per_step() * static_cast<double>(total_steps - done);
      const double nce = values[1].item<double>(), intra_v = values[2].item<double>(),
                   intra_t = values[3].item<double>();
      const double itc = values[4].item<double>(), ims = values[5].item<double>(),
                   lmim = values[6].item<double>(), itm = values[7].item<double>();
      char line[320];
      std::snprintf(line, sizeof line,
                    "epoch %lld/%lld step %lld/%lld loss %.4f (nce %.4f intra_v %.4f "
                    "intra_t %.4f%s) lr %.3g scale %.2f samples/s %.0f eta %s",
                    static_cast<long long>(epoch + 1), static_cast<long long>(cfg.trainer.epochs),
                    static_cast<long long>(done), static_cast<long long>(total_steps), loss_value,
                    nce, intra_v, intra_t, aai_terms(loss_opt, itc, ims, lmim, itm).c_str(), lr,
                    scale, window.samples_per_s(), format_duration(eta).c_str());
      LOG(INFO) << line;
      const auto record = JsonLine()
                              .add("type", "train")
                              .add("step", done)
                              .add("epoch", epoch)
                              .add("loss", loss_value)
                              .add("loss_nce", nce)
                              .add("loss_intra_v", intra_v)
                              .add("loss_intra_t", intra_t)
                              .add("loss_itc", itc)
                              .add("loss_ims", ims)
                              .add("loss_lmim", lmim)
                              .add("loss_itm", itm)
                              .add("lr", lr)
                              .add("logit_scale", scale)
                              .add("samples_per_s", window.samples_per_s())
                              .add("step_s", window.seconds_per_step())
                              .add("data_wait_s", loader.wait_seconds() - waited_at_last_record);
      waited_at_last_record = loader.wait_seconds();
      if (rank0) metrics->write(record);
      progress.last_train_record = record.str();
      window.reset();
    }
    if (options.after_step) options.after_step(done);

    bool new_best = false;
    const bool epoch_done = i + 1 == steps_per_epoch;
    if (epoch_done && !cfg.data.val_split.empty() && cfg.eval.every_epochs > 0 &&
        (epoch + 1) % cfg.eval.every_epochs == 0) {
      const auto m = evaluate_split(model, file, file.split(cfg.data.val_split), eval_opt, comm);
      LOG(INFO) << "val after epoch " << epoch + 1 << ": " << format_metrics(m);
      const auto record = eval_record(cfg.data.val_split, done, epoch, m);
      if (rank0) metrics->write(record);
      progress.last_eval_record = record.str();
      if (track_best) {
        progress.metric_value = metric_by_name(m, best_metric);
        new_best = improves(best_metric, progress.metric_value, progress.best_value);
      }
      window.reset();  // evaluation time is not training throughput
    }
    // All ranks agree on stopping: any rank that received the signal stops everyone.
    const bool stop_here = options.stop_requested && options.stop_requested();
    const bool stop = any_rank(comm, stop_here, device);
    const int64_t every = cfg.checkpoint.every_steps;
    if ((every > 0 && done % every == 0) || done == total_steps || stop || new_best) {
      save_checkpoint(done, new_best);
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
  if (!cfg.data.test_split.empty()) {
    const auto m = evaluate_split(model, file, file.split(cfg.data.test_split), eval_opt, comm);
    LOG(INFO) << "test: " << format_metrics(m);
    if (rank0) metrics->write(eval_record(cfg.data.test_split, step, cfg.trainer.epochs - 1, m));
    summary.test = m;
  }
  return summary;
}

}  // namespace lica::trainer
