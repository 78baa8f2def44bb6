// aai_step_bench: the training-step time of each AAI module, switched on alone over the
// baseline (and all together with LICA), one process, on synthetic features of the study's
// shape. A step is what the trainer does: forward of every term, backward, gradient clip,
// AdamW, and for the momentum terms the EMA update and the enqueue; the queues start full.
//   build/aai_step_bench [--batch 256] [--steps 10] [--rounds 3] [--threads 0]
// Step times on this machine vary by up to 2x between runs of the same variant, so the
// variants are measured in interleaved rounds; each round takes the median of --steps timed
// steps (after 2 warm-up steps) and the figure is the smallest round's, with its excess over
// the baseline's.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <vector>

#include <unistd.h>

#include "common/cli.h"
#include "common/logging.h"
#include "data/batch.h"
#include "data/synthetic.h"
#include "dist/local_communicator.h"
#include "run/config.h"
#include "run/model_options.h"
#include "trainer/loss_options.h"
#include "trainer/schedule.h"
#include "trainer/step.h"

namespace {

using Clock = std::chrono::steady_clock;
namespace tr = lica::trainer;

struct Variant {
  const char* name;
  std::vector<const char*> overrides;
};

double median_step_ms(const lica::run::Config& cfg, const lica::data::FeatureFile& file, int64_t steps) {
  torch::manual_seed(0);
  const auto options = lica::run::dual_encoder_options(cfg, file);
  lica::model::DualEncoder model(options);
  model->train();
  const auto loss_opt = tr::loss_options(cfg);
  lica::model::Momentum momentum{nullptr};
  const int64_t batch = cfg.trainer.batch_size;
  if (loss_opt.needs_momentum()) {
    momentum = lica::model::Momentum(options, model, cfg.model.momentum.m, cfg.model.momentum.queue_size);
    const auto fill = torch::nn::functional::normalize(torch::randn({cfg.model.momentum.queue_size, cfg.model.embed_dim}));
    momentum->enqueue(fill, fill);
  }
  auto optimizer = tr::make_adamw(*model, cfg.trainer.lr, cfg.trainer.weight_decay);
  lica::dist::LocalCommunicator comm;
  std::vector<int64_t> video_rows, text_rows;
  for (int64_t i = 0; i < batch; ++i) {
    video_rows.push_back(i % file.num_videos());
    text_rows.push_back(i % file.num_texts());
  }
  const auto b = lica::data::make_batch(file, video_rows, text_rows);
  std::vector<double> times;
  for (int64_t step = 0; step < steps + 2; ++step) {
    const auto t0 = Clock::now();
    const auto losses = tr::step_losses(model, momentum, comm, b, 0, loss_opt);
    optimizer->zero_grad();
    losses.total.backward();
    torch::nn::utils::clip_grad_norm_(model->parameters(), cfg.trainer.grad_clip);
    optimizer->step();
    model->clamp_logit_scale();
    if (momentum) {
      momentum->update(model);
      momentum->enqueue(losses.momentum_video, losses.momentum_text);
    }
    if (step >= 2) times.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
  }
  std::sort(times.begin(), times.end());
  return times[times.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  lica::init_logging(argv[0]);
  return lica::run_program([&] {
    int64_t batch = 256, steps = 10, rounds = 3, threads = 0;
    lica::CommandLine cli("aai_step_bench", "[options]",
                          "Training-step time of each AAI module (docs/aai.md) against the baseline.");
    cli.option("batch", "global batch size (one process)", &batch);
    cli.option("steps", "timed steps per variant and round", &steps);
    cli.option("rounds", "interleaved rounds over all variants", &rounds);
    cli.option("threads", "LibTorch threads (0 = default)", &threads);
    if (!cli.parse(argc, argv)) return 0;
    if (threads > 0) torch::set_num_threads(static_cast<int>(threads));
    // Features of the study's shape: 12 frames of 64, 16 tokens of 48 (lica_make_synthetic).
    const auto path = std::filesystem::temp_directory_path() /
                      ("aai_step_bench_" + std::to_string(::getpid()) + ".h5");
    lica::data::SyntheticOptions so;
    so.videos = std::max<int64_t>(batch, 64);
    lica::data::write_synthetic(path.string(), so);
    const auto file = lica::data::FeatureFile::open(path.string());
    std::filesystem::remove(path);  // the file stays open

    // The study's model (configs/synthetic_baseline.yaml) and its module settings
    // (scripts/compare_aai.sh).
    const std::vector<Variant> variants{
        {"baseline", {}},
        {"LICA (top_k 8)", {"loss.lica.weight=1", "loss.lica.top_k=8"}},
        {"GPO (both towers)", {"model.video.pooling=gpo", "model.text.pooling=gpo"}},
        {"ITC, queue 1024", {"loss.itc.weight=0.5"}},
        {"IMS, queue 1024", {"loss.ims.weight=0.2"}},
        {"ITC + IMS", {"loss.itc.weight=0.5", "loss.ims.weight=0.2"}},
        {"LMIM", {"loss.lmim.weight=0.5"}},
        {"ITM, fusion 1 layer", {"model.fusion.layers=1", "loss.itm_weight=1"}},
        {"all with LICA",
         {"loss.lica.weight=1", "loss.lica.top_k=8", "model.video.pooling=gpo",
          "model.text.pooling=gpo", "loss.itc.weight=0.5", "loss.ims.weight=0.2",
          "loss.lmim.weight=0.5", "model.fusion.layers=1", "loss.itm_weight=1"}},
    };
    const auto config_of = [&](const Variant& v) {
      lica::run::Config cfg;
      cfg.model.embed_dim = 128;
      cfg.trainer.batch_size = batch;
      for (const char* o : v.overrides) lica::run::apply_override(cfg, o);
      lica::run::validate(cfg, "aai_step_bench");
      return cfg;
    };
    // The first steps of a process are slower (allocator, thread pool): one untimed run.
    median_step_ms(config_of(variants[0]), file, steps);
    std::vector<double> best(variants.size(), 1e300);
    for (int64_t round = 0; round < rounds; ++round) {
      for (size_t i = 0; i < variants.size(); ++i) {
        best[i] = std::min(best[i], median_step_ms(config_of(variants[i]), file, steps));
      }
    }
    std::printf("training step, one process, batch %lld, embed 128, %d threads, best of %lld "
                "rounds of the median of %lld steps\n",
                static_cast<long long>(batch), torch::get_num_threads(),
                static_cast<long long>(rounds), static_cast<long long>(steps));
    std::printf("%-22s %10s %10s\n", "variant", "step_ms", "vs_base");
    for (size_t i = 0; i < variants.size(); ++i) {
      std::printf("%-22s %10.1f %+9.0f%%\n", variants[i].name, best[i],
                  100.0 * (best[i] / best[0] - 1.0));
    }
    return 0;
  });
}
