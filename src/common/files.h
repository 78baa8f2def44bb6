// Durable file writes shared by the run directory and the checkpoints: a reader never sees
// half a file, and what was renamed into place survives a crash (fsync of file and folder).
#pragma once

#include <filesystem>
#include <string>

namespace lica {

// Writes the whole of `bytes` to a new `path` and fsyncs it. Throws lica::Error naming it.
void write_file_synced(const std::filesystem::path& path, const std::string& bytes);

// fsyncs an existing file (one another library wrote), so its bytes are on disk.
void fsync_file(const std::filesystem::path& path);

// fsyncs a directory, so renames inside it are on disk.
void fsync_directory(const std::filesystem::path& dir);

// rename(2), throwing lica::Error naming both paths.
void rename_or_throw(const std::filesystem::path& from, const std::filesystem::path& to);

// Writes `text` to `path` through `path`.tmp, fsynced, renamed over `path`, folder fsynced.
void write_file_atomically(const std::filesystem::path& path, const std::string& text);

}  // namespace lica
