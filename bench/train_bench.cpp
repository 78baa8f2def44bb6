// train_bench: full training steps of the model a config describes, on random inputs, for a
// list of global batch sizes with LICA off and on (in each LICA form asked for). Prints one
// JSON line per configuration: samples/s, the time split of a step, the LICA term's own
// cost, peak memory, model FLOPs and MFU; a configuration that runs out of memory prints
// {"B": ..., "oom": true} and the bench goes on (W = 1), so the largest B that fits can be
// read off. bench/reference_step.py prints the same lines for PyTorch eager
// (docs/performance.md).
//   build/train_bench [--config C] [--set k=v ...] [--batches 256,1024] [--device cuda] ...
//   mpirun -np W build/train_bench ...     the global batch split across W ranks
//
// A step is the trainer's: step_losses (encoders, all-gather, every loss term), backward
// with the bucketed gradient all-reduce, the exposed wait for it, gradient clipping and AdamW
// as the trainer does them (trainer/optimizer_step.h),
// the logit-scale clamp. The forward share is timed by encoding the same batch once more
// (the encoders alone), so loss = step_losses - forward; the LICA term's share by running
// the same step's losses and backward once more without the term (λ = 0), so
// lica = (losses - losses without) + (backward - backward without). Those extra passes are
// not counted in the step time; on CUDA every clock read follows a device synchronise. With
// trainer.micro_batch the step is micro_batched_step (losses_ms holds the encoders' two
// passes, the losses and backward; backward_ms is 0) and the LICA share compares two of them.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <memory>
#include <new>
#include <string>
#include <vector>

#include <torch/csrc/jit/serialization/pickle.h>
#if __has_include(<torch/csrc/autograd/profiler_legacy.h>)
#include <torch/csrc/autograd/profiler_legacy.h>
#endif

#include "bench_util.h"
#include "common/cli.h"
#include "common/cpu_memory.h"
#include "common/error.h"
#include "common/json_line.h"
#include "common/logging.h"
#include "data/batch.h"
#include "dist/abort_on_error.h"
#include "dist/communicator.h"
#include "dist/gradient_reducer.h"
#include "dist/shard.h"
#include "model/autocast_guard.h"
#include "run/backend.h"
#include "run/config.h"
#include "run/device.h"
#include "run/model_options.h"
#include "trainer/loss_options.h"
#include "trainer/micro_batch.h"
#include "trainer/optimizer_step.h"
#include "trainer/schedule.h"
#include "trainer/step.h"


