// Issue 6 at W = 1, in one process: a run stopped by SIGTERM and resumed equals the run that
// never stopped, bitwise (parameters, AdamW state, metrics.jsonl); damaged checkpoints fall
// back to the previous one; retention keeps the newest K and the best.
#include <gtest/gtest.h>

#include <cmath>
#include <unistd.h>

#include "common/error.h"
#include "dist/local_communicator.h"
#include "support/checkpoint_compare.h"
#include "support/resume_runs.h"
#include "run/checkpoint.h"
#include "run/model_options.h"
#include "run/checkpoint_store.h"

namespace lica::trainer {
namespace {

namespace fs = std::filesystem;
using testing::kResumeTotalSteps;

class Resume : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = fs::temp_directory_path() / ("lica_resume_" + std::to_string(::getpid()));
    fs::create_directories(dir_);
    testing::write_resume_data(dir_ / "s.h5");
    dist::LocalCommunicator comm;
    straight_ = train(config("straight"), comm);
  }
  static void TearDownTestSuite() { fs::remove_all(dir_); }
  static run::Config config(const std::string& run, double dropout = 0.1) {
    return testing::resume_config(dir_ / "s.h5", dir_ / run, dropout);
  }
  static fs::path final_checkpoint(const std::string& run) {
    return dir_ / run / "checkpoints" / ("step_" + std::to_string(kResumeTotalSteps));
  }

  static fs::path dir_;
  static TrainSummary straight_;
  dist::LocalCommunicator comm_;
};
fs::path Resume::dir_;
TrainSummary Resume::straight_;

TEST_F(Resume, StoppedBySigtermAndResumedIsBitwiseTheStraightRun) {
  ASSERT_EQ(straight_.steps, kResumeTotalSteps);
  const auto cfg = config("stopped");
  const auto first = testing::train_until_signal(cfg, comm_, 20, 0);
  EXPECT_TRUE(first.stopped);
  EXPECT_EQ(first.steps, 20);
  EXPECT_EQ(run::read_pointer(dir_ / "stopped" / "checkpoints", "latest"), "step_20");

  const auto second = testing::resume_latest(cfg, comm_);
  EXPECT_FALSE(second.stopped);
  EXPECT_EQ(second.start_step, 20);
  EXPECT_EQ(second.steps, kResumeTotalSteps);

  const auto d = testing::compare_checkpoints(final_checkpoint("straight"), final_checkpoint("stopped"), cfg);
  std::cout << "W=1 stop at 20 + resume vs straight: " << d.tensors << " tensors, max |dparam| "
            << d.params << ", max |dmoment| " << d.moments << ", max |dstep| " << d.steps << "\n";
  EXPECT_EQ(d.params, 0.0);
  EXPECT_EQ(d.moments, 0.0);
  EXPECT_EQ(d.steps, 0);
  // metrics.jsonl continues: every step once, every record as in the straight run.
  EXPECT_EQ(testing::comparable_records(dir_ / "stopped"), testing::comparable_records(dir_ / "straight"));
  ASSERT_TRUE(second.test && straight_.test);
  EXPECT_EQ(second.test->t2v.r1, straight_.test->t2v.r1);
  EXPECT_EQ(second.test->v2t.mnr, straight_.test->v2t.mnr);
}

