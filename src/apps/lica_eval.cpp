// lica_eval: evaluates a checkpoint on one split, alone or sharded under mpirun / srun.
#include <iostream>
#include <optional>

#include "common/cli.h"
#include "common/files.h"
#include "common/json_line.h"
#include "common/logging.h"
#include "dist/abort_on_error.h"
#include "dist/communicator.h"
#include "eval/evaluate_checkpoint.h"
#include "eval/export_embeddings.h"
#include "run/backend.h"
#include "run/config.h"
#include "run/device.h"

int main(int argc, char** argv) {
  lica::init_logging(argv[0]);
  return lica::run_program([&] {
    std::string config_path, checkpoint, split = "test", output, export_path;
    std::vector<std::string> overrides;
    lica::CommandLine cli(
        "lica_eval", "--config FILE --checkpoint PATH [--split NAME] [--output FILE] [--export OUT.h5]\n"
        "       [--set key=value ...]",
        "Evaluates a checkpoint on one split of the feature file (docs/design.md section 7): text->video\n"
        "and video->text R@1/5/10, median and mean rank. PATH is a step_<N> directory, a\n"
        "checkpoints directory or its 'latest'/'best' pointer (the newest valid one). The model\n"
        "comes from the checkpoint's config; data.*, eval.*, trainer.device and trainer.tf32\n"
        "from --config (inference runs in fp32). Under mpirun or srun the evaluation is sharded\n"
        "over the ranks with the same result. Prints the metrics\n"
        "and writes them as one JSON object. --export also writes the split's video and caption\n"
        "embeddings with their ids to an embedding file for lica_search (docs/search.md), the same\n"
        "at every number of ranks. Exit codes: 0 done, 1 internal failure, 2 bad input.");
    cli.option("config", "YAML config giving data.*, eval.* and trainer.device", &config_path);
    cli.option("checkpoint", "checkpoint to evaluate", &checkpoint);
    cli.option("split", "split of the feature file", &split);
    cli.option("output",
               "JSON file to write (default: eval_<split>_step_<N>.json in the checkpoint's run dir)",
               &output);
    cli.option("export", "embedding file to write (HDF5, docs/search.md)", &export_path);
    cli.repeated("set", "override one config key (repeatable)", &overrides);
    cli.require("config");
    cli.require("checkpoint");
    if (!cli.parse(argc, argv)) return lica::kExitOk;

    auto cfg = lica::run::load_config(config_path);
    for (const auto& o : overrides) lica::run::apply_override(cfg, o);
    lica::run::validate(cfg, overrides.empty() ? config_path : config_path + " with --set");
    auto comm = lica::dist::make_communicator(lica::run::communicator_backend(cfg),
                                              {cfg.dist.timeout_s});
    return lica::dist::run_or_abort(*comm, [&] {
      const auto r = lica::eval::evaluate_checkpoint(cfg, checkpoint, split, *comm);
      std::optional<lica::eval::ExportSummary> exported;
      if (!export_path.empty()) {
        // The checkpoint evaluated, not `checkpoint` again: 'latest' may have moved meanwhile.
        exported = lica::eval::export_embeddings(cfg, r.checkpoint.string(), split, export_path,
                                                    *comm);
      }
      if (comm->rank() != 0) return lica::kExitOk;
      lica::JsonLine line;
      line.add("type", "eval").add("split", split).add("step", r.step)
          .add("checkpoint", r.checkpoint.string()).add("ranks", comm->world_size())
          .add("seconds", r.seconds);
      lica::eval::add_metrics(line, r.metrics);
      if (output.empty()) {
        // <run>/checkpoints/step_<N> -> <run>/eval_<split>_step_<N>.json
        output = (r.checkpoint.parent_path().parent_path() /
                  ("eval_" + split + "_step_" + std::to_string(r.step) + ".json")).string();
      }
      lica::write_file_atomically(output, line.str() + "\n");
      std::cout << split << " step " << r.step << " " << lica::eval::format_metrics(r.metrics)
                << "\nwrote " << output << std::endl;
      if (exported) {
        std::cout << "wrote " << export_path << ": " << exported->videos << " videos, "
                  << exported->texts << " captions, D = " << exported->dim << std::endl;
      }
      return lica::kExitOk;
    });
  });
}
