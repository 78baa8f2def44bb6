// Issue 6 under mpirun: (a) at W ranks, a run stopped by SIGTERM on one rank and resumed is
// bitwise the run that never stopped; (b) a W = 1 checkpoint resumed at W = 2 (same global
// batch) follows the W = 1 run. W = 1 itself is covered by tests/trainer/test_resume.cpp.
#include <gtest/gtest.h>
#include <unistd.h>

#include "dist/local_communicator.h"
#include "mpi/mpi_env.h"
#include "support/checkpoint_compare.h"
#include "support/resume_runs.h"

namespace lica {
namespace {

namespace fs = std::filesystem;
using testing::comm;
using testing::kResumeTotalSteps;

// A scratch directory every rank sees (rank 0 makes it), with the synthetic data in it.
fs::path shared_scratch(const std::string& name) {
  std::string dir;
  if (comm().rank() == 0) {
    dir = (fs::temp_directory_path() / ("lica_mpi_" + name + "_" + std::to_string(::getpid()))).string();
    fs::remove_all(dir);
    fs::create_directories(dir);
    testing::write_resume_data(fs::path(dir) / "s.h5");
  }
  dist::broadcast_string(comm(), dir, 0);
  return dir;
}

fs::path final_checkpoint(const fs::path& run) {
  return run / "checkpoints" / ("step_" + std::to_string(kResumeTotalSteps));
}

TEST(Resume, StoppedOnOneRankAndResumedIsBitwiseTheStraightRun) {
  if (comm().world_size() == 1) GTEST_SKIP() << "W = 1 is tests/trainer/test_resume.cpp";
  const auto dir = shared_scratch("resume");
  const auto straight = testing::resume_config(dir / "s.h5", dir / "straight");
  const auto cfg = testing::resume_config(dir / "s.h5", dir / "stopped");
  trainer::train(straight, comm());
  // Only the last rank gets the signal: the all-reduce makes every rank stop at step 20.
  const auto first = testing::train_until_signal(cfg, comm(), 20, comm().world_size() - 1);
  EXPECT_TRUE(first.stopped);
  EXPECT_EQ(first.steps, 20);
  const auto second = testing::resume_latest(cfg, comm());
  EXPECT_EQ(second.start_step, 20);
  EXPECT_EQ(second.steps, kResumeTotalSteps);
  if (comm().rank() == 0) {
    const auto d = testing::compare_checkpoints(final_checkpoint(dir / "straight"),
                                                final_checkpoint(dir / "stopped"), cfg);
    std::printf("W=%d stop at 20 + resume vs straight: %lld tensors, max |dparam| %g, max |dmoment| %g\n",
                comm().world_size(), static_cast<long long>(d.tensors), d.params, d.moments);
    EXPECT_EQ(d.params, 0.0);
    EXPECT_EQ(d.moments, 0.0);
    EXPECT_EQ(d.steps, 0);
    EXPECT_EQ(testing::comparable_records(dir / "stopped"), testing::comparable_records(dir / "straight"));
  }
  comm().barrier();
  if (comm().rank() == 0) fs::remove_all(dir);
}

TEST(Resume, AOneRankCheckpointContinuesAtTwoRanks) {
  if (comm().world_size() != 2) GTEST_SKIP() << "runs at W = 2";
  const auto dir = shared_scratch("rescale");
  // No dropout: at W = 2 the second rank has no generator of its own to continue.
  const auto straight = testing::resume_config(dir / "s.h5", dir / "w1", 0.0);
  const auto cfg = testing::resume_config(dir / "s.h5", dir / "w1_then_w2", 0.0);
  if (comm().rank() == 0) {
    dist::LocalCommunicator one;
    trainer::train(straight, one);
    ASSERT_TRUE(testing::train_until_signal(cfg, one, 20, 0).stopped);
  }
  comm().barrier();
  const auto resumed = testing::resume_latest(cfg, comm());
  EXPECT_EQ(resumed.start_step, 20);
  if (comm().rank() == 0) {
    const auto d = testing::compare_checkpoints(final_checkpoint(dir / "w1"),
                                                final_checkpoint(dir / "w1_then_w2"), cfg);
    std::printf("W=1 to step 20, W=2 to step %lld vs W=1 throughout: max |dparam| %g, max |dmoment| %g\n",
                static_cast<long long>(kResumeTotalSteps), d.params, d.moments);
    // float32, a different reduction order for 24 steps: rounding, not a different run.
    EXPECT_LT(d.params, 1e-5);
    EXPECT_EQ(d.steps, 0);
  }
  comm().barrier();
  if (comm().rank() == 0) fs::remove_all(dir);
}

}  // namespace
}  // namespace lica
