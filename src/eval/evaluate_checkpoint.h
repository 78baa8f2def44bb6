// Evaluation of a saved checkpoint (lica_eval): the model is built from the checkpoint's own
// model config, the data and evaluation settings come from the given config.
#pragma once

#include <filesystem>
#include <string>

#include "data/feature_file.h"
#include "dist/communicator.h"
#include "model/dual_encoder.h"
#include "run/config.h"
#include "eval/retrieval_metrics.h"

namespace lica::eval {

struct CheckpointEval {
  std::filesystem::path checkpoint;  // the resolved step_<N> directory
  int64_t step = 0;
  RetrievalMetrics metrics;
  double seconds = 0;  // load and evaluation
};

// `spec` as resolve_checkpoint() takes it (rank 0 resolves, every rank loads the same one).
// Sharded over comm's ranks; every rank returns the same result.
CheckpointEval evaluate_checkpoint(run::Config cfg, const std::string& spec, const std::string& split,
                                   dist::Communicator& comm);

}  // namespace lica::eval
