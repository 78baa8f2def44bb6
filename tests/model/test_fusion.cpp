#include "model/fusion.h"

#include <gtest/gtest.h>

namespace lica::model {
namespace {

struct Pairs {
  torch::Tensor video, video_mask, text, text_mask;
};

Pairs random_pairs() {
  torch::manual_seed(4);
  Pairs p;
  p.video = torch::randn({3, 5, 8}, torch::kDouble);
  p.text = torch::randn({3, 4, 8}, torch::kDouble);
  p.video_mask = torch::arange(5).unsqueeze(0) < torch::tensor({5, 2, 1}).unsqueeze(1);
  p.text_mask = torch::arange(4).unsqueeze(0) < torch::tensor({1, 4, 2}).unsqueeze(1);
  return p;
}

FusionEncoder make_fusion() {
  torch::manual_seed(3);
  FusionEncoder f(FusionOptions{8, 2, 2, 0.0});
  f->to(torch::kDouble);
  return f;
}

TEST(FusionEncoder, OneLogitPerPairThatPaddingCannotChange) {
  auto fusion = make_fusion();
  const auto p = random_pairs();
  const auto logits = fusion->forward(p.video, p.video_mask, p.text, p.text_mask);
  ASSERT_EQ(logits.sizes(), (std::vector<int64_t>{3}));
  EXPECT_TRUE(torch::isfinite(logits).all().item<bool>());
  // Arbitrary values at padded frames and tokens change nothing (to rounding: the padded
  // positions' products are masked, not skipped).
  auto video = p.video.clone(), text = p.text.clone();
  video.masked_fill_(p.video_mask.logical_not().unsqueeze(-1), 1e3);
  text.masked_fill_(p.text_mask.logical_not().unsqueeze(-1), -7.0);
  EXPECT_TRUE(torch::allclose(fusion->forward(video, p.video_mask, text, p.text_mask), logits, 1e-12, 1e-12));
  // A pair's logit depends on its own rows only: the batch order does not matter.
  const auto order = torch::tensor({2, 0, 1});
  const auto permuted = fusion->forward(p.video.index_select(0, order), p.video_mask.index_select(0, order),
                                        p.text.index_select(0, order), p.text_mask.index_select(0, order));
  EXPECT_TRUE(torch::allclose(permuted, logits.index_select(0, order), 1e-12, 1e-12));
}

TEST(FusionEncoder, DependsOnBothSidesAndPassesGradientsToBoth) {
  auto fusion = make_fusion();
  auto p = random_pairs();
  p.video.requires_grad_(true);
  p.text.requires_grad_(true);
  const auto logits = fusion->forward(p.video, p.video_mask, p.text, p.text_mask);
  logits.sum().backward();
  // Valid frames and tokens get gradient, padded ones none.
  const auto video_grad = p.video.grad().abs().sum(-1);  // [B, F]
  const auto text_grad = p.text.grad().abs().sum(-1);    // [B, L]
  EXPECT_TRUE((video_grad.masked_select(p.video_mask) > 0).all().item<bool>());
  EXPECT_EQ(video_grad.masked_select(p.video_mask.logical_not()).sum().item<double>(), 0.0);
  EXPECT_TRUE((text_grad.masked_select(p.text_mask) > 0).all().item<bool>());
  EXPECT_EQ(text_grad.masked_select(p.text_mask.logical_not()).sum().item<double>(), 0.0);
  // Another video for the same caption: another logit.
  torch::NoGradGuard no_grad;
  const auto swapped = fusion->forward(p.video.flip(0), p.video_mask.flip(0), p.text, p.text_mask);
  EXPECT_GT((swapped - logits).abs().max().item<double>(), 1e-6);
}

}  // namespace
}  // namespace lica::model