namespace {

namespace tr = lica::trainer;
using lica::bench::Clock;
using lica::bench::ms_since;

// --precision, as the trainer's settings: fp32 is trainer.precision fp32 with trainer.tf32
// off (fp32 matmuls, LibTorch's default), tf32 the same with trainer.tf32 on, bf16 is
// trainer.precision bf16 (the encoders' forward autocast to bf16, the losses in fp32).
std::vector<std::string> precision_overrides(const std::string& precision) {
  if (precision == "fp32") return {"trainer.precision=fp32", "trainer.tf32=false"};
  if (precision == "tf32") return {"trainer.precision=fp32", "trainer.tf32=true"};
  if (precision == "bf16") return {"trainer.precision=bf16"};
  throw lica::InputError("--precision: got '" + precision + "', expected fp32, tf32 or bf16");
}

// Dense peak of one H100 SXM in TFLOPS for the precision's matrix products: bf16 tensor
// cores 989, TF32 tensor cores 495, fp32 without tensor cores 67.
double h100_peak_tflops(const std::string& precision) {
  if (precision == "bf16") return 989.0;
  if (precision == "tf32") return 495.0;
  return 67.0;
}

// Model FLOPs of one training step on the global batch B, forward and backward, counted
// from the matrix products only (elementwise work, softmaxes, LayerNorm, the divergence
// terms and AdamW are not; neither are GPO's GRU, the fusion encoder or the LMIM heads):
//  - a linear layer with P weights in its matrix, applied to n rows: 2·P·n forward and
//    4·P·n backward (gradients of its input and of its weight), 6·P·n; the input
//    projections Dv->D and Dt->D need no input gradient (the features are data): 4·P·n;
//  - a transformer layer of width D: 12·D² weights in matrices (attention in-projection
//    3·D², out-projection D², MLP 8·D²), applied to every one of the n positions, padded
//    ones included (they are computed too), plus attention scores and values, QKᵀ and AV:
//    2·n²·D multiply-adds forward, 12·n²·D FLOPs with backward; per layer and sample:
//    72·D²·n + 12·n²·D;
//  - InfoNCE: the logits s·V·Tᵀ and s·T·Vᵀ of the whole batch, 2·B²·D multiply-adds:
//    12·B²·D with backward;
//  - LICA: S = s·V·Tᵀ once more, 6·B²·D with backward, and the affinities V·Vᵀ and T·Tᵀ
//    (forward only, no gradient): 4·B²·D; with source `input` the affinities of the mean
//    input features instead: 2·B²·(Dv + Dt).
// Under W ranks every rank builds LICA's full S; the count is the model's, once.
// bench/reference_step.py's step_flops() is the same formula: keep the two equal.
double step_flops(const lica::run::Config& cfg, const lica::run::FeatureShape& shape, int64_t batch, bool lica) {
  const double B = static_cast<double>(batch), D = static_cast<double>(cfg.model.embed_dim);
  const double F = static_cast<double>(shape.frames), L = static_cast<double>(shape.tokens);
  const double Dv = static_cast<double>(shape.video_dim), Dt = static_cast<double>(shape.text_dim);
  const auto layer = [D](double n) { return 72.0 * D * D * n + 12.0 * n * n * D; };
  double per_sample = 0.0;
  if (shape.video_dim != cfg.model.embed_dim) per_sample += 4.0 * Dv * D * F;
  if (cfg.model.video.encoder == "seqTransf") {
    per_sample += static_cast<double>(cfg.model.video.layers) * layer(F);
  }
  if (shape.text_dim != cfg.model.embed_dim) per_sample += 4.0 * Dt * D * L;
  per_sample += static_cast<double>(cfg.model.text.layers) * layer(L);
  double flops = per_sample * B + 12.0 * B * B * D;
  if (lica) {
    flops += 6.0 * B * B * D;
    flops += cfg.loss.lica.source == "input" ? 2.0 * B * B * (Dv + Dt) : 4.0 * B * B * D;
  }
  return flops;
}

// Random features of the shape, zero past each row's random length (F/2..F frames,
// L/2..L tokens), as the loader pads them. Made in place on the host (a million rows are
// 93 GB at the widths: no temporaries of that size), then copied to `device`, or
// left on the host (trainer.host_inputs: the step copies a micro-batch at a time).
lica::data::Batch random_batch(int64_t rows, const lica::run::FeatureShape& shape,
                               const torch::Device& device, uint64_t seed) {
  torch::manual_seed(seed);
  const auto masked = [rows](int64_t len, int64_t width, torch::Tensor* features) {
    const auto lengths = torch::randint(std::max<int64_t>(1, len / 2), len + 1, {rows, 1});
    auto mask = torch::arange(len).unsqueeze(0) < lengths;  // [rows, len]
    *features = torch::empty({rows, len, width});
    features->normal_();
    features->mul_(mask.unsqueeze(-1).to(torch::kFloat));
    return mask;
  };
  lica::data::Batch b;
  b.video_mask = masked(shape.frames, shape.video_dim, &b.video);
  b.text_mask = masked(shape.tokens, shape.text_dim, &b.text);
  b.video_index = torch::arange(rows);
  b.text_index = torch::arange(rows);
  return lica::data::batch_to(b, device);
}

// Mean milliseconds per measured step.
struct Timings {
  double losses = 0, forward = 0, backward = 0, reduce = 0, optimizer = 0;
  double losses_without_lica = 0, backward_without_lica = 0;
  double step() const { return losses + backward + reduce + optimizer; }
  void add(const Timings& t) {
    losses += t.losses, forward += t.forward, backward += t.backward, reduce += t.reduce;
    optimizer += t.optimizer, losses_without_lica += t.losses_without_lica;
    backward_without_lica += t.backward_without_lica;
  }
  void divide(double n) {
    for (double* f : {&losses, &forward, &backward, &reduce, &optimizer, &losses_without_lica,
                      &backward_without_lica}) {
      *f /= n;
    }
  }
};

struct Measurement {
  Timings ms;
  int64_t params = 0;
  int64_t peak_bytes = 0;
};

struct Run {
  lica::dist::Communicator& comm;
  torch::Device device;
  lica::run::FeatureShape shape;
  int64_t warmup, steps;
  std::string profile_path;  // --profile: LibTorch's profiler over the timed steps
};

// LibTorch's (legacy) profiler from construction to destruction, writing a Chrome trace of
// every op to `path`; nothing when `path` is empty or this LibTorch lacks it.
class Profile {
 public:
  explicit Profile(const std::string& path) {
#if __has_include(<torch/csrc/autograd/profiler_legacy.h>)
    if (!path.empty()) record_ = std::make_unique<torch::autograd::profiler::RecordProfile>(path);
#else
    if (!path.empty()) throw lica::InputError("--profile: this LibTorch has no legacy profiler");
#endif
  }

