#include "run/checkpoint_store.h"

#include <fcntl.h>
#include <glog/logging.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>

#include "common/error.h"
#include "common/files.h"
#include "run/checkpoint_reader.h"

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

// A file descriptor closed on scope exit.
struct ReadFd {
  int fd;
  ~ReadFd() {
    if (fd >= 0) ::close(fd);
  }
};

// The whole of the regular file `path`, never following a symlink (a checkpoint's files are
// its own), at most `max_bytes`. Throws InputError naming the path.
std::string read_plain_file(const fs::path& path, uint64_t max_bytes) {
  ReadFd f{::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK)};
  if (f.fd < 0) {
    const int err = errno;
    throw InputError(path.string() + ": " +
                     (err == ELOOP ? "a symlink (a checkpoint's files are its own)"
                                   : err == ENOENT ? "missing" : std::strerror(err)));
  }
  struct stat st {};
  if (::fstat(f.fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    throw InputError(path.string() + ": not a regular file");
  }
  const auto size = static_cast<uint64_t>(st.st_size);
  if (size > max_bytes) {
    throw InputError(path.string() + ": " + std::to_string(size) + " bytes, expected at most " +
                     std::to_string(max_bytes));
  }
  std::string bytes(size, '\0');
  for (size_t done = 0; done < size;) {
    const ssize_t n = ::read(f.fd, bytes.data() + done, size - done);
    if (n <= 0) throw InputError(path.string() + ": read failed after " + std::to_string(done) + " bytes");
    done += static_cast<size_t>(n);
  }
  return bytes;
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

namespace {

constexpr uint64_t kMaxManifestBytes = 1 << 16;
constexpr size_t kMaxManifestFiles = 64;

// A plain file name: letters, digits, '_', '-', '.', not starting with a dot (so neither "."
// nor ".." nor a hidden file), no directory part. Nothing a manifest names leaves its folder.
bool is_plain_name(const std::string& name) {
  if (name.empty() || name.size() > 128 || name[0] == '.') return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.';
  });
}

bool is_digits(const std::string& s, size_t max_len) {
  return !s.empty() && s.size() <= max_len &&
         std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// One manifest line, "name bytes crc32": strictly three fields of the right shapes.
ManifestEntry parse_manifest_line(const std::string& line, const fs::path& manifest_path) {
  std::istringstream in(line);
  ManifestEntry e;
  std::string bytes, extra;
  in >> e.name >> bytes >> e.crc >> extra;
  const bool hex = e.crc.size() == 8 && std::all_of(e.crc.begin(), e.crc.end(), [](char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
  });
  if (!extra.empty() || !is_digits(bytes, 15) || !hex) {
    throw InputError(manifest_path.string() + ": malformed entry '" + line + "'");
  }
  if (!is_plain_name(e.name) || e.name == kManifest) {
    throw InputError(manifest_path.string() + ": entry '" + e.name +
                     "' is not a plain file name of this checkpoint");
  }
  e.bytes = std::stoull(bytes);
  return e;
}

// The manifest's entries: the header, then exactly as many well-formed lines as it says,
// each name once.
std::vector<ManifestEntry> read_manifest(const fs::path& dir) {
  const fs::path path = dir / kManifest;
  const std::string text = read_plain_file(path, kMaxManifestBytes);
  if (text.empty() || text.back() != '\n') throw InputError(path.string() + ": truncated (no final newline)");
  std::istringstream manifest(text);
  std::string header;
  std::getline(manifest, header);
  const std::string expected = std::string(kManifestHeader) + " files ";
  const std::string count_text = header.rfind(expected, 0) == 0 ? header.substr(expected.size()) : "";
  if (!is_digits(count_text, 2) || std::stoul(count_text) > kMaxManifestFiles) {
    throw InputError(path.string() + ": not a lica checkpoint manifest (first line '" + header + "')");
  }
  const size_t count = std::stoul(count_text);
  std::vector<ManifestEntry> entries;
  std::set<std::string> names;
  for (std::string line; std::getline(manifest, line);) {
    if (entries.size() == count) throw InputError(path.string() + ": more entries than the " + count_text + " it announces");
    entries.push_back(parse_manifest_line(line, path));
    if (!names.insert(entries.back().name).second) {
      throw InputError(path.string() + ": lists '" + entries.back().name + "' twice");
    }
  }
  if (entries.size() != count) {
    throw InputError(path.string() + ": lists " + std::to_string(entries.size()) + " of " +
                     count_text + " files (truncated)");
  }
  return entries;
}

}  // namespace

