#include "run/run_lock.h"

#include <fcntl.h>
#include <glog/logging.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <sstream>

#include "common/error.h"

namespace lica::run {
namespace fs = std::filesystem;
namespace {

std::string host_name() {
  char name[256] = {};
  if (gethostname(name, sizeof(name) - 1) != 0) return "unknown-host";
  return name;
}

std::string now_utc() {
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  char text[32];
  std::strftime(text, sizeof(text), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return text;
}

std::string read_all(int fd) {
  std::string text;
  char buf[512];
  off_t at = 0;
  for (ssize_t n; (n = pread(fd, buf, sizeof(buf), at)) > 0; at += n) text.append(buf, n);
  return text;
}

std::string line_of(const LockHolder& h) {
  return "host=" + h.host + " job=" + h.job + " pid=" + std::to_string(h.pid) + " since=" +
         h.since + "\n";
}

void write_holder(int fd, const std::string& path) {
  const std::string line = line_of(this_process());
  if (ftruncate(fd, 0) != 0 ||
      pwrite(fd, line.data(), line.size(), 0) != static_cast<ssize_t>(line.size())) {
    throw Error(path + ": cannot write the lock holder: " + std::strerror(errno));
  }
  fsync(fd);
}

bool pid_alive(long pid) {
  return pid > 0 && (kill(static_cast<pid_t>(pid), 0) == 0 || errno == EPERM);
}

[[noreturn]] void refuse(const std::string& path, const std::string& holder, const std::string& why) {
  throw InputError(path + ": this run directory is in use by " + holder + "; " + why +
                   ". Two writers would interleave checkpoints and metrics: wait until it ends, "
                   "cancel it, or choose another run.dir (--set run.dir=...)");
}

// Without flock (some network filesystems) only the file's contents are evidence.
void take_without_flock(const std::string& path, const LockHolder& holder) {
  if (holder.host.empty()) return;
  const LockHolder me = this_process();
  if (holder.host == me.host && holder.pid != me.pid && pid_alive(holder.pid)) {
    refuse(path, holder.describe(), "that process is running");
  }
  if (holder.host != me.host && (me.job == "none" || holder.job != me.job)) {
    refuse(path, holder.describe(),
           "this filesystem has no flock, so whether it still runs cannot be checked; remove " +
               path + " once it has ended");
  }
}

}  // namespace

std::string LockHolder::describe() const {
  std::string text = "host " + host;
  if (job != "none" && !job.empty()) text += ", Slurm job " + job;
  return text + ", pid " + std::to_string(pid) + (since.empty() ? "" : ", since " + since);
}

LockHolder this_process() {
  const char* job = std::getenv("SLURM_JOB_ID");
  return {host_name(), job != nullptr && *job != '\0' ? job : "none",
          static_cast<long>(getpid()), now_utc()};
}

LockHolder parse_holder(const std::string& text) {
  LockHolder h;
  std::istringstream in(text);
  for (std::string field; in >> field;) {
    const auto eq = field.find('=');
    if (eq == std::string::npos) return {};
    const std::string key = field.substr(0, eq), value = field.substr(eq + 1);
    if (key == "host") h.host = value;
    else if (key == "job") h.job = value;
    else if (key == "pid") h.pid = std::strtol(value.c_str(), nullptr, 10);
    else if (key == "since") h.since = value;
  }
  return h;
}

RunLock RunLock::take(const std::string& dir) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) throw InputError("run.dir: cannot create '" + dir + "': " + ec.message());
  RunLock lock;
  lock.path_ = (fs::path(dir) / ".lock").string();
  lock.fd_ = open(lock.path_.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (lock.fd_ < 0) {
    throw InputError(lock.path_ + ": cannot open the run directory's lock file: " +
                     std::strerror(errno));
  }
  const bool locked = flock(lock.fd_, LOCK_EX | LOCK_NB) == 0;
  const int err = errno;
  const LockHolder previous = parse_holder(read_all(lock.fd_));  // read once we know
  if (!locked) {
    if (err == EWOULDBLOCK) {
      // The holder may not have written its line yet: it took the lock a moment ago.
      refuse(lock.path_, previous.host.empty() ? "another process" : previous.describe(),
             "it holds the lock");
    }
    if (err != ENOLCK && err != EOPNOTSUPP && err != EINVAL) {
      throw Error(lock.path_ + ": flock: " + std::strerror(err));
    }
    LOG(WARNING) << lock.path_ << ": this filesystem does not support flock ("
                 << std::strerror(err) << "); the lock file's contents guard the run directory";
    take_without_flock(lock.path_, previous);
  }
  if (!previous.host.empty()) lock.took_over_from_ = previous.describe();
  write_holder(lock.fd_, lock.path_);
  lock.owns_line_ = true;  // from here on the file's line is ours to empty
  return lock;
}

RunLock::RunLock(RunLock&& other) noexcept
    : fd_(other.fd_), owns_line_(other.owns_line_), path_(std::move(other.path_)),
      took_over_from_(std::move(other.took_over_from_)) {
  other.fd_ = -1;
}

RunLock& RunLock::operator=(RunLock&& other) noexcept {
  if (this != &other) {
    release();
    fd_ = other.fd_;
    owns_line_ = other.owns_line_;
    path_ = std::move(other.path_);
    took_over_from_ = std::move(other.took_over_from_);
    other.fd_ = -1;
  }
  return *this;
}

RunLock::~RunLock() { release(); }

void RunLock::release() {
  if (fd_ < 0) return;
  // A refused take leaves the holder's line alone.
  if (owns_line_ && ftruncate(fd_, 0) != 0) {
    LOG(WARNING) << path_ << ": cannot empty the lock file: " << std::strerror(errno);
  }
  close(fd_);  // releases the flock
  fd_ = -1;
}

}  // namespace lica::run
