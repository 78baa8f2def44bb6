#include "model/self_attention.h"

#include <gtest/gtest.h>

#include "model/attention.h"
#include "model/autocast_guard.h"

namespace lica::model {
namespace {

// qkv [B, L, 3E] and a key padding with a row of every length from 1 to L.
std::pair<torch::Tensor, torch::Tensor> make_inputs(int64_t B, int64_t L, int64_t E,
                                                    torch::Dtype dtype) {
  torch::manual_seed(31);
  auto qkv = torch::randn({B, L, 3 * E}, torch::dtype(dtype)).requires_grad_();
  const auto lengths = torch::arange(B) % L + 1;
  const auto pad = torch::arange(L).unsqueeze(0) >= lengths.unsqueeze(1);
  return {qkv, pad};
}

// The fused CPU kernel is the matmul/softmax core in fp64 to rounding: outputs and the
// gradient of qkv, padded or not, at head widths that are and are not multiples of eight.
TEST(AttentionCore, FusedKernelEqualsTheMatmulFormInFp64) {
  for (const auto& [L, heads, hd] : {std::tuple<int64_t, int64_t, int64_t>{5, 2, 8},
                                     {12, 4, 6}, {3, 1, 17}}) {
    auto [qkv, pad] = make_inputs(7, L, heads * hd, torch::kDouble);
    for (const bool padded : {true, false}) {
      const auto key_pad = padded ? pad : torch::Tensor();
      const double scale = 1.0 / std::sqrt(static_cast<double>(hd));
      const auto fused = attention_core(qkv, key_pad, heads, scale, 0.0, true, true);
      const auto plain = attention_core(qkv, key_pad, heads, scale, 0.0, true, false);
      const auto up = torch::randn_like(fused);
      const auto g_fused = torch::autograd::grad({(fused * up).sum()}, {qkv})[0];
      const auto g_plain = torch::autograd::grad({(plain * up).sum()}, {qkv})[0];
      const std::string where = "L " + std::to_string(L) + " hd " + std::to_string(hd) +
                                " padded " + std::to_string(padded);
      EXPECT_TRUE(torch::allclose(fused, plain, 1e-12, 1e-12)) << where;
      EXPECT_TRUE(torch::allclose(g_fused, g_plain, 1e-12, 1e-12)) << where;
    }
  }
}

// On CUDA (LibTorch 2.1 and later) the core is scaled_dot_product_attention: the matmul form
// to fp32 rounding, outputs and the gradient of qkv, padded or not (device suite).
TEST(AttentionCore, ScaledDotProductAttentionOnCudaEqualsTheMatmulForm) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "needs a GPU (device suite)";
  for (const auto& [L, heads, hd] : {std::tuple<int64_t, int64_t, int64_t>{12, 8, 64},
                                     {32, 4, 16}, {5, 2, 6}}) {
    auto [cpu_qkv, pad] = make_inputs(9, L, heads * hd, torch::kFloat);
    const auto qkv = cpu_qkv.detach().to(torch::kCUDA).requires_grad_();
    for (const bool padded : {true, false}) {
      const auto key_pad = padded ? pad.to(torch::kCUDA) : torch::Tensor();
      const double scale = 1.0 / std::sqrt(static_cast<double>(hd));
      const auto sdpa = attention_core(qkv, key_pad, heads, scale, 0.0, true, true);
      const auto plain = attention_core(qkv, key_pad, heads, scale, 0.0, true, false);
      const auto up = torch::randn_like(sdpa);
      const auto g_sdpa = torch::autograd::grad({(sdpa * up).sum()}, {qkv})[0];
      const auto g_plain = torch::autograd::grad({(plain * up).sum()}, {qkv})[0];
      const std::string where = "L " + std::to_string(L) + " hd " + std::to_string(hd) +
                                " padded " + std::to_string(padded);
      EXPECT_TRUE(torch::allclose(sdpa, plain, 1e-4, 1e-5)) << where;
      EXPECT_TRUE(torch::allclose(g_sdpa, g_plain, 1e-4, 1e-5)) << where;
    }
  }
}

// Its backward is the derivative of its forward (finite differences in fp64).
TEST(AttentionCore, FusedKernelPassesGradcheck) {
  auto [qkv, pad] = make_inputs(3, 4, 6, torch::kDouble);
  const auto f = [&, pad = pad](const std::vector<torch::Tensor>& in) {
    return attention_core(in[0], pad, 2, 0.7, 0.0, true, true);
  };
  const auto out = f({qkv});
  const auto up = torch::randn_like(out);
  const auto grad = torch::autograd::grad({(out * up).sum()}, {qkv})[0];
  torch::NoGradGuard no_grad;
  const double eps = 1e-6;
  auto numeric = torch::zeros_like(qkv);
  auto flat = qkv.detach().clone().view(-1);
  for (int64_t i = 0; i < flat.numel(); ++i) {
    const double x = flat[i].item<double>();
    flat[i] = x + eps;
    const double plus = (f({flat.view_as(qkv)}) * up).sum().item<double>();
    flat[i] = x - eps;
    const double minus = (f({flat.view_as(qkv)}) * up).sum().item<double>();
    flat[i] = x;
    numeric.view(-1)[i] = (plus - minus) / (2 * eps);
  }
  EXPECT_TRUE(torch::allclose(grad, numeric, 1e-7, 1e-8));
}

// self_attend() batch-first is attend() (LibTorch's MultiheadAttention forward) sequence-first,
// to fp32 rounding, with padded keys, in both the fused and the matmul form; under bf16
// autocast it takes the matmul form and runs.
TEST(SelfAttend, IsTheModulesAttentionBatchFirst) {
  torch::manual_seed(8);
  torch::nn::MultiheadAttention module(torch::nn::MultiheadAttentionOptions(16, 4));
  const auto x = torch::randn({5, 7, 16});  // [B, L, E]
  const auto pad = torch::arange(7).unsqueeze(0) >= torch::tensor({7, 1, 3, 5, 6}).unsqueeze(1);
  const auto expect = attend(*module, x.transpose(0, 1), x.transpose(0, 1), pad).transpose(0, 1);
  const auto got = self_attend(*module, x, pad);
  EXPECT_TRUE(torch::allclose(got, expect, 1e-5, 1e-6));
  const auto g_expect = torch::autograd::grad({expect.pow(2).sum()}, {module->in_proj_weight})[0];
  const auto g_got = torch::autograd::grad({got.pow(2).sum()}, {module->in_proj_weight})[0];
  EXPECT_TRUE(torch::allclose(g_got, g_expect, 1e-4, 1e-5));
  AutocastGuard guard(torch::kCPU, Precision::kBf16);
  const auto low = self_attend(*module, x, pad);
  EXPECT_EQ(low.scalar_type(), torch::kBFloat16);
  EXPECT_TRUE(torch::allclose(low.to(torch::kFloat), expect, 5e-2, 5e-2));
}

}  // namespace
}  // namespace lica::model