namespace {

// A checkpoint directory is a folder of its checkpoints/: a symlink may rename it, never lead
// out of it (canonical() follows at most the kernel's limit of links: a loop is an error).
void check_in_place(const fs::path& dir) {
  std::error_code ec;
  const auto link = fs::symlink_status(dir, ec);
  if (ec || !fs::exists(link)) throw InputError(dir.string() + ": missing");
  if (fs::is_symlink(link)) {
    const fs::path target = fs::canonical(dir, ec);
    if (ec) throw InputError(dir.string() + ": a symlink that cannot be followed: " + ec.message());
    const fs::path parent = fs::canonical(dir.parent_path().empty() ? "." : dir.parent_path(), ec);
    if (ec || target.parent_path() != parent) {
      throw InputError(dir.string() + ": a symlink leading out of its folder (to " + target.string() + ")");
    }
  }
  if (!fs::is_directory(fs::status(dir, ec))) throw InputError(dir.string() + ": not a directory");
}

}  // namespace

std::map<std::string, std::string> read_verified_files(const fs::path& dir) {
  check_in_place(dir);
  std::map<std::string, std::string> files;
  for (const auto& e : read_manifest(dir)) {
    const fs::path path = dir / e.name;
    std::string bytes = read_plain_file(path, e.bytes);
    if (bytes.size() != e.bytes) {
      throw InputError(path.string() + ": " + std::to_string(bytes.size()) + " bytes, manifest says " +
                       std::to_string(e.bytes) + " (truncated or overwritten)");
    }
    const std::string crc = hex32(crc32_of(bytes));
    if (crc != e.crc) {
      throw InputError(path.string() + ": CRC-32 " + crc + ", manifest says " + e.crc + " (corrupt)");
    }
    files.emplace(e.name, std::move(bytes));
  }
  return files;
}

std::string verify_checkpoint(const fs::path& dir) {
  try {
    read_verified_files(dir);
  } catch (const InputError& e) {
    return e.what();
  }
  return "";
}

std::string read_checkpoint_file(const fs::path& dir, const std::string& name) {
  auto files = read_verified_files(dir);
  const auto it = files.find(name);
  if (it == files.end()) throw InputError((dir / kManifest).string() + ": does not list " + name);
  return std::move(it->second);
}

std::optional<int64_t> checkpoint_step(const fs::path& dir) {
  const std::string name = dir.filename().string();
  const std::string prefix = kStepPrefix;
  if (name.size() <= prefix.size() || name.compare(0, prefix.size(), prefix) != 0) return {};
  const std::string digits = name.substr(prefix.size());
  // The writer's own spelling only: no leading zeros (step_012 is not step_12), and in range.
  if (!is_digits(digits, 18) || (digits.size() > 1 && digits[0] == '0')) return {};
  return std::stoll(digits);
}

