#include "trainer/itm_loss.h"

#include <gtest/gtest.h>

#include <cmath>

#include "dist/local_communicator.h"
#include "trainer/numeric_grad.h"
#include "trainer/step.h"

namespace lica::trainer {
namespace {

TEST(HardNegatives, AreTheMostSimilarOtherSamplesWithTiesToTheSmallerIndex) {
  // S[i][j]: video i against text j.
  const auto s = torch::tensor({{9.0, 5.0, 5.0, 1.0},
                                {2.0, 9.0, 3.0, 3.0},
                                {7.0, 0.0, 9.0, 8.0},
                                {1.0, 6.0, 4.0, 9.0}});
  const auto all = hard_negatives(s, 0, 4);
  // Row 0: texts 1 and 2 tie at 5 -> 1; the diagonal is never chosen although it is largest.
  EXPECT_TRUE(torch::equal(all.text_for_video, torch::tensor({1, 2, 3, 1}, torch::kLong)));
  // Column 0 (text 0): videos 1..3 score 2, 7, 1 -> 2; column 2: 5, 3, -, 4 -> 0.
  EXPECT_TRUE(torch::equal(all.video_for_text, torch::tensor({2, 3, 0, 2}, torch::kLong)));
  // A rank's rows give the same global indices as the whole batch.
  const auto mine = hard_negatives(s, 2, 2);
  EXPECT_TRUE(torch::equal(mine.text_for_video, all.text_for_video.slice(0, 2, 4)));
  EXPECT_TRUE(torch::equal(mine.video_for_text, all.video_for_text.slice(0, 2, 4)));
}

TEST(ItmLoss, IsTheMeanBinaryCrossEntropyOverThreePairsPerSampleAndShardsSum) {
  const auto pos = torch::tensor({2.0, -0.5, 0.3}, torch::kDouble);
  const auto vneg = torch::tensor({-1.0, 0.7, 0.0}, torch::kDouble);
  const auto tneg = torch::tensor({0.2, -3.0, 1.5}, torch::kDouble);
  double expect = 0;
  const auto softplus = [](double x) { return std::log1p(std::exp(x)); };
  for (int i = 0; i < 3; ++i) {
    expect += softplus(-pos[i].item<double>()) + softplus(vneg[i].item<double>()) +
              softplus(tneg[i].item<double>());
  }
  expect /= 9.0;
  EXPECT_NEAR(itm_loss(pos, vneg, tneg, 3).item<double>(), expect, 1e-14);
  const double shares = itm_loss(pos.slice(0, 0, 1), vneg.slice(0, 0, 1), tneg.slice(0, 0, 1), 3).item<double>() +
                        itm_loss(pos.slice(0, 1, 3), vneg.slice(0, 1, 3), tneg.slice(0, 1, 3), 3).item<double>();
  EXPECT_NEAR(shares, expect, 1e-14);
}

// ITM through the training step: d total / d parameter against central differences in
// float64, for a fusion-encoder weight and a video-tower weight (reached through the frames).
TEST(ItmLoss, StepGradientsMatchFiniteDifferencesInFloat64) {
  torch::manual_seed(5);
  model::DualEncoderOptions o;
  o.video.input_dim = 5, o.video.embed_dim = 4, o.video.max_frames = 3, o.video.heads = 2;
  o.text.input_dim = 3, o.text.embed_dim = 4, o.text.max_tokens = 3;
  o.fusion = {4, 1, 2, 0.0};
  model::DualEncoder model(o);
  model->to(torch::kDouble);
  torch::manual_seed(6);
  data::Batch b;
  b.video = torch::randn({4, 3, 5}, torch::kDouble);
  b.text = torch::randn({4, 3, 3}, torch::kDouble);
  b.video_mask = torch::arange(3).unsqueeze(0) < torch::tensor({1, 3, 2, 3}).unsqueeze(1);
  b.text_mask = torch::arange(3).unsqueeze(0) < torch::tensor({2, 1, 3, 3}).unsqueeze(1);
  dist::LocalCommunicator local;
  LossOptions opt;
  opt.itm_weight = 1.5;
  auto params = model->named_parameters();
  for (const char* name : {"fusion.head.weight", "video.proj.weight"}) {
    SCOPED_TRACE(name);
    auto& p = params[name];
    for (auto& q : model->parameters()) q.mutable_grad() = torch::Tensor();
    const auto losses = step_losses(model, nullptr, local, b, 0, opt);
    EXPECT_GT(losses.itm.item<double>(), 0.0);
    losses.total.backward();
    const auto analytic = p.grad().clone();
    const auto f = [&](const torch::Tensor& x) {
      torch::NoGradGuard no_grad;
      const auto saved = p.detach().clone();
      p.copy_(x);
      auto value = step_losses(model, nullptr, local, b, 0, opt).total.detach();
      p.copy_(saved);
      return value;
    };
    // The hard negatives are picked by argmax: a step of 1e-6 does not change them here.
    const auto numeric = testing::numeric_grad(f, p.detach());
    EXPECT_TRUE(torch::allclose(analytic, numeric, 1e-6, 1e-8))
        << "max diff " << (analytic - numeric).abs().max().item<double>();
    EXPECT_GT(analytic.abs().max().item<double>(), 1e-4);
  }
}

}  // namespace
}  // namespace lica::trainer
