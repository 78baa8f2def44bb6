// GPO pooling: the sorted weighted sum against a hand-computed case, masking, weights that
// depend only on the valid count, and the mean it reduces to with uniform weights.
#include "model/gpo.h"

#include <gtest/gtest.h>

#include "model/encoders.h"
#include "model/pooling.h"

namespace lica::model {
namespace {

TEST(Gpo, SortedWeightedSumMatchesAHandComputedCase) {
  // One row, 2 valid positions of 3: per dimension sorted descending, then weighted.
  auto x = torch::tensor({1.0f, 5.0f, 3.0f, -2.0f, 100.0f, 100.0f}).view({1, 3, 2});
  auto mask = torch::tensor({true, true, false}).view({1, 3});
  auto w = torch::tensor({0.7f, 0.3f, 0.0f}).view({1, 3});
  // dim 0: sorted (3, 1) -> 0.7 * 3 + 0.3 * 1 = 2.4; dim 1: (5, -2) -> 3.5 - 0.6 = 2.9.
  auto out = sorted_weighted_sum(x, mask, w);
  EXPECT_NEAR(out[0][0].item<float>(), 2.4f, 1e-6);
  EXPECT_NEAR(out[0][1].item<float>(), 2.9f, 1e-6);
  // One-hot on the first sorted position is max pooling over the valid positions.
  auto max = sorted_weighted_sum(x, mask, torch::tensor({1.0f, 0.0f, 0.0f}).view({1, 3}));
  EXPECT_TRUE(torch::equal(max, torch::tensor({3.0f, 5.0f}).view({1, 2})));
}

TEST(Gpo, WeightsDependOnlyOnTheValidCountAndSumToOne) {
  torch::manual_seed(1);
  Gpo gpo;
  auto mask = torch::arange(6).unsqueeze(0) < torch::tensor({3, 6, 3, 1}).unsqueeze(1);  // [4, 6]
  auto w = gpo->weights(mask);
  EXPECT_TRUE(torch::allclose(w.sum(1), torch::ones({4})));
  EXPECT_TRUE(torch::equal(w.masked_select(mask.logical_not()), torch::zeros({24 - 13})));
  EXPECT_TRUE(torch::equal(w[0], w[2]));  // same count, same weights
  // ... whatever else is in the batch: a count-3 row alone gets the weights it got beside a
  // count-6 row (each length is its own GRU sequence, read backward from its own end).
  auto alone = gpo->weights(mask.narrow(0, 0, 1));
  EXPECT_TRUE(torch::allclose(alone[0], w[0], 1e-6, 1e-7));
  EXPECT_EQ(w[3][0].item<float>(), 1.0f);  // one valid position takes all the weight
  EXPECT_FALSE(torch::allclose(w[1].narrow(0, 0, 3), w[0].narrow(0, 0, 3)));
}

TEST(Gpo, PaddingNeverChangesTheOutput) {
  torch::manual_seed(2);
  Gpo gpo;
  auto x = torch::randn({3, 5, 4});
  auto mask = torch::arange(5).unsqueeze(0) < torch::tensor({2, 5, 4}).unsqueeze(1);
  auto a = gpo->forward(x, mask);
  auto y = x.masked_fill(mask.logical_not().unsqueeze(-1), 1e4);  // large padding values
  EXPECT_TRUE(torch::allclose(a, gpo->forward(y, mask)));
  // Extra padded positions change nothing either.
  auto longer = torch::cat({x, torch::full({3, 2, 4}, 7.0f)}, 1);
  auto longer_mask = torch::cat({mask, torch::zeros({3, 2}, torch::kBool)}, 1);
  EXPECT_TRUE(torch::allclose(a, gpo->forward(longer, longer_mask)));
}

TEST(Gpo, UniformWeightsAreTheMaskedMean) {
  torch::manual_seed(3);
  Gpo gpo;
  {
    torch::NoGradGuard no_grad;
    gpo->score()->weight.zero_();  // equal scores at every position: uniform softmax
  }
  auto x = torch::randn({4, 6, 5});
  auto mask = torch::arange(6).unsqueeze(0) < torch::tensor({1, 3, 6, 4}).unsqueeze(1);
  EXPECT_TRUE(torch::allclose(gpo->forward(x, mask), masked_mean(x, mask), 1e-5, 1e-6));
}

TEST(Gpo, GradientsReachTheFeaturesAndTheWeightNetwork) {
  torch::manual_seed(4);
  Gpo gpo;
  auto x = torch::randn({2, 4, 3}, torch::requires_grad());
  auto mask = torch::arange(4).unsqueeze(0) < torch::tensor({4, 2}).unsqueeze(1);
  gpo->forward(x, mask).pow(2).sum().backward();
  EXPECT_GT(x.grad().abs().sum().item<float>(), 0.0f);
  // Padded positions get no gradient.
  EXPECT_EQ(x.grad()[1].narrow(0, 2, 2).abs().sum().item<float>(), 0.0f);
  for (const auto& p : gpo->parameters()) {
    ASSERT_TRUE(p.grad().defined());
    EXPECT_TRUE(torch::isfinite(p.grad()).all().item<bool>());
  }
}

TEST(Gpo, EncodersWithGpoPoolingIgnorePadding) {
  torch::manual_seed(5);
  TextEncoderOptions t;
  t.input_dim = 6, t.embed_dim = 8, t.max_tokens = 5, t.pooling = TextPooling::kGpo;
  VideoEncoderOptions v;
  v.input_dim = 6, v.embed_dim = 8, v.max_frames = 5, v.heads = 2, v.pooling = VideoPooling::kGpo;
  TextEncoder text(t);
  VideoEncoder video(v);
  auto x = torch::randn({3, 5, 6});
  auto mask = torch::arange(5).unsqueeze(0) < torch::tensor({2, 5, 3}).unsqueeze(1);
  auto y = x.masked_fill(mask.logical_not().unsqueeze(-1), -50.0);
  EXPECT_TRUE(torch::allclose(text->forward(x, mask), text->forward(y, mask), 1e-5, 1e-6));
  EXPECT_TRUE(torch::allclose(video->forward(x, mask), video->forward(y, mask), 1e-5, 1e-6));
  EXPECT_TRUE(torch::allclose(text->forward(x, mask).norm(2, 1), torch::ones({3})));
  EXPECT_EQ(parse_text_pooling("gpo"), TextPooling::kGpo);
  EXPECT_EQ(parse_video_pooling("gpo"), VideoPooling::kGpo);
}

}  // namespace
}  // namespace lica::model
