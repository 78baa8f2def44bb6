// checkpoint_bench: how long a checkpoint of a config's model takes to write (serialise,
// write, fsync, rename) and to load (manifest check, model, optimizer, generator states).
//   build/checkpoint_bench --config configs/demo.yaml [--rounds 10] [--dir DIR] [--set k=v ...]
// The optimizer state is filled by one step, so the files are as large as in training.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <numeric>

#include "common/cli.h"
#include "common/logging.h"
#include "run/model_options.h"
#include "run/checkpoint.h"
#include "run/config.h"
#include "trainer/schedule.h"

namespace {

using Clock = std::chrono::steady_clock;

double ms_since(Clock::time_point t) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t).count();
}

void print_row(const char* what, std::vector<double> ms) {
  std::sort(ms.begin(), ms.end());
  const double mean = std::accumulate(ms.begin(), ms.end(), 0.0) / static_cast<double>(ms.size());
  std::printf("%-6s mean %8.1f ms  median %8.1f ms  min %8.1f ms  max %8.1f ms\n", what, mean,
              ms[ms.size() / 2], ms.front(), ms.back());
}

}  // namespace

int main(int argc, char** argv) {
  lica::init_logging(argv[0]);
  return lica::run_program([&] {
    std::string config_path, dir = "/tmp/lica_ckpt_bench";
    int64_t rounds = 10;
    std::vector<std::string> overrides;
    lica::CommandLine cli("checkpoint_bench", "--config FILE [--rounds N] [--dir DIR] [--set key=value ...]",
                          "Times writing and loading a checkpoint of the config's model (with a\n"
                          "filled AdamW state) through the same code as training.");
    cli.option("config", "YAML config whose model and data dims are used", &config_path);
    cli.option("rounds", "checkpoints written and loaded", &rounds);
    cli.option("dir", "scratch directory (removed at the end)", &dir);
    cli.repeated("set", "override a config key, e.g. --set model.embed_dim=512", &overrides);
    cli.require("config");
    if (!cli.parse(argc, argv)) return lica::kExitOk;
    namespace tr = lica::trainer;
    auto cfg = lica::run::load_config(config_path);
    for (const auto& o : overrides) lica::run::apply_override(cfg, o);
    lica::run::validate(cfg, config_path);
    const auto file = lica::run::open_features(cfg);
    lica::model::DualEncoder model(lica::run::dual_encoder_options(cfg, file));
    auto optimizer = tr::make_adamw(*model, cfg.trainer.lr, cfg.trainer.weight_decay);
    for (auto& p : model->parameters()) p.mutable_grad() = torch::randn_like(p);
    optimizer->step();
    int64_t params = 0;
    for (const auto& p : model->parameters()) params += p.numel();

    std::filesystem::remove_all(dir);
    std::vector<double> write_ms, load_ms;
    int64_t bytes = 0;
    for (int64_t r = 0; r < rounds; ++r) {
      auto t = Clock::now();
      const auto files = lica::run::checkpoint_files(lica::run::TrainingProgress{}, cfg, *model, *optimizer,
                                              lica::run::rng_state().unsqueeze(0));
      const auto path = lica::run::write_checkpoint(dir, r, files);
      write_ms.push_back(ms_since(t));
      bytes = 0;
      for (const auto& f : files) bytes += static_cast<int64_t>(f.bytes.size());
      t = Clock::now();
      const auto resolved = lica::run::resolve_checkpoint(std::filesystem::path(dir) / "latest");
      lica::run::read_progress(resolved);
      lica::run::load_model(resolved, *model);
      lica::run::load_optimizer(resolved, *optimizer);
      lica::run::set_rng_state(lica::run::load_rng_states(resolved)[0]);
      load_ms.push_back(ms_since(t));
      lica::run::prune_checkpoints(dir, 2, {});
    }
    std::filesystem::remove_all(dir);
    std::printf("model of %s: %lld parameters; checkpoint %.2f MB; %lld rounds in %s\n",
                config_path.c_str(), static_cast<long long>(params), bytes / 1e6,
                static_cast<long long>(rounds), dir.c_str());
    print_row("write", write_ms);
    print_row("load", load_ms);
    return lica::kExitOk;
  });
}
