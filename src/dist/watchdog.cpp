#include "dist/watchdog.h"

#include <glog/logging.h>

#include <algorithm>
#include <cstdio>

namespace lica::dist {

std::string collective_name(const std::string& op, int64_t bytes) {
  char size[32];
  if (bytes >= 1000 * 1000) {
    std::snprintf(size, sizeof size, "%.1f MB", static_cast<double>(bytes) / 1e6);
  } else if (bytes >= 1000) {
    std::snprintf(size, sizeof size, "%.1f kB", static_cast<double>(bytes) / 1e3);
  } else {
    std::snprintf(size, sizeof size, "%lld B", static_cast<long long>(bytes));
  }
  return op + " of " + size;
}

Watchdog::Watchdog(Options options, OnFailure on_failure)
    : options_(std::move(options)), on_failure_(std::move(on_failure)) {
  if (!enabled()) return;
  if (options_.poll_s <= 0) options_.poll_s = std::min(1.0, options_.timeout_s / 10);
  thread_ = std::thread([this] { run(); });
}

Watchdog::~Watchdog() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
  }
  wake_.notify_all();
  if (!thread_.joinable()) return;
  // A failure action that destroys its own watchdog must not join itself.
  if (thread_.get_id() == std::this_thread::get_id()) {
    thread_.detach();
  } else {
    thread_.join();
  }
}

void Watchdog::watch(std::string what, DoneProbe done) {
  if (!enabled()) return;
  std::lock_guard<std::mutex> lock(mutex_);
  if (stop_) return;
  incoming_.push_back({std::move(what), Clock::now(), std::move(done)});
}

Watchdog::Scope Watchdog::scope(std::string what) {
  if (!enabled()) return Scope();
  auto flag = std::make_shared<std::atomic<bool>>(false);
  watch(std::move(what), [flag] { return flag->load(std::memory_order_acquire); });
  return Scope(flag);
}

void Watchdog::fail(const std::string& message) {
  LOG(ERROR) << message;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
  }
  on_failure_(message);
}

void Watchdog::run() {
  if (options_.thread_init) options_.thread_init();
  const auto poll = std::chrono::duration_cast<Clock::duration>(
      std::chrono::duration<double>(options_.poll_s));
  const auto rank = "rank " + std::to_string(options_.rank) + ": ";
  // Owned by this thread alone, so the probes run without the lock: a slow probe never
  // holds up a collective being registered.
  std::vector<Entry> pending;
  while (true) {
    {
      std::unique_lock<std::mutex> lock(mutex_);
      wake_.wait_for(lock, poll, [this] { return stop_; });
      if (stop_) return;
      for (auto& e : incoming_) pending.push_back(std::move(e));
      incoming_.clear();
    }
    if (options_.health) {
      std::string problem;
      try {
        problem = options_.health();
      } catch (const std::exception& e) {
        problem = e.what();
      }
      if (!problem.empty()) {
        fail(rank + problem + "; aborting the job");
        return;
      }
    }
    const auto now = Clock::now();
    // Oldest first: the collective that has waited longest is the one to name.
    for (auto it = pending.begin(); it != pending.end();) {
      bool done = false;
      try {
        done = it->done();
      } catch (const std::exception& e) {
        fail(rank + it->what + " failed: " + e.what() + "; aborting the job");
        return;
      }
      if (done) {
        it = pending.erase(it);
        continue;
      }
      const double waited = std::chrono::duration<double>(now - it->start).count();
      if (waited > options_.timeout_s) {
        char figures[96];
        std::snprintf(figures, sizeof figures, "%.1f s (dist.timeout_s = %g)", waited,
                      options_.timeout_s);
        fail(rank + it->what + " has not completed after " + figures +
             ": a peer rank is lost or stuck; aborting the job");
        return;
      }
      ++it;
    }
  }
}

}  // namespace lica::dist
