#include "trainer/itm_loss.h"

#include <gtest/gtest.h>

#include <cmath>

#include "dist/local_communicator.h"
#include "trainer/step_gradients.h"

namespace lica::trainer {
namespace {

TEST(HardNegatives, AreDrawnFromTheSoftmaxOfTheOtherSamples) {
  // S[i][j]: video i against caption j, as logits.
  const auto s = torch::tensor({{9.0, 1.0, 2.0, 0.0},
                                {0.5, 9.0, 0.0, 0.0},
                                {1.0, 1.0, 9.0, 1.0},
                                {0.0, 3.0, 0.0, 9.0}});
  // Over many seeds the frequencies follow softmax_{j != i}, the own sample never drawn.
  const int draws = 4000;
  auto text_counts = torch::zeros({4, 4}), video_counts = torch::zeros({4, 4});
  for (int seed = 0; seed < draws; ++seed) {
    const auto n = hard_negatives(s, 0, 4, static_cast<uint64_t>(seed));
    for (int64_t i = 0; i < 4; ++i) {
      text_counts[i][n.text_for_video[i].item<int64_t>()] += 1;
      video_counts[i][n.video_for_text[i].item<int64_t>()] += 1;
    }
  }
  const auto expected = [](const torch::Tensor& logits) {
    return torch::softmax(logits.masked_fill(torch::eye(4, torch::kBool), -1e30), 1);
  };
  // Binomial standard error at 4000 draws is at most 0.008; 0.03 is ~4 of them.
  EXPECT_LT((text_counts / draws - expected(s)).abs().max().item<double>(), 0.03);
  EXPECT_LT((video_counts / draws - expected(s.t())).abs().max().item<double>(), 0.03);
  EXPECT_EQ(text_counts.diagonal().sum().item<double>(), 0.0);
  EXPECT_EQ(video_counts.diagonal().sum().item<double>(), 0.0);
  // One seed: the same draws again, and a rank's rows are its slice of the whole batch's.
  const auto all = hard_negatives(s, 0, 4, 77);
  const auto again = hard_negatives(s, 0, 4, 77);
  EXPECT_TRUE(torch::equal(all.text_for_video, again.text_for_video));
  const auto mine = hard_negatives(s, 2, 2, 77);
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
  LossOptions opt;
  opt.itm_weight = 1.5;
  for (const char* name : {"fusion.head.weight", "video.proj.weight"}) {
    SCOPED_TRACE(name);
    dist::LocalCommunicator local;
    EXPECT_GT(step_losses(model, nullptr, local, b, 0, opt).itm.item<double>(), 0.0);
    // The hard negatives are picked by argmax: a step of 1e-6 does not change them here.
    const auto [analytic, numeric] = testing::step_gradients(model, nullptr, b, opt, name);
    EXPECT_TRUE(torch::allclose(analytic, numeric, 1e-6, 1e-8))
        << "max diff " << (analytic - numeric).abs().max().item<double>();
    EXPECT_GT(analytic.abs().max().item<double>(), 1e-4);
  }
}

}  // namespace
}  // namespace lica::trainer
