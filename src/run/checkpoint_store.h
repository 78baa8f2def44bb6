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
#include <functional>
#include <map>
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

// Every file the manifest of `dir` lists, each read once and checked against its size and
// CRC-32; nothing else is read. The manifest is untrusted: each entry must be a plain file
// name (no '/', no "..", no leading dot), listed once; each file a regular file of `dir`
// (never a symlink); `dir` itself a directory, or a symlink to one in the same folder.
// Throws lica::InputError naming the file and what is wrong ("model.pt: 1234 bytes,
// manifest says 5678").
std::map<std::string, std::string> read_verified_files(const std::filesystem::path& dir);

// "" when read_verified_files(dir) succeeds, else its message.
std::string verify_checkpoint(const std::filesystem::path& dir);

// File `name` of a verified checkpoint. Throws lica::InputError naming it.
std::string read_checkpoint_file(const std::filesystem::path& dir, const std::string& name);

// The step of a checkpoint directory named step_<N> as the writer spells it (no leading
// zeros, at most 18 digits), or nullopt for any other name.
std::optional<int64_t> checkpoint_step(const std::filesystem::path& dir);

// The step_<N> entries under root (of any file type), newest (highest step) first; none when
// root does not exist. InputError when root is not a directory.
std::vector<std::filesystem::path> list_checkpoints(const std::filesystem::path& root);

// The newest checkpoint under root for which `open` returns (rather than throwing
// lica::InputError), logging a warning for each newer one that throws (its message names the
// file and what is wrong). nullopt when root holds no checkpoint at all; InputError when it
// holds some but none opens.
std::optional<std::filesystem::path> open_newest(
    const std::filesystem::path& root, const std::function<void(const std::filesystem::path&)>& open);

// open_newest() with the manifest check (verify_checkpoint) as `open`.
std::optional<std::filesystem::path> newest_valid_checkpoint(const std::filesystem::path& root);

// What a checkpoint argument names: `checkpoint` when it names one (a step_<N> directory, or
// a pointer file other than `latest`, which must hold a step_<N> name, never a path), else
// "" meaning the newest valid checkpoint under `root` (a checkpoints directory, or its
// `latest`). Throws lica::InputError naming the path when it is none of these.
struct CheckpointSpec {
  std::filesystem::path root;
  std::filesystem::path checkpoint;
};
CheckpointSpec checkpoint_spec(const std::filesystem::path& spec);

// What `spec` names (see checkpoint_spec()), with the manifest check only. Throws
// lica::InputError naming the path and the problem.
std::filesystem::path resolve_checkpoint(const std::filesystem::path& spec);

// Points <root>/<pointer> at checkpoint `name` (atomic rename, fsynced).
void write_pointer(const std::filesystem::path& root, const std::string& pointer,
                   const std::string& name);

// The first line of a pointer file (a regular file of at most 256 bytes, not a symlink), or
// "" when it does not exist. InputError when it is something else.
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
