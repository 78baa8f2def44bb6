// One writer per run directory (docs/slurm.md): rank 0 holds an exclusive flock on
// run.dir/.lock for the whole run. The file names the holder (host, Slurm job, pid, start
// time) so a refused second writer can say who holds it.
#pragma once

#include <string>

namespace lica::run {

// Who holds (or last held) a run directory's lock: the file's one line, parsed.
struct LockHolder {
  std::string host;
  std::string job;  // SLURM_JOB_ID, "none" outside Slurm
  long pid = 0;
  std::string since;  // ISO 8601, UTC

  std::string describe() const;  // "host h, Slurm job 12, pid 345, since ..."
};

class RunLock {
 public:
  // Creates `dir` if needed and takes its lock. A lock held by a live process (here or on
  // another host) is an InputError naming the holder. A lock file left by a process that
  // ended without releasing it (killed, or its Slurm job over) is taken over: the caller
  // warns with took_over_from().
  // On a filesystem without flock the file's contents decide: a live pid on this host
  // refuses, as does another host's holder of another job; the rest is taken over.
  static RunLock take(const std::string& dir);

  RunLock() = default;
  RunLock(RunLock&& other) noexcept;
  RunLock& operator=(RunLock&& other) noexcept;
  RunLock(const RunLock&) = delete;
  RunLock& operator=(const RunLock&) = delete;
  // Empties the file (a clean end leaves no holder to take over) and releases the lock.
  ~RunLock();

  bool held() const { return fd_ >= 0; }
  const std::string& path() const { return path_; }
  // The holder this lock took over from ("" when the file was empty or new).
  const std::string& took_over_from() const { return took_over_from_; }

 private:
  void release();

  int fd_ = -1;
  bool owns_line_ = false;  // the file holds this process's line
  std::string path_;
  std::string took_over_from_;
};

// The current process as a holder (host name, SLURM_JOB_ID, pid, now).
LockHolder this_process();

// Parses the lock file's line; an empty host when the text is not one.
LockHolder parse_holder(const std::string& text);

}  // namespace lica::run
