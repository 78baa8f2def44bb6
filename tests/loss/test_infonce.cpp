#include "loss/infonce.h"

#include <gtest/gtest.h>

#include "support/numeric_grad.h"

#include <cmath>
#include <functional>

namespace lica::loss {
namespace {

auto f64() { return torch::TensorOptions().dtype(torch::kDouble); }

TEST(InfoNce, MatchesAHandComputedValue) {
  // S = s·V·Tᵀ with s = 2: V = [[1,0],[0,1]], T = [[1,0],[0.6,0.8]] -> S = 2·[[1,0.6],[0,0.8]].
  auto v = torch::tensor({1.0, 0.0, 0.0, 1.0}, f64()).view({2, 2});
  auto t = torch::tensor({1.0, 0.0, 0.6, 0.8}, f64()).view({2, 2});
  auto s = torch::tensor(2.0, f64());
  const double s00 = 2.0, s01 = 1.2, s10 = 0.0, s11 = 1.6;
  // Rows: -log P^v_i(i); columns: -log P^t_i(i).
  const double rows = -(s00 - std::log(std::exp(s00) + std::exp(s01))) -
                      (s11 - std::log(std::exp(s10) + std::exp(s11)));
  const double cols = -(s00 - std::log(std::exp(s00) + std::exp(s10))) -
                      (s11 - std::log(std::exp(s01) + std::exp(s11)));
  const double expect = 0.5 * (rows / 2.0 + cols / 2.0);
  EXPECT_NEAR(infonce_loss(v, t, s).item<double>(), expect, 1e-12);
}

using testing::numeric_grad;

TEST(InfoNce, GradientsMatchFiniteDifferencesInFloat64) {
  torch::manual_seed(3);
  auto normalize = [](const torch::Tensor& x) { return x / x.norm(2, 1, true); };
  auto v0 = torch::randn({5, 4}, f64());
  auto t0 = torch::randn({5, 4}, f64());
  auto s0 = torch::tensor(3.0, f64());
  auto loss = [&](const torch::Tensor& v, const torch::Tensor& t, const torch::Tensor& s) {
    return infonce_loss(normalize(v), normalize(t), s);
  };
  auto v = v0.clone().requires_grad_(true);
  auto t = t0.clone().requires_grad_(true);
  auto s = s0.clone().requires_grad_(true);
  loss(v, t, s).backward();
  // Central differences in float64 with h = 1e-6 are accurate to ~1e-9 here; 1e-7 leaves margin.
  EXPECT_TRUE(torch::allclose(v.grad(), numeric_grad([&](auto& x) { return loss(x, t0, s0); }, v0),
                              1e-7, 1e-7));
  EXPECT_TRUE(torch::allclose(t.grad(), numeric_grad([&](auto& x) { return loss(v0, x, s0); }, t0),
                              1e-7, 1e-7));
  EXPECT_TRUE(torch::allclose(s.grad(), numeric_grad([&](auto& x) { return loss(v0, t0, x); }, s0),
                              1e-7, 1e-7));
}

TEST(InfoNce, RankSharesSumToTheGlobalLoss) {
  // Two "ranks" holding rows [0, 3) and [3, 7) of a global batch of 7: their shares add up
  // to the single-process loss, which is what the distributed trainer relies on.
  torch::manual_seed(4);
  auto v = torch::randn({7, 6}, f64());
  auto t = torch::randn({7, 6}, f64());
  auto s = torch::tensor(5.0, f64());
  auto whole = infonce_loss(v, t, s);
  auto first = infonce_loss(v.slice(0, 0, 3), t.slice(0, 0, 3), v, t, s, 0);
  auto second = infonce_loss(v.slice(0, 3, 7), t.slice(0, 3, 7), v, t, s, 3);
  EXPECT_NEAR((first + second).item<double>(), whole.item<double>(), 1e-12);
}

}  // namespace
}  // namespace lica::loss
