#include "run/checkpoint_store.h"

#include <glog/logging.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <fstream>
#include <sstream>

#include "common/error.h"
#include "common/files.h"

namespace lica::run {
namespace fs = std::filesystem;
namespace {

constexpr const char* kManifest = "MANIFEST";
constexpr const char* kManifestHeader = "lica-checkpoint 1";
constexpr const char* kStepPrefix = "step_";

uint32_t crc32_of(const std::string& bytes) {
  uLong crc = crc32(0L, Z_NULL, 0);
  const auto* data = reinterpret_cast<const Bytef*>(bytes.data());
  for (size_t done = 0; done < bytes.size();) {
    const auto n = static_cast<uInt>(std::min<size_t>(bytes.size() - done, 1u << 30));
    crc = crc32(crc, data + done, n);
    done += n;
  }
  return static_cast<uint32_t>(crc);
}

std::string hex32(uint32_t v) {
  char buf[9];
  std::snprintf(buf, sizeof buf, "%08x", v);
  return buf;
}

std::string slurp(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError("cannot read " + path.string());
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

// Temporary and replaced directories of an earlier writer start with a dot.
bool is_leftover(const fs::path& p) {
  const std::string name = p.filename().string();
  return name.rfind(".tmp-", 0) == 0 || name.rfind(".old-", 0) == 0;
}

struct ManifestEntry {
  std::string name;
  uint64_t bytes = 0;
  std::string crc;
};

std::string manifest_text(const std::vector<CheckpointFile>& files) {
  std::ostringstream out;
  out << kManifestHeader << " files " << files.size() << "\n";
  for (const auto& f : files) {
    out << f.name << ' ' << f.bytes.size() << ' ' << hex32(crc32_of(f.bytes)) << '\n';
  }
  return out.str();
}

}  // namespace

fs::path write_checkpoint(const fs::path& root, int64_t step,
                          const std::vector<CheckpointFile>& files) {
  std::error_code ec;
  fs::create_directories(root, ec);
  if (ec) throw Error("cannot create " + root.string() + ": " + ec.message());
  for (const auto& entry : fs::directory_iterator(root)) {
    if (is_leftover(entry.path())) fs::remove_all(entry.path(), ec);
  }
  const std::string name = kStepPrefix + std::to_string(step);
  const std::string pid = std::to_string(::getpid());
  const fs::path tmp = root / (".tmp-" + name + "-" + pid);
  fs::create_directory(tmp, ec);
  if (ec) throw Error("cannot create " + tmp.string() + ": " + ec.message());
  for (const auto& f : files) write_file_synced(tmp / f.name, f.bytes);
  write_file_synced(tmp / kManifest, manifest_text(files));  // last: its presence means complete
  fsync_directory(tmp);

  const fs::path final_dir = root / name;
  const fs::path old = root / (".old-" + name + "-" + pid);
  const bool replacing = fs::exists(final_dir);
  if (replacing) rename_or_throw(final_dir, old);
  rename_or_throw(tmp, final_dir);
  fsync_directory(root);
  if (replacing) fs::remove_all(old, ec);
  write_pointer(root, "latest", name);
  return final_dir;
}

std::string verify_checkpoint(const fs::path& dir) {
  const fs::path manifest_path = dir / kManifest;
  if (!fs::is_regular_file(manifest_path)) return manifest_path.string() + ": missing";
  std::istringstream manifest(slurp(manifest_path));
  std::string header;
  std::getline(manifest, header);
  const std::string expected = std::string(kManifestHeader) + " files ";
  if (header.rfind(expected, 0) != 0) {
    return manifest_path.string() + ": not a lica checkpoint manifest (first line '" + header + "')";
  }
  const long count = std::strtol(header.c_str() + expected.size(), nullptr, 10);
  std::vector<ManifestEntry> entries;
  for (ManifestEntry e; manifest >> e.name >> e.bytes >> e.crc;) entries.push_back(e);
  if (static_cast<long>(entries.size()) != count) {
    return manifest_path.string() + ": lists " + std::to_string(entries.size()) + " of " +
           std::to_string(count) + " files (truncated)";
  }
  for (const auto& e : entries) {
    const fs::path path = dir / e.name;
    std::error_code ec;
    const auto size = fs::file_size(path, ec);
    if (ec) return path.string() + ": missing";
    if (size != e.bytes) {
      return path.string() + ": " + std::to_string(size) + " bytes, manifest says " +
             std::to_string(e.bytes) + " (truncated or overwritten)";
    }
    const std::string crc = hex32(crc32_of(slurp(path)));
    if (crc != e.crc) {
      return path.string() + ": CRC-32 " + crc + ", manifest says " + e.crc + " (corrupt)";
    }
  }
  return "";
}

std::string read_checkpoint_file(const fs::path& dir, const std::string& name) {
  return slurp(dir / name);
}

std::optional<int64_t> checkpoint_step(const fs::path& dir) {
  const std::string name = dir.filename().string();
  const std::string prefix = kStepPrefix;
  if (name.size() <= prefix.size() || name.compare(0, prefix.size(), prefix) != 0) return {};
  const std::string digits = name.substr(prefix.size());
  if (!std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return {};
  }
  return std::stoll(digits);
}

std::vector<fs::path> list_checkpoints(const fs::path& root) {
  std::vector<std::pair<int64_t, fs::path>> found;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(root, ec)) {
    const auto step = checkpoint_step(entry.path());
    if (step && entry.is_directory()) found.emplace_back(*step, entry.path());
  }
  std::sort(found.begin(), found.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
  std::vector<fs::path> paths;
  for (auto& f : found) paths.push_back(std::move(f.second));
  return paths;
}

std::optional<fs::path> newest_valid_checkpoint(const fs::path& root) {
  const auto all = list_checkpoints(root);
  if (all.empty()) return std::nullopt;
  for (const auto& dir : all) {
    const std::string problem = verify_checkpoint(dir);
    if (problem.empty()) return dir;
    LOG(WARNING) << "skipping checkpoint " << dir.string() << ": " << problem;
  }
  throw InputError("no valid checkpoint in " + root.string() + ": all " +
                   std::to_string(all.size()) + " fail their manifest check (see the warnings)");
}

fs::path resolve_checkpoint(const fs::path& spec) {
  if (fs::is_directory(spec) && checkpoint_step(spec)) {
    const std::string problem = verify_checkpoint(spec);
    if (!problem.empty()) throw InputError("checkpoint " + spec.string() + " is damaged: " + problem);
    return spec;
  }
  if (fs::is_directory(spec)) {
    const auto newest = newest_valid_checkpoint(spec);
    if (!newest) throw InputError("no checkpoint in " + spec.string());
    return *newest;
  }
  if (fs::is_regular_file(spec)) {
    const fs::path root = spec.parent_path();
    if (spec.filename() == "latest") return resolve_checkpoint(root.empty() ? fs::path(".") : root);
    const std::string name = read_pointer(root, spec.filename().string());
    if (name.empty() || name.find('/') != std::string::npos) {
      throw InputError(spec.string() + ": not a checkpoint pointer file");
    }
    return resolve_checkpoint(root / name);
  }
  throw InputError("no such checkpoint: " + spec.string() +
                   " (expected a step_<N> directory, a checkpoints directory, or its 'latest' "
                   "or 'best' pointer)");
}

void write_pointer(const fs::path& root, const std::string& pointer, const std::string& name) {
  write_file_atomically(root / pointer, name + "\n");
}

std::string read_pointer(const fs::path& root, const std::string& pointer) {
  std::ifstream in(root / pointer);
  std::string name;
  if (in) std::getline(in, name);
  return name;
}

std::vector<std::string> prune_checkpoints(const fs::path& root, int64_t keep_last,
                                           const std::vector<std::string>& keep) {
  std::vector<std::string> deleted;
  int64_t kept = 0;
  for (const auto& dir : list_checkpoints(root)) {
    const std::string name = dir.filename().string();
    if (kept < keep_last) {
      ++kept;
      continue;
    }
    if (std::find(keep.begin(), keep.end(), name) != keep.end()) continue;
    std::error_code ec;
    fs::remove_all(dir, ec);
    if (ec) throw Error("cannot delete old checkpoint " + dir.string() + ": " + ec.message());
    deleted.push_back(name);
  }
  return deleted;
}

std::vector<std::string> set_aside_newer_checkpoints(const fs::path& root, int64_t step) {
  std::vector<std::string> moved;
  const fs::path aside = root / "superseded";
  for (const auto& dir : list_checkpoints(root)) {
    if (*checkpoint_step(dir) <= step) continue;
    fs::create_directories(aside);
    fs::path target = aside / dir.filename();
    for (int n = 1; fs::exists(target); ++n) {
      target = aside / (dir.filename().string() + "." + std::to_string(n));
    }
    rename_or_throw(dir, target);
    moved.push_back(dir.filename().string());
  }
  if (!moved.empty()) fsync_directory(root);
  return moved;
}

}  // namespace lica::run
