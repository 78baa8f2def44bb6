#include "loss/itm.h"

#include <gtest/gtest.h>

#include <cmath>

#include "dist/local_communicator.h"

namespace lica::loss {
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

}  // namespace
}  // namespace lica::loss