 private:
#if __has_include(<torch/csrc/autograd/profiler_legacy.h>)
  std::unique_ptr<torch::autograd::profiler::RecordProfile> record_;
#endif
};

// The model every configuration starts from: seeded by trainer.seed, the same on every rank.
lica::model::DualEncoder seeded_model(const Run& run, const lica::run::Config& cfg) {
  lica::run::seed_generators(static_cast<uint64_t>(cfg.trainer.seed), run.device);
  lica::model::DualEncoder model(lica::run::dual_encoder_options(cfg, run.shape));
  model->to(run.device);
  model->train();
  lica::dist::broadcast_parameters(run.comm, model->parameters());
  return model;
}

// This rank's share of the global batch, random and seeded per rank.
lica::data::Batch rank_batch(const Run& run, const lica::run::Config& cfg) {
  const auto [r0, r1] =
      lica::dist::shard_range(cfg.trainer.batch_size, run.comm.rank(), run.comm.world_size());
  return random_batch(r1 - r0, run.shape,
                      cfg.trainer.host_inputs ? torch::Device(torch::kCPU) : run.device,
                      static_cast<uint64_t>(cfg.trainer.seed) +
                          1000003u * static_cast<uint64_t>(run.comm.rank() + 1));
}

// One step's losses and gradients from the seeded model, with the weights and the inputs
// they came from, in a file Python's torch.load reads: `reference_step.py --check-step`
// runs its own step from the same weights and inputs and compares (docs/performance.md).
void dump_step(const Run& run, const lica::run::Config& cfg, const std::string& path) {
  auto model = seeded_model(run, cfg);
  const auto batch = rank_batch(run, cfg);
  const lica::model::Momentum no_momentum{nullptr};
  c10::Dict<std::string, torch::Tensor> out;
  for (const auto& p : model->named_parameters()) {
    out.insert("param." + p.key(), p.value().detach().clone().cpu());
  }
  auto losses = tr::step_losses(model, no_momentum, run.comm, batch, 0, tr::loss_options(cfg));
  losses.total.backward();
  for (const auto& p : model->named_parameters()) {
    if (p.value().grad().defined()) out.insert("grad." + p.key(), p.value().grad().cpu());
  }
  out.insert("loss", losses.total.detach().cpu());
  out.insert("lica_weight", torch::tensor(cfg.loss.lica.weight, torch::kDouble));
  out.insert("video", batch.video.cpu());
  out.insert("video_mask", batch.video_mask.cpu());
  out.insert("text", batch.text.cpu());
  out.insert("text_mask", batch.text_mask.cpu());
  const auto bytes = torch::pickle_save(c10::IValue(out));
  std::ofstream file(path, std::ios::binary);
  file.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!file.good()) throw lica::InputError("--dump-step: cannot write '" + path + "'");
}

