#include "common/files.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "common/error.h"

namespace lica {
namespace {

std::string errno_text() { return std::strerror(errno); }

// A file descriptor closed on scope exit.
class Fd {
 public:
  Fd(const std::filesystem::path& path, int flags, mode_t mode = 0644)
      : fd_(::open(path.c_str(), flags, mode)) {
    if (fd_ < 0) throw Error("cannot open " + path.string() + ": " + errno_text());
  }
  ~Fd() { ::close(fd_); }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

void fsync_or_throw(const Fd& fd, const std::filesystem::path& path) {
  if (::fsync(fd.get()) != 0) throw Error("cannot fsync " + path.string() + ": " + errno_text());
}

}  // namespace

void write_file_synced(const std::filesystem::path& path, const std::string& bytes) {
  Fd fd(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC);
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::write(fd.get(), bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw Error("cannot write " + path.string() + ": " + errno_text());
    done += static_cast<size_t>(n);
  }
  fsync_or_throw(fd, path);
}

void fsync_file(const std::filesystem::path& path) {
  fsync_or_throw(Fd(path, O_RDONLY | O_CLOEXEC), path);
}

void fsync_directory(const std::filesystem::path& dir) {
  fsync_or_throw(Fd(dir, O_RDONLY | O_DIRECTORY), dir);
}

void rename_or_throw(const std::filesystem::path& from, const std::filesystem::path& to) {
  if (std::rename(from.c_str(), to.c_str()) != 0) {
    throw Error("cannot rename " + from.string() + " to " + to.string() + ": " + errno_text());
  }
}

void write_file_atomically(const std::filesystem::path& path, const std::string& text) {
  const std::filesystem::path tmp = path.string() + ".tmp";
  write_file_synced(tmp, text);
  rename_or_throw(tmp, path);
  const auto dir = path.parent_path();
  fsync_directory(dir.empty() ? std::filesystem::path(".") : dir);
}

}  // namespace lica
