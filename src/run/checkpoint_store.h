// The on-disk protocol of checkpoints (docs/design.md §6), independent of what they hold.
//
//   <root>/step_<N>/       one checkpoint: its files and a MANIFEST of their sizes and CRC-32s
//   <root>/latest          pointer file: the name of the newest complete checkpoint
//   <root>/best            pointer file: the name of the best one (when a metric is chosen)
//
// A checkpoint is written into a temporary directory beside its final place, every file and
// the directory fsynced, then renamed into place; pointers are replaced by an atomic rename
// of a small file. A process killed at any moment leaves every step_<N> complete, so readers
// only ever see whole checkpoints (a power cut is covered by the fsyncs). The manifest
// catches what the protocol cannot: a file truncated or corrupted afterwards.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace lica::run {

struct CheckpointFile {
  std::string name;   // plain file name, no directories
  std::string bytes;  // contents
};

// Writes `files` as <root>/step_<step> (replacing one of that name) and points `latest` at
// it. Creates root if needed and clears temporary directories an earlier crash left. Returns
// the checkpoint's path. Throws lica::Error on an I/O failure, naming the path.
std::filesystem::path write_checkpoint(const std::filesystem::path& root, int64_t step,
                                       const std::vector<CheckpointFile>& files);

// "" when `dir` is a complete checkpoint whose files match its manifest; otherwise what is
// wrong, naming the file ("model.pt: 1234 bytes, manifest says 5678").
std::string verify_checkpoint(const std::filesystem::path& dir);

// Reads file `name` of a checkpoint (verified or not). Throws lica::InputError naming it.
std::string read_checkpoint_file(const std::filesystem::path& dir, const std::string& name);

// The step of a checkpoint directory named step_<N>, or nullopt for any other name.
std::optional<int64_t> checkpoint_step(const std::filesystem::path& dir);

// The checkpoints under root, newest (highest step) first.
std::vector<std::filesystem::path> list_checkpoints(const std::filesystem::path& root);

// The newest checkpoint under root that verifies, logging a warning for each newer one that
// does not (naming the file and what is wrong). nullopt when root holds no checkpoint at all;
// lica::InputError when it holds some but none verifies.
std::optional<std::filesystem::path> newest_valid_checkpoint(const std::filesystem::path& root);

// What `spec` names, verified: a checkpoint directory; a checkpoints root or a pointer file
// (`latest`, `best`) inside one, meaning the newest valid checkpoint there (for `best`: the
// one it names). Throws lica::InputError naming the path and the problem.
std::filesystem::path resolve_checkpoint(const std::filesystem::path& spec);

// Points <root>/<pointer> at checkpoint `name` (atomic rename, fsynced).
void write_pointer(const std::filesystem::path& root, const std::string& pointer,
                   const std::string& name);

// The name a pointer file holds, or "" when it does not exist.
std::string read_pointer(const std::filesystem::path& root, const std::string& pointer);

// Deletes every checkpoint except the `keep_last` newest and those named in `keep`.
// Returns the names deleted.
std::vector<std::string> prune_checkpoints(const std::filesystem::path& root, int64_t keep_last,
                                           const std::vector<std::string>& keep);

// Moves checkpoints newer than `step` into <root>/superseded/, so that after resuming from an
// older checkpoint the root holds one line of training (nothing is deleted). Returns the
// names moved.
std::vector<std::string> set_aside_newer_checkpoints(const std::filesystem::path& root,
                                                     int64_t step);

}  // namespace lica::run