Measurement measure(const Run& run, const lica::run::Config& cfg) {
  auto& comm = run.comm;
  const auto& device = run.device;
  // Every timed part starts with the device idle and, under W > 1, every rank at the same
  // point, so one rank's lag is not counted as another's communication.
  const auto sync = [&] { lica::bench::synchronize(device); };
  const auto start = [&] {
    sync();
    if (comm.world_size() > 1) comm.barrier();
    return Clock::now();
  };
  auto model = seeded_model(run, cfg);
  auto optimizer = tr::make_adamw(*model, cfg.trainer.lr, cfg.trainer.weight_decay);
  lica::dist::GradientReducer reducer(comm, model->parameters(), cfg.dist.bucket_mb);
  const auto loss_opt = tr::loss_options(cfg);
  auto without_lica = loss_opt;
  without_lica.lica_weight = 0.0;
  const bool lica = loss_opt.lica_weight > 0.0;
  const auto [r0, r1] = lica::dist::shard_range(cfg.trainer.batch_size, comm.rank(), comm.world_size());
  const auto batch = rank_batch(run, cfg);
  const lica::model::Momentum no_momentum{nullptr};

  Measurement out;
  for (const auto& p : model->parameters()) out.params += p.numel();
  lica::bench::reset_peak_memory(device);
  std::unique_ptr<Profile> profile;
  for (int64_t i = 0; i < run.warmup + run.steps; ++i) {
    if (i == run.warmup) profile = std::make_unique<Profile>(run.profile_path);
    Timings t;
    {
      // The step.
      auto t0 = start();
      if (loss_opt.micro_batch > 0) {
        // Micro-batches: forward, losses and backward are one call (losses_ms; backward_ms 0).
        optimizer->zero_grad();
        tr::micro_batched_step(model, no_momentum, comm, batch, r0, loss_opt, 0);
        sync();
        t.losses = ms_since(t0);
        t0 = Clock::now();
        reducer.reduce_accumulated();
      } else {
        auto losses = tr::step_losses(model, no_momentum, comm, batch, r0, loss_opt);
        sync();
        t.losses = ms_since(t0);
        t0 = Clock::now();
        optimizer->zero_grad();
        reducer.prepare();
        losses.total.backward();
        sync();
        t.backward = ms_since(t0);
        t0 = Clock::now();
        reducer.finish();
      }
      sync();
      t.reduce = ms_since(t0);
      t0 = Clock::now();
      if (cfg.trainer.grad_clip > 0) tr::clip_grad_norm(model->parameters(), cfg.trainer.grad_clip);
      tr::adamw_step(*optimizer);
      model->clamp_logit_scale();
      sync();
      t.optimizer = ms_since(t0);
    }
    // The extra passes run after the step, each allocating what the one before freed, as
    // the step allocates what they freed: none of them pays for fresh memory alone (on the
    // CPU that is page faults; the forward pass first would look slower than the step).
    if (lica) {
      // The same losses without the LICA term, forward and backward; the hooks are not
      // armed (outside prepare/finish) and the next step's zero_grad() discards the
      // gradients.
      auto t0 = start();
      if (loss_opt.micro_batch > 0) {
        tr::micro_batched_step(model, no_momentum, comm, batch, r0, without_lica, 0);
        sync();
        t.losses_without_lica = ms_since(t0);
      } else {
        auto base = tr::step_losses(model, no_momentum, comm, batch, r0, without_lica);
        sync();
        t.losses_without_lica = ms_since(t0);
        t0 = Clock::now();
        base.total.backward();
        sync();
        t.backward_without_lica = ms_since(t0);
      }
    }
    {
      // The encoders alone, in the precision step_losses runs them in (a micro-batch at a
      // time with trainer.micro_batch, so this pass does not set the peak memory).
      const auto t0 = start();
      {
        lica::model::AutocastGuard autocast(device, loss_opt.precision);
        const int64_t n = batch.video.size(0);
        const int64_t chunk = loss_opt.micro_batch > 0 ? loss_opt.micro_batch : n;
        for (int64_t a = 0; a < n; a += chunk) {
          const int64_t z = std::min(n, a + chunk);
          const auto rows = lica::data::rows_to(batch, a, z, device);  // host_inputs: a copy
          model->encode_video_sequence(rows.video, rows.video_mask);
          model->encode_text_sequence(rows.text, rows.text_mask);
        }
      }
      sync();
      t.forward = ms_since(t0);
    }
    if (i >= run.warmup) out.ms.add(t);
  }
  profile.reset();
  out.ms.divide(static_cast<double>(std::max<int64_t>(run.steps, 1)));
  out.peak_bytes = lica::bench::peak_memory_bytes(device);
  return out;
}

// The config of one configuration: batch B, LICA on (λ = loss.lica.weight, 1 if 0) in
// `form`, or off.
lica::run::Config configuration(const lica::run::Config& base, int64_t B, bool on, const std::string& form) {
  lica::run::Config cfg = base;
  cfg.trainer.batch_size = B;
  cfg.loss.lica.weight = on ? (base.loss.lica.weight > 0 ? base.loss.lica.weight : 1.0) : 0.0;
  if (on) lica::run::apply_override(cfg, "loss.lica.form=" + form);
  lica::run::validate(cfg, "train_bench");
  return cfg;
}

bool is_out_of_memory(const std::exception& e) {
  if (dynamic_cast<const c10::OutOfMemoryError*>(&e) || dynamic_cast<const std::bad_alloc*>(&e)) {
    return true;
  }
  const std::string what = e.what();
  // The CPU allocator reports a failed allocation as a plain c10::Error.
  return what.find("out of memory") != std::string::npos ||
         what.find("can't allocate memory") != std::string::npos;
}

}  // namespace

