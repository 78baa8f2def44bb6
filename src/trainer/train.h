// The training loop of one process (docs/design.md §4, §7): per-epoch pairing, symmetric InfoNCE,
// AdamW with warmup and cosine decay, validation every N epochs, checkpoints, test at the end.
// Writes the resolved config, a log, metrics.jsonl and checkpoints/ into cfg.run.dir.
#pragma once

#include <functional>
#include <optional>
#include <string>

#include "dist/communicator.h"
#include "run/config.h"
#include "eval/retrieval_metrics.h"

namespace lica::trainer {

struct TrainOptions {
  // "" = a new run; "latest" = continue from the newest valid checkpoint of run.dir (a new
  // run when there is none yet); otherwise a checkpoint path (see resolve_checkpoint()).
  std::string resume;
  // Polled on every rank at each step boundary (e.g. StopSignals); when any rank says yes,
  // all write a checkpoint and train() returns with stopped = true.
  std::function<bool()> stop_requested;
  // Called on every rank after each step with the number of steps done (tests, tools).
  std::function<void(int64_t)> after_step;
};

struct TrainSummary {
  int64_t steps = 0;        // steps done by the end, counting those before a resume
  int64_t start_step = 0;   // the step this process started from
  bool stopped = false;     // stopped early on request, after writing a checkpoint
  std::string last_checkpoint;  // path of the last checkpoint written, "" if none
  double first_loss = 0.0;  // loss of the first step
  double last_loss = 0.0;   // loss of the last step
  std::optional<eval::RetrievalMetrics> test;  // when cfg.data.test_split is set
};

// `cfg` must have passed validate(). Data-parallel over `comm`'s ranks (docs/design.md §5): the
// same global batches at every W, each rank encoding its contiguous slice; the result
// equals one process on the global batch. Deterministic on CPU for a given trainer.seed and
// thread count, and a resumed run continues bitwise as if it had not stopped (docs/design.md §6).
// Every rank returns the same summary.
TrainSummary train(const run::Config& cfg, dist::Communicator& comm, const TrainOptions& options = {});

}  // namespace lica::trainer
