// The training loop of one process (DESIGN §4, §7): per-epoch pairing, symmetric InfoNCE,
// AdamW with warmup and cosine decay, validation every N epochs, test at the end. Writes the
// resolved config, a log and metrics.jsonl into cfg.run.dir.
#pragma once

#include <optional>

#include "dist/communicator.h"
#include "trainer/config.h"
#include "trainer/retrieval_metrics.h"

namespace lica::trainer {

struct TrainSummary {
  int64_t steps = 0;
  double first_loss = 0.0;  // loss of the first step
  double last_loss = 0.0;   // loss of the last step
  std::optional<RetrievalMetrics> test;  // when cfg.data.test_split is set
};

// `cfg` must have passed validate(). Data-parallel over `comm`'s ranks (DESIGN §5): the
// same global batches at every W, each rank encoding its contiguous slice; the result
// equals one process on the global batch. Deterministic on CPU for a given trainer.seed and
// thread count. Every rank returns the same summary.
TrainSummary train(const Config& cfg, dist::Communicator& comm);

}  // namespace lica::trainer
