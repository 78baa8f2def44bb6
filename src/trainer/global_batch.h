// The global batches of a run (docs/design.md §2, §5): how many steps an epoch has, and
// which samples of a step's global batch this rank reads. The global batch of a step is the
// same at every world size W; each rank reads its contiguous slice of it.
#pragma once

#include <cstdint>

#include "data/feature_file.h"
#include "data/loader.h"
#include "data/pairing.h"
#include "run/config.h"

namespace lica::trainer {

struct EpochShape {
  int64_t batch = 0;  // the global batch B
  int64_t samples_per_epoch = 0;
  int64_t steps_per_epoch = 0;
  int64_t total_steps = 0;
};

// The run's epochs over `split` of `file`. InputError naming trainer.batch_size when an
// epoch would have no step.
EpochShape epoch_shape(const run::Config& cfg, const data::FeatureFile& file,
                       const data::SplitIndex& split);

// Step `step` reads samples [begin + r0, begin + r1) of its epoch's order; `global` is the
// step's global batch (smaller than B for the last step of an epoch without drop_last).
struct StepSlice {
  int64_t begin = 0, global = 0, r0 = 0, r1 = 0;
};
StepSlice step_slice(const EpochShape& shape, int64_t step, int rank, int world);

// The loader's plan: the rows this rank reads at each step. Called on the loader thread, in
// step order; each epoch's pairing is drawn from trainer.seed and the epoch.
data::BatchPlan rank_batch_plan(const run::Config& cfg, const data::FeatureFile& file,
                                const data::SplitIndex& split, const EpochShape& shape,
                                int rank, int world);

}  // namespace lica::trainer
