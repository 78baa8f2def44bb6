// Collective timeouts (docs/design.md §5): a lost peer must end the job with a clear message, not
// leave every other rank waiting forever. Backend-neutral: a backend registers each
// collective it starts with a done-probe; a background thread polls the probes and, when one
// stays pending longer than the timeout, logs an ERROR naming the collective, the rank and
// the seconds waited, and calls the backend's failure action (which aborts the job).
//
// The probes run on the watchdog thread, never on the caller's: they must be thread-safe,
// quick and non-blocking (an atomic flag, cudaEventQuery), which is why a backend whose calls
// must stay on one thread (MPI under MPI_THREAD_FUNNELED) probes a flag its own thread sets.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace lica::dist {

// "all_reduce of 6.2 MB": how a collective is named in a timeout message.
std::string collective_name(const std::string& op, int64_t bytes);

class Watchdog {
 public:
  using Clock = std::chrono::steady_clock;
  // True once the collective has completed. Thrown exceptions count as failures.
  using DoneProbe = std::function<bool()>;
  // The whole job's failure: called once, on the watchdog thread, with the logged message.
  // In a real backend it does not return (it aborts the job); if it does, the watchdog
  // stops watching.
  using OnFailure = std::function<void(const std::string& message)>;
  // Polled with the probes: a non-empty result is a failure reported at once, without
  // waiting for the timeout (NCCL's asynchronous errors).
  using HealthCheck = std::function<std::string()>;

  struct Options {
    double timeout_s = 600.0;  // 0 = no timeout: no thread, watch() does nothing
    double poll_s = 0.0;       // 0 = min(1 s, timeout / 10)
    int rank = 0;              // named in messages
    HealthCheck health;        // optional
    // Run first on the watchdog thread (e.g. select the CUDA device the probes query).
    std::function<void()> thread_init;
  };

  Watchdog(Options options, OnFailure on_failure);
  // Stops the thread; works still pending are forgotten.
  ~Watchdog();
  Watchdog(const Watchdog&) = delete;
  Watchdog& operator=(const Watchdog&) = delete;

  bool enabled() const { return options_.timeout_s > 0; }
  double timeout_s() const { return options_.timeout_s; }

  // Starts the clock of collective `what`; `done` is polled until it returns true.
  void watch(std::string what, DoneProbe done);

  // A collective that completes when the calling thread says so (a blocking call, a wait on
  // the caller's thread): the flag is set by done() or by the destructor, so a call that
  // throws is not reported as lost as well.
  class Scope {
   public:
    Scope() = default;
    explicit Scope(std::shared_ptr<std::atomic<bool>> flag) : flag_(std::move(flag)) {}
    Scope(Scope&&) = default;
    Scope& operator=(Scope&& other) noexcept {
      done();
      flag_ = std::move(other.flag_);
      return *this;
    }
    ~Scope() { done(); }
    void done() {
      if (flag_) flag_->store(true, std::memory_order_release);
    }

   private:
    std::shared_ptr<std::atomic<bool>> flag_;
  };
  Scope scope(std::string what);

 private:
  struct Entry {
    std::string what;
    Clock::time_point start;
    DoneProbe done;
  };

  void run();
  // The message of a failure, logged and passed on; stops the watching.
  void fail(const std::string& message);

  Options options_;
  OnFailure on_failure_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::vector<Entry> incoming_;  // registered since the last poll (guarded by mutex_)
  bool stop_ = false;            // guarded by mutex_
  std::thread thread_;
};

}  // namespace lica::dist