// The AAI state (momentum towers, queues that wrap around, LMIM's heads, the fusion encoder,
// ITM's per-step negative draws) is saved or re-derived: a stopped and resumed run with every
// AAI term equals the straight one bitwise.
TEST_F(Resume, AaiMomentumQueuesAndHeadsResumeBitwise) {
  const auto aai = [&](const std::string& run) {
    auto cfg = config(run);
    cfg.loss.itc.weight = 0.5;
    cfg.loss.ims.weight = 0.3;
    cfg.loss.lmim.weight = 0.4;
    cfg.model.fusion.layers = 1;
    cfg.loss.itm_weight = 0.5;
    cfg.model.momentum.queue_size = 60;  // wraps every 2.5 steps of 24
    cfg.model.momentum.m = 0.9;
    return cfg;
  };
  const auto straight = train(aai("aai_straight"), comm_);
  const auto cfg = aai("aai_stopped");
  ASSERT_TRUE(testing::train_until_signal(cfg, comm_, 17, 0).stopped);
  EXPECT_TRUE(fs::exists(dir_ / "aai_stopped" / "checkpoints" / "step_17" / "momentum.pt"));
  const auto resumed = testing::resume_latest(cfg, comm_);
  EXPECT_EQ(resumed.start_step, 17);
  const auto d = testing::compare_checkpoints(final_checkpoint("aai_straight"),
                                              final_checkpoint("aai_stopped"), cfg);
  std::cout << "W=1 AAI stop at 17 + resume vs straight: " << d.tensors << " tensors, max |dparam| "
            << d.params << ", max |dmomentum| " << d.momentum << ", max |dmoment| " << d.moments << "\n";
  EXPECT_EQ(d.params, 0.0);
  EXPECT_EQ(d.momentum, 0.0);
  EXPECT_EQ(d.moments, 0.0);
  EXPECT_EQ(testing::comparable_records(dir_ / "aai_stopped"), testing::comparable_records(dir_ / "aai_straight"));
  // A resume that did not restore the queues would differ: the straight run's queues are full.
  const auto ckpt = final_checkpoint("aai_straight");
  const auto options = run::dual_encoder_options(cfg, run::open_features(cfg));
  model::DualEncoder online(options);
  model::Momentum fresh(options, online, 0.9, 60);
  run::load_momentum(ckpt, *fresh);
  EXPECT_EQ(fresh->filled(), 60);
  EXPECT_GT(straight.last_loss, 0.0);
}

// trainer.micro_batch with dropout on (each micro-batch's second pass replays its
// generator state) and LICA + ITC + IMS: a stopped and resumed run equals the straight one
// bitwise.
TEST_F(Resume, MicroBatchedRunResumesBitwise) {
  const auto micro = [&](const std::string& run) {
    auto cfg = config(run);
    cfg.trainer.micro_batch = 7;  // 24 rows: 7 + 7 + 7 + 3
    cfg.loss.lica.weight = 0.5;
    cfg.loss.itc.weight = 0.5;
    cfg.loss.ims.weight = 0.3;
    cfg.model.momentum.queue_size = 60;
    return cfg;
  };
  const auto straight = train(micro("micro_straight"), comm_);
  const auto cfg = micro("micro_stopped");
  ASSERT_TRUE(testing::train_until_signal(cfg, comm_, 13, 0).stopped);
  const auto resumed = testing::resume_latest(cfg, comm_);
  EXPECT_EQ(resumed.start_step, 13);
  const auto d = testing::compare_checkpoints(final_checkpoint("micro_straight"),
                                              final_checkpoint("micro_stopped"), cfg);
  std::cout << "W=1 micro_batch 7 stop at 13 + resume vs straight: max |dparam| " << d.params
            << ", max |dmomentum| " << d.momentum << ", max |dmoment| " << d.moments << "\n";
  EXPECT_EQ(d.params, 0.0);
  EXPECT_EQ(d.momentum, 0.0);
  EXPECT_EQ(d.moments, 0.0);
  EXPECT_EQ(testing::comparable_records(dir_ / "micro_stopped"),
            testing::comparable_records(dir_ / "micro_straight"));
  EXPECT_TRUE(std::isfinite(straight.last_loss));
}

