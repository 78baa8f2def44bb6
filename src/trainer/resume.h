// Continuing a run from a checkpoint (docs/design.md §6): which one, its state restored into
// the run, and the run directory rewound to it.
#pragma once

#include <filesystem>
#include <string>

namespace lica::trainer {

struct TrainingRun;

// Continues from the checkpoint `resume` names ("latest", or a path: see
// run::checkpoint_spec()): rank 0 reads it with run::CheckpointReader, checks that the saved
// run is the one configured (InputError otherwise: "resuming" would silently train something
// else) and that metrics.jsonl holds what it covers, and restores progress, model, optimizer,
// momentum and its generator state; under "latest" a checkpoint failing any of this is
// skipped for the next older one. Rank 0 broadcasts the one it took, every other rank
// restores it the same way. Sets training.resume_from ("" = "latest" with no checkpoint yet:
// start at step 0). Nothing on disk is changed.
void restore_checkpoint(TrainingRun& training, const std::string& resume);

// Rank 0, under --resume, after restore_checkpoint(): once the run directory is known to be
// writable, metrics.jsonl and checkpoints/ continue from the resumed step. Records and
// checkpoints past it are set aside, never deleted; `latest` points at it.
void continue_run_dir(TrainingRun& training);

}  // namespace lica::trainer
