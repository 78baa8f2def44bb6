// trainer.precision: bf16 autocasts the encoders' forward passes, every loss runs in fp32
// (step.cpp), weights and optimizer stay fp32. On the CPU here; test_device.cpp repeats the
// step check on CUDA when a GPU is there.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>

#include "data/batch.h"
#include "dist/local_communicator.h"
#include "model/momentum.h"
#include "run/device.h"
#include "support/resume_runs.h"
#include "trainer/schedule.h"
#include "trainer/step.h"
#include "trainer/train.h"

namespace lica::trainer {
namespace {

namespace fs = std::filesystem;

// Every forward the step autocasts: both towers (GPO and text layers), the momentum towers
// (ITC, IMS), LMIM's heads and the fusion encoder (ITM); LICA on.
struct Setup {
  model::DualEncoder model{nullptr};
  model::Momentum momentum{nullptr};
  data::Batch batch;
  LossOptions options;
  // Outlives the step's graph: the all-gather's backward uses it.
  std::unique_ptr<dist::LocalCommunicator> comm = std::make_unique<dist::LocalCommunicator>();
};

Setup every_term(model::Precision precision, const torch::Device& device = torch::kCPU) {
  torch::manual_seed(5);
  model::DualEncoderOptions o;
  o.video.input_dim = 12, o.video.embed_dim = 16, o.video.max_frames = 5, o.video.heads = 2;
  o.video.pooling = model::VideoPooling::kGpo;
  o.text.input_dim = 10, o.text.embed_dim = 16, o.text.max_tokens = 6, o.text.layers = 1;
  o.text.heads = 2;
  o.local_heads = true;
  o.fusion = {16, 1, 2, 0.0};
  Setup s;
  s.model = model::DualEncoder(o);
  s.model->to(device);
  s.momentum = model::Momentum(o, s.model, 0.9, 16);
  torch::manual_seed(6);
  const int64_t b = 8;
  s.batch.video = torch::randn({b, 5, 12});
  s.batch.text = torch::randn({b, 6, 10});
  s.batch.video_mask = torch::arange(5).unsqueeze(0) < torch::randint(1, 6, {b, 1});
  s.batch.text_mask = torch::arange(6).unsqueeze(0) < torch::randint(1, 7, {b, 1});
  s.batch = data::batch_to(s.batch, device);
  s.options.lica_weight = 0.5;
  s.options.itc = {0.3, 0.07};
  s.options.ims = {0.2, 0.07};
  s.options.lmim = {0.25, 0.07};
  s.options.itm_weight = 0.5;
  s.options.precision = precision;
  return s;
}

StepLosses losses_of(Setup& s) {
  return step_losses(s.model, s.momentum, *s.comm, s.batch, 0, s.options, /*sample_seed=*/7);
}

// bf16 keeps 8 significant bits: each op of the forward rounds by up to 2^-9 ~ 0.2%, and a
// unit-norm embedding comes out within ~1e-2 per component of fp32 (AutocastGuard's test
// measures ~3e-3). Errors of different samples mostly cancel in a mean over the batch: the
// total moves by ~0.03% here, and the bound is 1%. A single term may be a small difference
// of large ones (IMS is ~0.01 here and moves by ~1.4%), so each term gets 5%. The total
// must also differ from fp32, or the step did not run in bf16 at all.
void expect_bf16_close_to_fp32(const torch::Device& device) {
  auto fp32 = every_term(model::Precision::kFp32, device);
  auto bf16 = every_term(model::Precision::kBf16, device);
  const auto a = losses_of(fp32), b = losses_of(bf16);
  const double expect = a.total.item<double>(), got = b.total.item<double>();
  std::cout << "step loss fp32 " << expect << ", bf16 " << got << " (relative difference "
            << std::abs(got - expect) / expect << ")\n";
  ASSERT_TRUE(std::isfinite(got));
  EXPECT_NE(got, expect);
  EXPECT_LE(std::abs(got - expect), 0.01 * std::abs(expect));
  const std::vector<std::tuple<const char*, torch::Tensor, torch::Tensor>> terms{
      {"nce", a.nce, b.nce}, {"intra_v", a.intra_video, b.intra_video}, {"itc", a.itc, b.itc},
      {"ims", a.ims, b.ims}, {"lmim", a.lmim, b.lmim},   {"itm", a.itm, b.itm}};
  for (const auto& [name, x, y] : terms) {
    EXPECT_GT(x.item<double>(), 0.0) << name << ": the term is on";
    std::cout << "  " << name << " fp32 " << x.item<double>() << " bf16 " << y.item<double>() << "\n";
    EXPECT_NEAR(y.item<double>(), x.item<double>(), 0.05 * x.item<double>()) << name;
    EXPECT_EQ(y.scalar_type(), torch::kFloat) << name;
  }
}

TEST(Precision, Bf16StepLossIsFiniteAndWithinOnePercentOfFp32) {
  expect_bf16_close_to_fp32(torch::kCPU);
}

// The same on the GPU: CUDA autocast (tensor-core bf16 matmuls), same bounds. TF32 off so
// the fp32 reference is fp32.
TEST(Precision, Bf16StepOnCudaIsWithinOnePercentOfFp32) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  run::use_device(torch::Device(torch::kCUDA, 0), /*tf32=*/false);
  expect_bf16_close_to_fp32(torch::Device(torch::kCUDA, 0));
}

// The losses see fp32 embeddings: had a bf16 embedding reached them, the similarity matmul
// (outside autocast) would give bf16 logits and every loss would come out bf16. The
// gradients reach the fp32 weights as fp32.
TEST(Precision, LossesAndGradientsAreFp32UnderBf16) {
  auto s = every_term(model::Precision::kBf16);
  const auto l = losses_of(s);
  for (const auto* t : {&l.total, &l.nce, &l.intra_video, &l.intra_text, &l.itc, &l.ims, &l.lmim,
                        &l.itm, &l.momentum_video, &l.momentum_text}) {
    EXPECT_EQ(t->scalar_type(), torch::kFloat);
  }
  l.total.backward();
  int64_t with_grad = 0;
  for (const auto& p : s.model->parameters()) {
    EXPECT_EQ(p.scalar_type(), torch::kFloat);
    if (!p.grad().defined()) continue;
    EXPECT_EQ(p.grad().scalar_type(), torch::kFloat);
    EXPECT_TRUE(torch::isfinite(p.grad()).all().item<bool>());
    ++with_grad;
  }
  EXPECT_GT(with_grad, 10);
}

// A short training run with trainer.precision bf16 (the whole trainer: loader, step, AdamW,
// checkpoints, evaluation): the loss falls, and it is not the fp32 run (the key reaches the
// step) though close to it.
TEST(Precision, TrainingInBf16LowersTheLoss) {
  const fs::path dir = fs::temp_directory_path() / ("lica_precision_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  testing::write_resume_data(dir / "s.h5");
  dist::LocalCommunicator comm;
  const auto run = [&](const std::string& name, const std::string& precision) {
    auto cfg = testing::resume_config(dir / "s.h5", dir / name, /*dropout=*/0.0);
    cfg.trainer.epochs = 3;
    cfg.trainer.precision = precision;
    return train(cfg, comm);
  };
  const auto bf16 = run("bf16", "bf16");
  const auto fp32 = run("fp32", "fp32");
  // Mean loss of the first and last five steps: one step's loss is noisy.
  const auto mean_loss = [&](const std::string& name, bool first) {
    std::vector<double> losses;
    for (const auto& r : testing::read_records(dir / name)) {
      if (r["type"].as<std::string>() == "train") losses.push_back(r["loss"].as<double>());
    }
    EXPECT_GE(losses.size(), 10u);
    double sum = 0;
    for (size_t i = 0; i < 5; ++i) sum += losses[first ? i : losses.size() - 1 - i];
    return sum / 5;
  };
  const double start = mean_loss("bf16", true), end = mean_loss("bf16", false);
  std::cout << "bf16 training: mean loss of the first 5 steps " << start << ", last 5 " << end
            << "; fp32 first step " << fp32.first_loss << ", bf16 " << bf16.first_loss << "\n";
  EXPECT_LT(end, 0.9 * start);
  EXPECT_NE(bf16.first_loss, fp32.first_loss);
  EXPECT_NEAR(bf16.first_loss, fp32.first_loss, 0.01 * fp32.first_loss);  // as the step test
  ASSERT_TRUE(bf16.test.has_value());
  EXPECT_TRUE(std::isfinite(bf16.test->t2v.r1));
  fs::remove_all(dir);
}

}  // namespace
}  // namespace lica::trainer