int main(int argc, char** argv) {
  lica::keep_freed_cpu_memory();  // no page faults on each step's activations
  lica::init_logging(argv[0]);
  return lica::run_program([&] {
    std::string config_path, batches_text = "256,1024,4096,16384", lica_text = "off,on";
    std::string forms_text = "chunked,fused", device_text = "auto", precision_text = "fp32";
    std::vector<std::string> overrides;
    std::string dump_path, profile_path;
    int64_t frames = 12, tokens = 32, video_dim = 512, text_dim = 512;
    int64_t warmup = 3, steps = 10, threads = 0;
    double peak_tflops = 0.0;
    lica::CommandLine cli(
        "train_bench", "[options]",
        "Full training steps (forward, losses, backward, gradient all-reduce, AdamW) of the "
        "model a config describes, on random inputs, for each global batch size with LICA off "
        "and on: one JSON line per configuration (docs/performance.md). Under mpirun the "
        "global batch is split across the ranks.");
    cli.option("config", "YAML config of the model and losses (default: the built-in defaults)",
               &config_path);
    cli.repeated("set", "config override section.key=value (repeatable)", &overrides);
    cli.option("batches", "global batch sizes, comma-separated", &batches_text);
    cli.option("lica",
               "LICA settings to run, comma-separated: off, on or off,on (λ = loss.lica.weight, "
               "1 if 0)",
               &lica_text);
    cli.option("lica-forms",
               "forms of the LICA term to run with LICA on, each as --set loss.lica.form=<form>",
               &forms_text);
    cli.option("frames", "frames per video (F)", &frames);
    cli.option("tokens", "tokens per caption (L)", &tokens);
    cli.option("video-dim", "frame feature width (Dv)", &video_dim);
    cli.option("text-dim", "token feature width (Dt)", &text_dim);
    cli.option("device",
               "auto | cpu | cuda, as trainer.device (auto: cuda when this build and machine "
               "have it)",
               &device_text);
    cli.option("precision",
               "fp32 | tf32 | bf16, as the trainer runs them: trainer.precision fp32 with "
               "trainer.tf32 off or on, or trainer.precision bf16 (the encoders' forward in bf16 "
               "autocast, the losses in fp32)",
               &precision_text);
    cli.option("warmup", "untimed steps per configuration", &warmup);
    cli.option("steps", "timed steps per configuration", &steps);
    cli.option("peak-tflops",
               "peak TFLOPS per device for MFU; 0 = H100 SXM dense: 989 bf16, 495 tf32, 67 "
               "fp32 (CUDA; no MFU on the CPU unless given)",
               &peak_tflops);
    cli.option("threads", "LibTorch threads per rank (0 = default)", &threads);
    cli.option("profile",
               "write a Chrome trace of every op of the timed steps (and the extra passes "
               "that split them) to this file, LibTorch's profiler; the last configuration's "
               "stays (tools/profile_summary.py sums it per op)",
               &profile_path);
    cli.option("dump-step",
               "write one step of the first configuration (first B, LICA setting and form) to "
               "this file instead of timing: weights, inputs, loss and gradients, for "
               "reference_step.py --check-step (one process)",
               &dump_path);
    if (!cli.parse(argc, argv)) return lica::kExitOk;

    lica::run::Config base = config_path.empty() ? lica::run::Config() : lica::run::load_config(config_path);
    for (const auto& o : overrides) lica::run::apply_override(base, o);
    const std::string source = config_path.empty() ? "defaults" : config_path;
    lica::run::validate(base, overrides.empty() ? source : source + " with --set");
    if (tr::loss_options(base).needs_momentum()) {
      throw lica::InputError(
          "train_bench: loss.itc.weight and loss.ims.weight must be 0 (the momentum terms are "
          "measured by aai_step_bench)");
    }
    const auto batches = lica::bench::split_positive_ints(batches_text, "batches");
    const auto lica_modes = lica::bench::split_list(lica_text, "lica");
    for (const auto& m : lica_modes) {
      if (m != "off" && m != "on") throw lica::InputError("--lica: got '" + m + "', expected off or on");
    }
    const auto forms = lica::bench::split_list(forms_text, "lica-forms");
    for (int64_t v : {frames, tokens, video_dim, text_dim, steps}) {
      if (v <= 0) throw lica::InputError("train_bench: --frames, --tokens, --video-dim, --text-dim and --steps must be > 0");
    }
    if (warmup < 0) throw lica::InputError("--warmup: expected >= 0, got " + std::to_string(warmup));
    if (threads > 0) torch::set_num_threads(static_cast<int>(threads));
    for (const auto& o : precision_overrides(precision_text)) lica::run::apply_override(base, o);
    lica::run::apply_override(base, "trainer.device=" + device_text);
    lica::run::validate(base, "train_bench's --device and --precision");
    const std::string backend = lica::run::communicator_backend(base);
    auto comm = lica::dist::make_communicator(backend, {base.dist.timeout_s});
    return lica::dist::run_or_abort(*comm, [&]() -> int {
      const torch::Device device = lica::run::resolve_device(base.trainer.device, comm->info().local_rank,
                                                                base.dist.ranks_per_gpu);
      lica::run::check_backend_fits(device, backend);
      lica::run::use_device(device, base.trainer.tf32);
      const bool cuda = device.is_cuda();
      const double peak =
          peak_tflops > 0 ? peak_tflops : (cuda ? h100_peak_tflops(precision_text) : NAN);
      const int world = comm->world_size();
      const lica::run::FeatureShape shape{video_dim, frames, text_dim, tokens,
                                   "--video-dim/--frames/--text-dim/--tokens"};
      const Run run{*comm, device, shape, warmup, steps, profile_path};
      if (!dump_path.empty()) {
        if (world > 1) throw lica::InputError("--dump-step: runs in one process, not under mpirun");
        const bool on = lica_modes.front() == "on";
        dump_step(run, configuration(base, batches.front(), on, on ? forms.front() : "none"),
                  dump_path);
        return lica::kExitOk;
      }
      for (int64_t B : batches) {
        if (B < world) {
          throw lica::InputError("--batches: " + std::to_string(B) + " is smaller than the " +
                                 std::to_string(world) + " ranks");
        }
        for (const auto& mode : lica_modes) {
          const bool on = mode == "on";
          for (const auto& form : on ? forms : std::vector<std::string>{"none"}) {
            const lica::run::Config cfg = configuration(base, B, on, form);
            lica::JsonLine line;
            line.add("bench", "train_bench").add("B", B).add("lica", mode).add("form", form);
            line.add("world", world).add("device", device.is_cuda() ? "cuda" : "cpu");
            line.add("precision", precision_text);
            try {
              const auto m = measure(run, cfg);
              const auto& t = m.ms;
              const double step = t.step();
              const double flops = step_flops(cfg, shape, B, on);
              const double lica_fwd = on ? t.losses - t.losses_without_lica : 0.0;
              const double lica_bwd = on ? t.backward - t.backward_without_lica : 0.0;
              line.add("samples_per_s", static_cast<double>(B) / (step / 1e3));
              line.add("step_ms", step).add("forward_ms", t.forward);
              line.add("loss_ms", t.losses - t.forward);
              line.add("lica_ms", lica_fwd + lica_bwd).add("lica_fwd_ms", lica_fwd);
              line.add("lica_bwd_ms", lica_bwd).add("lica_share", (lica_fwd + lica_bwd) / step);
              line.add("backward_ms", t.backward).add("reduce_ms", t.reduce);
              line.add("optimizer_ms", t.optimizer);
              line.add("peak_gib", static_cast<double>(m.peak_bytes) / (1024.0 * 1024 * 1024));
              line.add("peak_kind", lica::bench::peak_memory_kind(device));
              line.add("flops", flops).add("tflops", flops / (step / 1e3) / 1e12);
              line.add("peak_tflops", peak);
              line.add("mfu", flops / (step / 1e3) / (world * peak * 1e12));
              line.add("params", m.params);
            } catch (const std::exception& e) {
              // After a failed step the ranks are no longer in step: only W = 1 goes on.
              if (world > 1) throw;
              if (is_out_of_memory(e)) {
                line.add("oom", true);
              } else {
                line.add("error", std::string(e.what()).substr(0, 300));
              }
              lica::bench::release_cached_memory(device);
            }
            line.add("embed_dim", cfg.model.embed_dim);
            line.add("video_layers", cfg.model.video.encoder == "seqTransf" ? cfg.model.video.layers : 0);
            line.add("text_layers", cfg.model.text.layers);
            line.add("frames", frames).add("tokens", tokens);
            line.add("video_dim", video_dim).add("text_dim", text_dim);
            line.add("top_k", cfg.loss.lica.top_k).add("steps", steps).add("warmup", warmup);
            if (comm->rank() == 0) {
              std::printf("%s\n", line.str().c_str());
              std::fflush(stdout);
            }
          }
        }
      }
      return lica::kExitOk;
    });
  });
}