std::vector<fs::path> list_checkpoints(const fs::path& root) {
  std::error_code ec;
  const auto status = fs::status(root, ec);  // the folder may be a symlink (to scratch space)
  if (status.type() == fs::file_type::not_found) return {};
  if (ec) throw InputError(root.string() + ": " + ec.message());
  if (!fs::is_directory(status)) {
    throw InputError(root.string() + ": not a directory (expected the checkpoints folder)");
  }
  std::vector<std::pair<int64_t, fs::path>> found;
  fs::directory_iterator it(root, ec);
  if (ec) throw InputError("cannot list " + root.string() + ": " + ec.message());
  for (const auto& entry : it) {
    // Whatever its type: the reader says what is wrong with a step_<N> that is no checkpoint.
    const auto step = checkpoint_step(entry.path());
    if (step) found.emplace_back(*step, entry.path());
  }
  std::sort(found.begin(), found.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
  std::vector<fs::path> paths;
  for (auto& f : found) paths.push_back(std::move(f.second));
  return paths;
}

std::optional<fs::path> newest_valid_checkpoint(const fs::path& root) {
  const auto found = open_newest(root, [](const fs::path& dir) {
    const std::string problem = verify_checkpoint(dir);
    if (!problem.empty()) throw InputError(problem);
  });
  return found;
}

std::optional<fs::path> open_newest(const fs::path& root,
                                    const std::function<void(const fs::path&)>& open) {
  const auto all = list_checkpoints(root);
  if (all.empty()) return std::nullopt;
  std::string newest_problem;
  for (const auto& dir : all) {
    try {
      open(dir);
      return dir;
    } catch (const InputError& e) {
      LOG(WARNING) << "skipping checkpoint " << dir.string() << ": " << e.what();
      if (newest_problem.empty()) newest_problem = e.what();
    }
  }
  throw InputError("no valid checkpoint in " + root.string() + ": all " +
                   std::to_string(all.size()) + " fail their checks (see the warnings; the newest: " +
                   newest_problem + ")");
}

CheckpointSpec checkpoint_spec(const fs::path& given) {
  const fs::path spec = given.has_filename() ? given : given.parent_path();  // "step_5/"
  std::error_code ec;
  const auto link = fs::symlink_status(spec, ec);
  const auto target = fs::status(spec, ec);
  if (fs::is_symlink(link) && ec) {
    throw InputError(spec.string() + ": a symlink that cannot be followed: " + ec.message());
  }
  const fs::path root = spec.parent_path().empty() ? fs::path(".") : spec.parent_path();
  if (fs::is_directory(target) && checkpoint_step(spec)) return {root, spec};
  if (fs::is_directory(target)) return {spec, {}};
  if (fs::exists(target) && checkpoint_step(spec)) throw InputError(spec.string() + ": not a directory");
  if (fs::is_regular_file(target) && spec.filename() == "latest") return {root, {}};
  if (fs::is_regular_file(target)) {
    const std::string name = read_pointer(root, spec.filename().string());
    if (!checkpoint_step(name)) {
      throw InputError(spec.string() + ": not a checkpoint pointer file (it should hold a "
                       "step_<N> name, holds '" + name + "')");
    }
    return {root, root / name};
  }
  throw InputError("no such checkpoint: " + spec.string() +
                   " (expected a step_<N> directory, a checkpoints directory, or its 'latest' "
                   "or 'best' pointer)");
}

fs::path resolve_checkpoint(const fs::path& spec) {
  const CheckpointSpec s = checkpoint_spec(spec);
  if (!s.checkpoint.empty()) {
    const std::string problem = verify_checkpoint(s.checkpoint);
    if (!problem.empty()) throw InputError("checkpoint " + s.checkpoint.string() + " is damaged: " + problem);
    return s.checkpoint;
  }
  const auto newest = newest_valid_checkpoint(s.root);
  if (!newest) throw InputError("no checkpoint in " + s.root.string());
  return *newest;
}

void write_pointer(const fs::path& root, const std::string& pointer, const std::string& name) {
  write_file_atomically(root / pointer, name + "\n");
}

std::string read_pointer(const fs::path& root, const std::string& pointer) {
  const fs::path path = root / pointer;
  std::error_code ec;
  if (!fs::exists(fs::symlink_status(path, ec))) return "";
  // A pointer is one short line, and a file of checkpoints/ itself (no symlink out of it).
  std::string text = read_plain_file(path, 256);
  const auto end = text.find('\n');
  if (end != std::string::npos) text.resize(end);
  return text;
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
