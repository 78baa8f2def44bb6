#include "model/dual_encoder.h"

#include <gtest/gtest.h>

#include "common/error.h"
#include "model/pooling.h"

namespace lica::model {
namespace {

// Builds features [B, L, D] whose padded positions hold large garbage, and the mask.
std::pair<torch::Tensor, torch::Tensor> padded_batch(const std::vector<int64_t>& lengths,
                                                     int64_t max_len, int64_t dim) {
  const int64_t b = static_cast<int64_t>(lengths.size());
  auto x = torch::randn({b, max_len, dim});
  auto mask = torch::zeros({b, max_len}, torch::kBool);
  for (int64_t i = 0; i < b; ++i) mask[i].slice(0, 0, lengths[i]).fill_(true);
  return {x, mask};
}

torch::Tensor with_new_padding(const torch::Tensor& x, const torch::Tensor& mask) {
  auto garbage = torch::randn_like(x) * 1e3;
  return torch::where(mask.unsqueeze(-1), x, garbage);
}

VideoEncoderOptions video_options(VideoEncoderKind kind) {
  VideoEncoderOptions o;
  o.input_dim = 24;
  o.embed_dim = 16;
  o.max_frames = 12;
  o.kind = kind;
  o.layers = 2;
  o.heads = 4;
  return o;
}

TextEncoderOptions text_options(TextPooling pooling, int64_t layers) {
  TextEncoderOptions o;
  o.input_dim = 20;
  o.embed_dim = 16;
  o.max_tokens = 10;
  o.pooling = pooling;
  o.layers = layers;
  o.heads = 2;
  return o;
}

// Checks that an encoder's output is [B, D], unit-norm, unchanged by any padding content,
// unchanged by extra all-padding length, and changed by a valid position (so the test can fail).
template <typename Encoder>
void check_padding_invariance(Encoder& enc, int64_t max_len, int64_t dim, int64_t embed_dim) {
  torch::manual_seed(1);
  auto [x, mask] = padded_batch({3, max_len, 1, 5}, max_len, dim);
  auto out = enc->forward(x, mask);
  ASSERT_EQ(out.sizes(), (std::vector<int64_t>{4, embed_dim}));
  EXPECT_TRUE(torch::allclose(out.norm(2, 1), torch::ones({4}), 1e-5, 1e-5));

  // Garbage in padded positions: bitwise the same (padding is zeroed before any arithmetic).
  auto out_garbage = enc->forward(with_new_padding(x, mask), mask);
  EXPECT_TRUE(torch::equal(out, out_garbage));

  // The first sample alone, cut to its 3 valid positions: same embedding up to rounding
  // (different shapes may take different BLAS blockings; 1e-5 is far below any real change).
  auto alone = enc->forward(x.slice(0, 0, 1).slice(1, 0, 3), mask.slice(0, 0, 1).slice(1, 0, 3));
  EXPECT_TRUE(torch::allclose(alone, out.slice(0, 0, 1), 1e-5, 1e-5));

  // A valid position does matter.
  auto changed = x.clone();
  changed[0][0] += 1.0;
  EXPECT_FALSE(torch::allclose(enc->forward(changed, mask).slice(0, 0, 1), out.slice(0, 0, 1),
                               1e-4, 1e-4));
}

TEST(VideoEncoder, SeqTransfShapesAndPaddingInvariance) {
  VideoEncoder enc(video_options(VideoEncoderKind::kSeqTransf));
  check_padding_invariance(enc, 12, 24, 16);
}

TEST(VideoEncoder, MeanPShapesAndPaddingInvariance) {
  VideoEncoder enc(video_options(VideoEncoderKind::kMeanP));
  check_padding_invariance(enc, 12, 24, 16);
}

TEST(TextEncoder, EotWithTransformerPaddingInvariance) {
  TextEncoder enc(text_options(TextPooling::kEot, 2));
  check_padding_invariance(enc, 10, 20, 16);
}

TEST(TextEncoder, MeanWithoutTransformerPaddingInvariance) {
  TextEncoder enc(text_options(TextPooling::kMean, 0));
  check_padding_invariance(enc, 10, 20, 16);
}

TEST(TextEncoder, EotPicksTheLastValidToken) {
  // Without layers and with Dt == D the encoder is normalize(token[num_tokens - 1]).
  auto o = text_options(TextPooling::kEot, 0);
  o.input_dim = o.embed_dim;
  TextEncoder enc(o);
  auto [x, mask] = padded_batch({4, 7}, 10, 16);
  auto out = enc->forward(x, mask);
  auto expect = torch::stack({x[0][3], x[1][6]});
  expect = expect / expect.norm(2, 1, true);
  EXPECT_TRUE(torch::allclose(out, expect, 1e-6, 1e-6));
}

TEST(Pooling, MaskedMeanAndLastValidByHand) {
  auto x = torch::tensor({1.0f, 2.0f, 3.0f, 4.0f, 5.0f, 6.0f}).view({2, 3, 1});
  auto mask = torch::tensor({1, 1, 0, 1, 1, 1}).view({2, 3}).to(torch::kBool);
  EXPECT_TRUE(torch::allclose(masked_mean(x, mask), torch::tensor({1.5f, 5.0f}).view({2, 1})));
  EXPECT_TRUE(torch::allclose(last_valid(x, mask), torch::tensor({2.0f, 6.0f}).view({2, 1})));
}

TEST(VideoEncoder, RejectsMoreFramesThanThePositionTable) {
  VideoEncoder enc(video_options(VideoEncoderKind::kSeqTransf));
  auto [x, mask] = padded_batch({3}, 13, 24);
  EXPECT_THROW(enc->forward(x, mask), lica::InputError);
}

TEST(DualEncoder, LogitScaleStartsAtInverseTemperatureAndIsClampedAt100) {
  DualEncoderOptions o;
  o.video = video_options(VideoEncoderKind::kMeanP);
  o.text = text_options(TextPooling::kMean, 0);
  DualEncoder model(o);
  EXPECT_NEAR(model->scale().item<double>(), 1.0 / 0.07, 1e-4);
  auto params = model->named_parameters();
  {
    torch::NoGradGuard no_grad;
    params["logit_scale"].fill_(10.0);
  }
  model->clamp_logit_scale();
  EXPECT_NEAR(model->scale().item<double>(), 100.0, 1e-3);
  {
    torch::NoGradGuard no_grad;
    params["logit_scale"].fill_(-3.0);
  }
  model->clamp_logit_scale();
  EXPECT_NEAR(model->scale().item<double>(), 1.0, 1e-6);
}

}  // namespace
}  // namespace lica::model
