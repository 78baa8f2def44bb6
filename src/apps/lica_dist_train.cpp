// lica_dist_train: trains a text–video dual encoder from a YAML config.
#include <iostream>

#include "common/cli.h"
#include "common/cpu_memory.h"
#include "common/logging.h"
#include "common/stop_signals.h"
#include "dist/abort_on_error.h"
#include "dist/communicator.h"
#include "run/backend.h"
#include "run/config.h"
#include "run/device.h"
#include "trainer/train.h"

int main(int argc, char** argv) {
  lica::keep_freed_cpu_memory();  // no page faults on each step's activations
  lica::init_logging(argv[0]);
  return lica::run_program([&] {
    std::string config_path;
    std::vector<std::string> overrides;
    std::string resume;
    bool dump = false;
    lica::CommandLine cli(
        "lica_dist_train", "--config FILE [--resume latest|PATH] [--set key=value ...] [--dump-config]",
        "Trains a text-video retrieval dual encoder on HDF5 features (docs/design.md), validates\n"
        "every eval.every_epochs epochs and evaluates on the test split at the end. Writes\n"
        "config.yaml, train.log and metrics.jsonl into run.dir. Under mpirun or srun every\n"
        "rank trains its share of each global batch (data parallel, docs/design.md section 5).\n"
        "Checkpoints go to run.dir/checkpoints every checkpoint.every_steps steps and at the\n"
        "end. On SIGTERM or SIGUSR1 every rank stops at the next step boundary, a checkpoint\n"
        "is written and the program exits with code 75 (requeue); --resume latest continues\n"
        "it exactly. Exit codes: 0 done, 1 internal failure, 2 bad input, 75 stopped.");
    cli.option("config", "YAML config (configs/demo.yaml)", &config_path);
    cli.repeated("set", "override one key, e.g. --set trainer.lr=1e-4 (repeatable)", &overrides);
    cli.option("resume",
               "continue a run: 'latest' (the newest valid checkpoint in run.dir/checkpoints, or "
               "a new run if there is none) or a checkpoint path",
               &resume);
    cli.flag("dump-config", "print the resolved config as YAML and exit", &dump);
    cli.require("config");
    if (!cli.parse(argc, argv)) return lica::kExitOk;

    auto cfg = lica::run::load_config(config_path);
    for (const auto& o : overrides) lica::run::apply_override(cfg, o);
    lica::run::validate(cfg, overrides.empty() ? config_path : config_path + " with --set");
    if (dump) {
      std::cout << lica::run::dump_config(cfg);
      return lica::kExitOk;
    }
    lica::StopSignals signals;  // before MPI starts, so no signal is missed
    auto comm = lica::dist::make_communicator(lica::run::communicator_backend(cfg),
                                              {cfg.dist.timeout_s});
    return lica::dist::run_or_abort(*comm, [&] {
      lica::trainer::TrainOptions options;
      options.resume = resume;
      options.stop_requested = [&] { return signals.received() != 0; };
      const auto summary = lica::trainer::train(cfg, *comm, options);
      if (summary.stopped) return lica::kExitRequeue;
      if (summary.test && comm->rank() == 0) {
        std::cout << "test " << lica::eval::format_metrics(*summary.test) << std::endl;
      }
      return lica::kExitOk;
    });
  });
}