TEST_F(Resume, ATruncatedCheckpointFallsBackToThePreviousOne) {
  const auto cfg = config("truncated");
  ASSERT_TRUE(testing::train_until_signal(cfg, comm_, 20, 0).stopped);
  const auto kept = run::list_checkpoints(dir_ / "truncated" / "checkpoints");  // newest first
  ASSERT_GE(kept.size(), 2u);
  ASSERT_EQ(kept[0].filename(), "step_20");
  fs::resize_file(kept[0] / "model.pt", fs::file_size(kept[0] / "model.pt") / 2);
  const auto resumed = testing::resume_latest(cfg, comm_);
  EXPECT_EQ(resumed.start_step, *run::checkpoint_step(kept[1]));
  EXPECT_EQ(resumed.steps, kResumeTotalSteps);
  const auto d = testing::compare_checkpoints(final_checkpoint("straight"), final_checkpoint("truncated"), cfg);
  EXPECT_EQ(d.params, 0.0);
  EXPECT_EQ(d.moments, 0.0);
  // The records after the fallback checkpoint were written twice; the log keeps each once, the first
  // copies are kept aside.
  EXPECT_EQ(testing::comparable_records(dir_ / "truncated"), testing::comparable_records(dir_ / "straight"));
  EXPECT_TRUE(fs::exists(dir_ / "truncated" / "metrics.superseded.jsonl"));
}

TEST_F(Resume, NoValidCheckpointIsAnInputError) {
  const auto cfg = config("corrupt");
  ASSERT_TRUE(testing::train_until_signal(cfg, comm_, 12, 0).stopped);  // step_10, step_12
  for (const auto& dir : run::list_checkpoints(dir_ / "corrupt" / "checkpoints")) {
    fs::resize_file(dir / "optimizer.pt", 10);
  }
  try {
    testing::resume_latest(cfg, comm_);
    FAIL() << "expected InputError";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("no valid checkpoint"), std::string::npos) << e.what();
  }
}

TEST_F(Resume, RetentionKeepsTheNewestAndTheBest) {
  // keep_last 2 with a checkpoint every 10 steps and one after each improving validation.
  const fs::path root = dir_ / "straight" / "checkpoints";
  const auto left = run::list_checkpoints(root);
  const std::string best = run::read_pointer(root, "best");
  ASSERT_FALSE(best.empty());
  EXPECT_EQ(run::verify_checkpoint(root / best), "");
  std::vector<std::string> names;
  for (const auto& p : left) names.push_back(p.filename().string());
  std::vector<std::string> expected{"step_44", "step_40"};
  if (best != "step_44" && best != "step_40") expected.push_back(best);
  EXPECT_EQ(names, expected);
  // The best is the first validation with the highest t2v_r1 (checkpoint.best_metric).
  double top = -1;
  int64_t top_step = -1;
  for (const auto& r : testing::read_records(dir_ / "straight")) {
    if (r["type"].as<std::string>() == "eval" && r["split"].as<std::string>() == "val" &&
        r["t2v_r1"].as<double>() > top) {
      top = r["t2v_r1"].as<double>(), top_step = r["step"].as<int64_t>();
    }
  }
  EXPECT_EQ(best, "step_" + std::to_string(top_step));
  const auto p = run::read_progress(root / best);
  EXPECT_NEAR(p.metric_value, top, 1e-6);  // metrics.jsonl has 10 significant digits
  EXPECT_EQ(p.best_checkpoint, best);
}

TEST_F(Resume, AChangedTrainingKeyIsRefusedNamingIt) {
  auto cfg = config("changed");
  ASSERT_TRUE(testing::train_until_signal(cfg, comm_, 5, 0).stopped);
  cfg.trainer.lr = 1e-3;
  cfg.trainer.log_every = 3;  // harmless: not part of the training
  try {
    testing::resume_latest(cfg, comm_);
    FAIL() << "expected InputError";
  } catch (const InputError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("trainer.lr: 0.002 -> 0.001"), std::string::npos) << what;
    EXPECT_EQ(what.find("log_every"), std::string::npos) << what;
  }
}

TEST_F(Resume, ResumeLatestWithoutCheckpointsStartsANewRunAndAPlainRunRefusesAnOldDir) {
  const auto cfg = config("fresh");
  const auto r = testing::resume_latest(cfg, comm_);
  EXPECT_EQ(r.start_step, 0);
  EXPECT_EQ(r.steps, kResumeTotalSteps);
  EXPECT_THROW(train(cfg, comm_), InputError);  // metrics.jsonl is there: no overwrite
}

}  // namespace
}  // namespace lica::trainer
