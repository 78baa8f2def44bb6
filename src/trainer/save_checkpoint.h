// Writing a training checkpoint (docs/design.md §6).
#pragma once

#include <cstdint>

namespace lica::trainer {

struct TrainingRun;

// Saves the run after `done` steps as checkpoints/step_<done>: every rank takes part (the
// generator states are gathered), rank 0 writes, then prunes to checkpoint.keep_last (never
// the best) and, for a `new_best`, points `best` at it. Returns when it is on disk for all.
void save_checkpoint(TrainingRun& training, int64_t done, bool new_best);

}  // namespace lica::trainer
