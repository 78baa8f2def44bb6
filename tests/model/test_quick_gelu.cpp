#include "model/quick_gelu.h"

#include <gtest/gtest.h>

#include "model/autocast_guard.h"

namespace lica::model {
namespace {

// The one-pass CPU function is the three ops, value and gradient, in fp64 to rounding and
// in fp32 to fp32 rounding; under bf16 autocast (the ops) it runs too.
TEST(QuickGelu, EqualsTheThreeOps) {
  torch::manual_seed(5);
  for (const auto dtype : {torch::kDouble, torch::kFloat}) {
    const auto x = (torch::randn({37, 65}, torch::dtype(dtype)) * 4).requires_grad_();
    const auto up = torch::randn({37, 65}, torch::dtype(dtype));
    const auto fused = quick_gelu(x), ops = quick_gelu_ops(x);
    const auto g_fused = torch::autograd::grad({(fused * up).sum()}, {x})[0];
    const auto g_ops = torch::autograd::grad({(ops * up).sum()}, {x})[0];
    const double tol = dtype == torch::kDouble ? 1e-13 : 1e-5;
    EXPECT_TRUE(torch::allclose(fused, ops, tol, tol)) << dtype;
    EXPECT_TRUE(torch::allclose(g_fused, g_ops, tol, tol)) << dtype;
  }
  const auto x = torch::randn({4, 8});
  AutocastGuard guard(torch::kCPU, Precision::kBf16);
  EXPECT_TRUE(torch::allclose(quick_gelu(x.to(torch::kBFloat16)).to(torch::kFloat),
                              quick_gelu_ops(x), 2e-2, 2e-2));
}

}  // namespace
}  // namespace lica::model
