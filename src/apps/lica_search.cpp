// lica_search: the top-K videos of each caption (or captions of each video) by cosine
// similarity, from exported embeddings or feature files encoded with a checkpoint.
#include <iostream>

#include "common/cli.h"
#include "common/error.h"
#include "common/logging.h"
#include "dist/abort_on_error.h"
#include "dist/communicator.h"
#include "eval/search.h"
#include "run/backend.h"
#include "run/config.h"
#include "run/device.h"

int main(int argc, char** argv) {
  lica::init_logging(argv[0]);
  return lica::run_program([&] {
    std::string config_path, direction = "t2v";
    std::vector<std::string> overrides;
    lica::eval::SearchOptions opt;
    lica::CommandLine cli(
        "lica_search",
        "--candidates C.h5 --queries Q.h5 --top-k K [--checkpoint PATH] [--direction t2v|v2t]\n"
        "       [--split NAME] [--config FILE] [--output FILE] [--set key=value ...]",
        "Answers retrieval queries (docs/search.md). t2v (default): every caption of Q is a query\n"
        "against every video of C; v2t: every video of Q against every caption of C. C and Q are\n"
        "each an embedding file (lica_eval --export; used as it is) or a feature file, whose rows\n"
        "(all, or those of --split) are encoded with the checkpoint's model; --checkpoint is needed\n"
        "only then. Scores are dot products of the L2-normalised embeddings; the K best candidates\n"
        "of each query come best first, equal scores by the smaller candidate index. Writes one\n"
        "JSON line per query to stdout or --output (atomically):\n"
        "  {\"query\": ID, \"query_index\": i, \"results\": [{\"id\": ID, \"index\": j, \"score\": s}, ...]}\n"
        "--config gives eval.batch_size (encoding), eval.chunk_size (queries per block),\n"
        "trainer.device (encoding; the search itself runs on the cpu) and dist.backend; the model\n"
        "comes from the checkpoint. Under mpirun the encoding is sharded\n"
        "and rank 0 searches. Exit codes: 0 done, 1 internal failure, 2 bad input.");
    cli.option("candidates", "embedding or feature file of the candidates", &opt.candidates);
    cli.option("queries", "embedding or feature file of the queries", &opt.queries);
    cli.option("top-k", "results per query (all candidates when there are fewer)", &opt.top_k);
    cli.option("checkpoint", "checkpoint whose model encodes feature files", &opt.checkpoint);
    cli.option("direction", "t2v (caption queries, video candidates) or v2t", &direction);
    cli.option("split", "rows of a feature file to use (default: all)", &opt.split);
    cli.option("config", "YAML config giving eval.* and dist.* (default: the defaults)",
               &config_path);
    cli.option("output", "JSON-lines file to write (default: stdout)", &opt.output);
    cli.repeated("set", "override one config key (repeatable)", &overrides);
    cli.require("candidates");
    cli.require("queries");
    cli.require("top-k");
    if (!cli.parse(argc, argv)) return lica::kExitOk;

    opt.direction = lica::eval::parse_search_direction(direction);
    if (opt.top_k < 1) {
      throw lica::InputError("--top-k: " + std::to_string(opt.top_k) + ", expected at least 1");
    }
    auto cfg = config_path.empty() ? lica::run::Config{}
                                   : lica::run::load_config(config_path);
    for (const auto& o : overrides) lica::run::apply_override(cfg, o);
    const std::string source = config_path.empty() ? "the defaults" : config_path;
    lica::run::validate(cfg, overrides.empty() ? source : source + " with --set");
    auto comm = lica::dist::make_communicator(lica::run::communicator_backend(cfg),
                                              {cfg.dist.timeout_s});
    return lica::dist::run_or_abort(*comm, [&] {
      lica::eval::run_search(cfg, opt, std::cout, *comm);
      return lica::kExitOk;
    });
  });
}
