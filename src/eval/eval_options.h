// Evaluation options from the eval.* keys of a config.
#pragma once

#include "eval/evaluate.h"
#include "run/config.h"

namespace lica::eval {

// Evaluation options from the eval.* keys.
EvalOptions eval_options(const run::Config& cfg);

}  // namespace lica::eval
