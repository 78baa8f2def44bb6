// The collective watchdog with fake works: the failure action records instead of aborting.
// Timing margins are wide (this machine's 2 cores run other builds): "fires" allows 10 s,
// "does not fire" checks well after the timeout or well before it.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "dist/watchdog.h"

namespace lica::dist {
namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

// What the failure action saw.
class Failures {
 public:
  Watchdog::OnFailure action() {
    return [this](const std::string& message) {
      std::lock_guard<std::mutex> lock(mutex_);
      messages_.push_back(message);
      at_ = Clock::now();
      changed_.notify_all();
    };
  }
  // True once a failure was reported, waiting up to `limit`.
  bool wait(std::chrono::milliseconds limit) {
    std::unique_lock<std::mutex> lock(mutex_);
    return changed_.wait_for(lock, limit, [this] { return !messages_.empty(); });
  }
  std::vector<std::string> messages() {
    std::lock_guard<std::mutex> lock(mutex_);
    return messages_;
  }
  Clock::time_point at() {
    std::lock_guard<std::mutex> lock(mutex_);
    return at_;
  }

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<std::string> messages_;
  Clock::time_point at_;
};

Watchdog::Options options(double timeout_s, double poll_s = 0.02) {
  Watchdog::Options o;
  o.timeout_s = timeout_s;
  o.poll_s = poll_s;
  o.rank = 3;
  return o;
}

bool has(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

TEST(Watchdog, CollectiveNameSaysTheSize) {
  EXPECT_EQ(collective_name("all_reduce", 6'200'000), "all_reduce of 6.2 MB");
  EXPECT_EQ(collective_name("all_gather", 2'048), "all_gather of 2.0 kB");
  EXPECT_EQ(collective_name("broadcast", 8), "broadcast of 8 B");
}

TEST(Watchdog, FiresAfterTheTimeoutNamingCollectiveRankAndSeconds) {
  Failures failures;
  Watchdog dog(options(0.3), failures.action());
  const auto start = Clock::now();
  dog.watch("all_reduce of 6.2 MB", [] { return false; });
  ASSERT_TRUE(failures.wait(10s)) << "a collective pending past the timeout was not reported";
  EXPECT_GE(std::chrono::duration<double>(failures.at() - start).count(), 0.3)
      << "reported before the timeout";
  const auto messages = failures.messages();
  ASSERT_EQ(messages.size(), 1u);
  const auto& m = messages[0];
  EXPECT_TRUE(has(m, "rank 3: all_reduce of 6.2 MB has not completed after ")) << m;
  EXPECT_TRUE(has(m, "(dist.timeout_s = 0.3)")) << m;
  EXPECT_TRUE(has(m, "aborting the job")) << m;
  // The seconds waited, as written, are at least the timeout.
  const auto after = m.find("after ") + 6;
  EXPECT_GE(std::stod(m.substr(after)), 0.3) << m;
}

TEST(Watchdog, DoesNotFireBeforeTheTimeout) {
  Failures failures;
  Watchdog dog(options(5.0), failures.action());
  dog.watch("barrier", [] { return false; });
  EXPECT_FALSE(failures.wait(500ms)) << failures.messages().at(0);
}

TEST(Watchdog, CompletedWorksDoNotFire) {
  Failures failures;
  Watchdog dog(options(0.2), failures.action());
  // Done at once, done a little later (before the timeout), and a scope ended by its owner.
  dog.watch("all_reduce of 1 B", [] { return true; });
  const auto start = Clock::now();
  dog.watch("all_gather of 1 B", [start] { return Clock::now() - start > 50ms; });
  {
    auto scope = dog.scope("broadcast of 1 B");
  }
  auto kept = dog.scope("barrier");
  kept.done();
  EXPECT_FALSE(failures.wait(1000ms)) << failures.messages().at(0);
}

TEST(Watchdog, NamesTheOverdueCollectiveAmongCompletedOnes) {
  Failures failures;
  Watchdog dog(options(0.2), failures.action());
  dog.watch("all_reduce of 1 B", [] { return true; });
  auto open = dog.scope("all_gather of 2 B");
  dog.watch("broadcast of 3 B", [] { return true; });
  ASSERT_TRUE(failures.wait(10s));
  const auto messages = failures.messages();
  ASSERT_EQ(messages.size(), 1u) << "the job's failure is reported once";
  EXPECT_TRUE(has(messages[0], "all_gather of 2 B")) << messages[0];
}

TEST(Watchdog, ReportsOnceThenStopsWatching) {
  Failures failures;
  Watchdog dog(options(0.1), failures.action());
  dog.watch("all_reduce of 1 B", [] { return false; });
  dog.watch("all_reduce of 2 B", [] { return false; });
  ASSERT_TRUE(failures.wait(10s));
  dog.watch("all_reduce of 3 B", [] { return false; });
  std::this_thread::sleep_for(500ms);
  EXPECT_EQ(failures.messages().size(), 1u);
}

TEST(Watchdog, ZeroTimeoutWatchesNothing) {
  Failures failures;
  Watchdog dog(options(0.0), failures.action());
  EXPECT_FALSE(dog.enabled());
  dog.watch("all_reduce of 1 B", [] { return false; });
  auto scope = dog.scope("barrier");
  EXPECT_FALSE(failures.wait(300ms));
}

TEST(Watchdog, AThrowingProbeIsAFailureNamingTheCollective) {
  Failures failures;
  Watchdog dog(options(600.0), failures.action());
  dog.watch("all_reduce of 1 B", []() -> bool { throw std::runtime_error("illegal address"); });
  ASSERT_TRUE(failures.wait(10s)) << "a failing probe must not wait for the timeout";
  const auto m = failures.messages().at(0);
  EXPECT_TRUE(has(m, "rank 3: all_reduce of 1 B failed: illegal address")) << m;
}

TEST(Watchdog, HealthProblemIsReportedWithoutWaitingForTheTimeout) {
  Failures failures;
  auto o = options(600.0);
  std::atomic<bool> broken{false};
  o.health = [&broken] { return broken ? std::string("remote error") : std::string(); };
  Watchdog dog(o, failures.action());
  EXPECT_FALSE(failures.wait(200ms));
  broken = true;
  ASSERT_TRUE(failures.wait(10s));
  EXPECT_TRUE(has(failures.messages().at(0), "rank 3: remote error; aborting the job"));
}

TEST(Watchdog, ThreadInitRunsOnTheWatchdogThread) {
  Failures failures;
  auto o = options(600.0);
  std::atomic<bool> ran{false};
  std::thread::id id;
  o.thread_init = [&] {
    id = std::this_thread::get_id();
    ran = true;
  };
  {
    Watchdog dog(o, failures.action());
    const auto deadline = Clock::now() + 10s;
    while (!ran && Clock::now() < deadline) std::this_thread::sleep_for(10ms);
  }
  ASSERT_TRUE(ran);
  EXPECT_NE(id, std::this_thread::get_id());
}

TEST(Watchdog, ShutsDownPromptlyWithWorksStillPending) {
  Failures failures;
  const auto start = Clock::now();
  {
    // Default poll (1 s for this timeout): the destructor must wake the thread, not wait it out.
    Watchdog dog(options(600.0, 0.0), failures.action());
    dog.watch("all_reduce of 1 B", [] { return false; });
    std::this_thread::sleep_for(50ms);
  }
  EXPECT_LT(std::chrono::duration<double>(Clock::now() - start).count(), 0.9);
  EXPECT_TRUE(failures.messages().empty());
}

}  // namespace
}  // namespace lica::dist
