// One writer per run directory: the flock on run.dir/.lock, the refusal naming the holder,
// the take-over of a lock whose holder ended (a leftover line, a killed process).
#include "run/run_lock.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "common/error.h"

namespace lica::run {
namespace {

namespace fs = std::filesystem;

class RunLockTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("lica_run_lock_" + std::to_string(getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string lock_text() const {
    std::ifstream in(dir_ / ".lock");
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  }
  // The InputError message of a take that must be refused ("" when it was not).
  std::string refusal() const {
    try {
      RunLock::take(dir_.string());
    } catch (const InputError& e) {
      return e.what();
    }
    return "";
  }

  fs::path dir_;
};

TEST_F(RunLockTest, SecondWriterIsRefusedNamingTheHolder) {
  RunLock first = RunLock::take(dir_.string());
  ASSERT_TRUE(first.held());
  EXPECT_TRUE(first.took_over_from().empty());
  const LockHolder holder = parse_holder(lock_text());
  EXPECT_EQ(holder.pid, getpid());
  EXPECT_EQ(holder.host, this_process().host);
  EXPECT_FALSE(holder.since.empty());

  const std::string why = refusal();
  ASSERT_FALSE(why.empty()) << "a second take of a held lock succeeded";
  EXPECT_NE(why.find((dir_ / ".lock").string()), std::string::npos) << why;
  EXPECT_NE(why.find("pid " + std::to_string(getpid())), std::string::npos) << why;
  EXPECT_NE(why.find("host " + holder.host), std::string::npos) << why;
}

TEST_F(RunLockTest, ACleanEndReleasesAndEmptiesTheFile) {
  { RunLock lock = RunLock::take(dir_.string()); }
  EXPECT_EQ(lock_text(), "");
  RunLock again = RunLock::take(dir_.string());
  EXPECT_TRUE(again.took_over_from().empty()) << again.took_over_from();
}

TEST_F(RunLockTest, MovedLockStaysHeldUntilItsLastOwnerEnds) {
  RunLock outer;
  {
    RunLock inner = RunLock::take(dir_.string());
    outer = std::move(inner);
  }
  EXPECT_TRUE(outer.held());
  EXPECT_FALSE(refusal().empty()) << "the moved-from lock released the directory";
}

TEST_F(RunLockTest, ALineLeftByAnEndedHolderIsTakenOver) {
  fs::create_directories(dir_);
  std::ofstream(dir_ / ".lock") << "host=node7 job=4242 pid=999999 since=2026-12-01T00:00:00Z\n";
  RunLock lock = RunLock::take(dir_.string());
  EXPECT_NE(lock.took_over_from().find("host node7, Slurm job 4242, pid 999999"),
            std::string::npos)
      << lock.took_over_from();
  EXPECT_EQ(parse_holder(lock_text()).pid, getpid());
}

TEST_F(RunLockTest, AKilledHolderIsRefusedWhileAliveAndTakenOverOnceDead) {
  int ready[2];
  ASSERT_EQ(pipe(ready), 0);
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    close(ready[0]);
    try {
      RunLock lock = RunLock::take(dir_.string());
      const char byte = 1;
      if (write(ready[1], &byte, 1) != 1) _exit(3);
      for (;;) pause();
    } catch (...) {
      _exit(4);
    }
  }
  close(ready[1]);
  char byte = 0;
  ASSERT_EQ(read(ready[0], &byte, 1), 1) << "the child could not take the lock";
  close(ready[0]);

  const std::string why = refusal();
  EXPECT_NE(why.find("pid " + std::to_string(child)), std::string::npos) << why;

  kill(child, SIGKILL);
  int status = 0;
  waitpid(child, &status, 0);
  ASSERT_TRUE(WIFSIGNALED(status));
  RunLock lock = RunLock::take(dir_.string());
  EXPECT_NE(lock.took_over_from().find("pid " + std::to_string(child)), std::string::npos)
      << lock.took_over_from();
}

TEST(LockHolder, ParsesItsOwnLineAndRejectsOtherText) {
  const LockHolder h = parse_holder("host=a job=none pid=12 since=t\n");
  EXPECT_EQ(h.host, "a");
  EXPECT_EQ(h.pid, 12);
  EXPECT_EQ(h.describe(), "host a, pid 12, since t");
  EXPECT_TRUE(parse_holder("not a lock line").host.empty());
  EXPECT_TRUE(parse_holder("").host.empty());
}

}  // namespace
}  // namespace lica::run
