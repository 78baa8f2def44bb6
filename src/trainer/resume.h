// Continuing a run from a checkpoint (docs/design.md §6): which one, its state restored into
// the run, and the run directory rewound to it.
#pragma once

#include <filesystem>
#include <string>

#include "dist/communicator.h"

namespace lica::trainer {

struct TrainingRun;

// Which checkpoint, if any, this run continues from: rank 0 resolves `resume` ("latest" or
// a path, see run::resolve_checkpoint()) and broadcasts the path, so every rank loads the
// same one. "" = start at step 0 (also "latest" with no checkpoint yet).
std::filesystem::path resolve_resume(const std::string& resume,
                                     const std::filesystem::path& checkpoints,
                                     dist::Communicator& comm);

// Loads training.resume_from: progress, model, optimizer, momentum and every rank's
// generator states, after checking that the saved run is the one configured (InputError
// otherwise: "resuming" would silently train something else).
void restore_checkpoint(TrainingRun& training);

// Rank 0, under --resume: metrics.jsonl and checkpoints/ continue from the resumed step.
// Records and checkpoints past it are set aside, never deleted; `latest` points at it.
void continue_run_dir(TrainingRun& training);

}  // namespace lica::trainer
