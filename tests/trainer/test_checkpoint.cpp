// What a checkpoint holds: progress round-trips exactly, model and optimizer load back, and
// a checkpoint of another model shape is refused naming the file.
#include "run/checkpoint.h"
#include "run/checkpoint_reader.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include "common/error.h"
#include "model/dual_encoder.h"
#include "trainer/schedule.h"

namespace lica::trainer {
namespace {

namespace fs = std::filesystem;

model::DualEncoder small_model(int64_t embed) {
  model::DualEncoderOptions o;
  o.video.input_dim = 6, o.video.embed_dim = embed, o.video.max_frames = 4, o.video.heads = 2;
  o.text.input_dim = 5, o.text.embed_dim = embed, o.text.max_tokens = 3;
  return model::DualEncoder(o);
}

// A state.yaml the loader accepts for a checkpoint at `step` of Config{} (5 epochs, seed 42).
run::TrainingProgress progress_at(int64_t step) {
  run::TrainingProgress p;
  p.steps_per_epoch = 10, p.total_steps = 50, p.seed = 42;
  p.step = step, p.epoch = step / 10, p.step_in_epoch = step % 10;
  return p;
}

class CheckpointContent : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("lica_ckpt_" + std::to_string(::getpid()) + "_" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path dir_;
};

TEST_F(CheckpointContent, ProgressRoundTripsExactly) {
  run::TrainingProgress p;
  p.step = 123, p.epoch = 4, p.step_in_epoch = 7, p.steps_per_epoch = 29, p.total_steps = 290;
  run::Config cfg;  // what the loader checks the state against: 10 epochs of 29 steps, seed 42
  cfg.trainer.epochs = 10;
  p.seed = 42, p.world_size = 8, p.metrics_bytes = 98765;
  p.best_metric = "t2v_mnr";
  p.metric_value = 0.1 + 0.2;  // not a short decimal
  p.best_checkpoint = "step_100";
  p.last_train_record = R"({"type": "train", "step": 123, "note": "it's \"quoted\""})";
  // best_value stays NaN: no best yet
  torch::manual_seed(1);
  auto model = small_model(8);
  auto opt = make_adamw(*model, 1e-3, 0.1);
  const auto rng = run::rng_state().unsqueeze(0).repeat({8, 1});  // world size 8
  const auto path = run::write_checkpoint(dir_, 123, run::checkpoint_files(p, cfg, *model, *opt, rng));
  ASSERT_EQ(run::verify_checkpoint(path), "");
  const auto q = run::read_progress(path);
  EXPECT_EQ(q.step, 123);
  EXPECT_EQ(q.epoch, 4);
  EXPECT_EQ(q.step_in_epoch, 7);
  EXPECT_EQ(q.steps_per_epoch, 29);
  EXPECT_EQ(q.total_steps, 290);
  EXPECT_EQ(q.seed, 42);
  EXPECT_EQ(q.world_size, 8);
  EXPECT_EQ(q.metrics_bytes, 98765);
  EXPECT_EQ(q.best_metric, "t2v_mnr");
  EXPECT_EQ(q.metric_value, 0.1 + 0.2);
  EXPECT_EQ(q.best_checkpoint, "step_100");
  EXPECT_TRUE(std::isnan(q.best_value));
  EXPECT_EQ(q.last_train_record, p.last_train_record);
  EXPECT_EQ(q.last_eval_record, "");
  EXPECT_EQ(run::read_checkpoint_config(path), cfg);
}

TEST_F(CheckpointContent, ModelOptimizerAndGeneratorLoadBack) {
  torch::manual_seed(2);
  auto model = small_model(8);
  auto opt = make_adamw(*model, 1e-3, 0.1);
  for (auto& p : model->parameters()) p.mutable_grad() = torch::randn_like(p);
  opt->step();
  const auto state = run::rng_state();
  const auto path = run::write_checkpoint(
      dir_, 1, run::checkpoint_files(progress_at(1), run::Config{}, *model, *opt, state.unsqueeze(0)));
  const auto expected_draw = torch::rand({5});

  torch::manual_seed(3);  // a different initialisation
  auto other = small_model(8);
  auto other_opt = make_adamw(*other, 1e-3, 0.1);
  run::load_model(path, *other);
  run::load_optimizer(path, *other_opt);
  const auto a = model->parameters(), b = other->parameters();
  for (size_t i = 0; i < a.size(); ++i) EXPECT_TRUE(torch::equal(a[i], b[i])) << i;
  // The same gradients give the same update only if both moments and the step count match.
  for (size_t i = 0; i < a.size(); ++i) {
    a[i].mutable_grad() = torch::full_like(a[i], 0.5);
    b[i].mutable_grad() = torch::full_like(b[i], 0.5);
  }
  opt->step();
  other_opt->step();
  for (size_t i = 0; i < a.size(); ++i) EXPECT_TRUE(torch::equal(a[i], b[i])) << i;

  run::set_rng_state(run::load_rng_states(path)[0]);
  EXPECT_TRUE(torch::equal(torch::rand({5}), expected_draw));
}

TEST_F(CheckpointContent, AModelOfAnotherShapeIsRefusedNamingTheFile) {
  auto model = small_model(8);
  auto opt = make_adamw(*model, 1e-3, 0.1);
  const auto path = run::write_checkpoint(
      dir_, 1, run::checkpoint_files(progress_at(1), run::Config{}, *model, *opt, run::rng_state().unsqueeze(0)));
  auto wider = small_model(16);
  try {
    run::load_model(path, *wider);
    FAIL() << "expected InputError";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find((path / "model.pt").string()), std::string::npos) << e.what();
  }
}

// Module::load would resize a parameter to whatever the file holds; the loader checks each
// shape itself and says which tensor and both shapes.
TEST_F(CheckpointContent, AShapeMismatchNamesTheTensorAndBothShapes) {
  auto model = small_model(8);
  auto opt = make_adamw(*model, 1e-3, 0.1);
  const auto path = run::write_checkpoint(
      dir_, 1, run::checkpoint_files(progress_at(1), run::Config{}, *model, *opt, run::rng_state().unsqueeze(0)));
  auto wider = small_model(16);
  try {
    run::load_model(path, *wider);
    FAIL() << "expected InputError";
  } catch (const InputError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("is [8"), std::string::npos) << what;
    EXPECT_NE(what.find("the configured model has [16"), std::string::npos) << what;
  }
}

TEST(TrainingDifferences, ListsOnlyKeysThatChangeTheTraining) {
  run::Config a, b;
  b.trainer.threads = 7;
  b.trainer.log_every = 3;
  b.data.path = "/elsewhere/features.h5";
  b.data.prefetch_batches = 0;
  b.data.reader_threads = 4;
  b.eval.batch_size = 17;
  b.dist.backend = "mpi";
  b.checkpoint.keep_last = 9;
  b.run.dir = "runs/other";
  EXPECT_TRUE(run::training_differences(a, b).empty());
  b.loss.lica.weight = 0.5;
  b.model.embed_dim = 128;
  EXPECT_EQ(run::training_differences(a, b),
            (std::vector<std::string>{"model.embed_dim: 256 -> 128", "loss.lica.weight: 0 -> 0.5"}));
}

}  // namespace
}  // namespace lica::trainer
