// lica_dist_train: trains a text–video dual encoder from a YAML config.
#include <iostream>

#include "common/cli.h"
#include "common/logging.h"
#include "dist/abort_on_error.h"
#include "dist/communicator.h"
#include "trainer/config.h"
#include "trainer/train.h"

int main(int argc, char** argv) {
  lica::init_logging(argv[0]);
  return lica::run_program([&] {
    std::string config_path;
    std::vector<std::string> overrides;
    bool dump = false;
    lica::CommandLine cli(
        "lica_dist_train", "--config FILE [--set key=value ...] [--dump-config]",
        "Trains a text-video retrieval dual encoder on HDF5 features (DESIGN.md), validates\n"
        "every eval.every_epochs epochs and evaluates on the test split at the end. Writes\n"
        "config.yaml, train.log and metrics.jsonl into run.dir. Under mpirun or srun every\n"
        "rank trains its share of each global batch (data parallel, DESIGN.md section 5).");
    cli.option("config", "YAML config (configs/demo.yaml)", &config_path);
    cli.repeated("set", "override one key, e.g. --set trainer.lr=1e-4 (repeatable)", &overrides);
    cli.flag("dump-config", "print the resolved config as YAML and exit", &dump);
    cli.require("config");
    if (!cli.parse(argc, argv)) return lica::kExitOk;

    auto cfg = lica::trainer::load_config(config_path);
    for (const auto& o : overrides) lica::trainer::apply_override(cfg, o);
    lica::trainer::validate(cfg, overrides.empty() ? config_path : config_path + " with --set");
    if (dump) {
      std::cout << lica::trainer::dump_config(cfg);
      return lica::kExitOk;
    }
    auto comm = lica::dist::make_communicator(cfg.dist.backend);
    return lica::dist::run_or_abort(*comm, [&] {
      const auto summary = lica::trainer::train(cfg, *comm);
      if (summary.test && comm->rank() == 0) {
        std::cout << "test " << lica::trainer::format_metrics(*summary.test) << std::endl;
      }
      return lica::kExitOk;
    });
  });
}
