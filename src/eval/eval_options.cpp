#include "eval/eval_options.h"

namespace lica::eval {

EvalOptions eval_options(const run::Config& cfg) {
  return EvalOptions{cfg.eval.batch_size, cfg.eval.chunk_size, cfg.eval.dsl,
                     cfg.eval.dsl_temperature, cfg.eval.rerank_top_k};
}

}  // namespace lica::eval
