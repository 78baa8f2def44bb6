#include "model/attention.h"

#include <gtest/gtest.h>

#include "model/autocast_guard.h"

namespace lica::model {
namespace {

struct Case {
  torch::nn::MultiheadAttention module{nullptr};
  torch::Tensor text, frames, text_pad, frame_pad;  // [L, B, E], [S, B, E], [B, L], [B, S]
};

Case make_case(double dropout) {
  torch::manual_seed(8);
  Case c;
  c.module = torch::nn::MultiheadAttention(torch::nn::MultiheadAttentionOptions(8, 2).dropout(dropout));
  c.text = torch::randn({4, 3, 8});
  c.frames = torch::randn({5, 3, 8});
  c.text_pad = torch::arange(4).unsqueeze(0) >= torch::tensor({4, 1, 2}).unsqueeze(1);
  c.frame_pad = torch::arange(5).unsqueeze(0) >= torch::tensor({5, 2, 3}).unsqueeze(1);
  return c;
}

// attend() is LibTorch's MultiheadAttention forward op for op: the same fp32 bits for
// self- and cross-attention with padding, with dropout in training (the same random numbers
// drawn in the same order), and the same gradients. This is what keeps every fp32 result of
// the model as it was before attend() replaced the module's forward.
TEST(Attend, IsBitwiseTheModulesForwardInFp32) {
  for (const double dropout : {0.0, 0.3}) {
    auto c = make_case(dropout);
    c.module->train(dropout > 0);
    for (const bool self : {true, false}) {
      const auto& keys = self ? c.text : c.frames;
      const auto& pad = self ? c.text_pad : c.frame_pad;
      torch::manual_seed(9);
      const auto expect = std::get<0>(c.module->forward(c.text, keys, keys, pad, false));
      const auto expect_grad = torch::autograd::grad({expect.sum()}, {c.module->in_proj_weight})[0];
      torch::manual_seed(9);
      const auto got = attend(*c.module, c.text, keys, pad);
      const auto got_grad = torch::autograd::grad({got.sum()}, {c.module->in_proj_weight})[0];
      EXPECT_TRUE(torch::equal(got, expect)) << "self " << self << " dropout " << dropout;
      EXPECT_TRUE(torch::equal(got_grad, expect_grad)) << "self " << self << " dropout " << dropout;
    }
  }
}

// Under bf16 autocast the module's own forward fails on the padded scores (LibTorch fills
// them through a float/double-only dispatch); attend() runs, and padded keys still do not
// matter.
TEST(Attend, RunsUnderBf16AutocastAndIgnoresPaddedKeys) {
  auto c = make_case(0.0);
  AutocastGuard guard(torch::kCPU, Precision::kBf16);
  const auto out = attend(*c.module, c.text, c.frames, c.frame_pad);
  EXPECT_EQ(out.scalar_type(), torch::kBFloat16);
  auto noisy = c.frames.clone();
  noisy.masked_fill_(c.frame_pad.t().unsqueeze(-1), 100.0);  // [S, B, 1]: padded keys only
  EXPECT_TRUE(torch::equal(attend(*c.module, c.text, noisy, c.frame_pad), out));
}

}  // namespace
}  // namespace lica::model
