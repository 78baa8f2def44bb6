#include "kernels/lica_pair_math.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

namespace lica::kernels {
namespace {

// The spec's log-space form of one JS column (docs/design.md §4), in long double.
PairColumn<double> js_in_log_space(double lp, double lq) {
  const long double hi = std::max(lp, lq), lo = std::min(lp, lq);
  const long double log_m = hi + std::log1p(std::exp(lo - hi)) - std::log(2.0L);
  const long double ga = 0.5L * std::exp(static_cast<long double>(lp)) * (lp - log_m);
  const long double gn = 0.5L * std::exp(static_cast<long double>(lq)) * (lq - log_m);
  return {static_cast<double>(ga + gn), static_cast<double>(ga), static_cast<double>(gn)};
}

TEST(LicaPairMath, JsEqualsTheLogSpaceFormToRounding) {
  for (const double lp : {-0.1, -1.0, -5.0, -30.0, -300.0}) {
    for (const double lq : {-0.1, -2.0, -5.0, -40.0, -700.0}) {
      const auto got = pair_column(lp, lq, /*kl=*/false);
      const auto want = js_in_log_space(lp, lq);
      const double scale = std::max({std::exp(lp), std::exp(lq), 1e-300});
      EXPECT_NEAR(got.term, want.term, 1e-14 * scale) << lp << " " << lq;
      EXPECT_NEAR(got.grad_anchor, want.grad_anchor, 1e-14 * scale) << lp << " " << lq;
      EXPECT_NEAR(got.grad_neighbour, want.grad_neighbour, 1e-14 * scale) << lp << " " << lq;
    }
  }
}

// Both probabilities underflow (float32 below about e^-104): the column adds exactly 0, where
// m = 0 would otherwise give 0 · (finite − (−inf)) = NaN.
TEST(LicaPairMath, AColumnWhereBothProbabilitiesUnderflowAddsZero) {
  const auto col = pair_column(-150.0f, -160.0f, /*kl=*/false);
  EXPECT_EQ(col.term, 0.0f);
  EXPECT_EQ(col.grad_anchor, 0.0f);
  EXPECT_EQ(col.grad_neighbour, 0.0f);
  // One of them underflowed only: finite, and the underflowed side adds 0.
  const auto one = pair_column(-1.0f, -160.0f, /*kl=*/false);
  EXPECT_TRUE(std::isfinite(one.term));
  EXPECT_EQ(one.grad_neighbour, 0.0f);
  EXPECT_NEAR(one.grad_anchor, 0.5f * std::exp(-1.0f) * std::log(2.0f), 1e-7f);
}

TEST(LicaPairMath, KlIsTheAnchorToNeighbourDivergence) {
  const auto col = pair_column(-1.0, -3.0, /*kl=*/true);
  EXPECT_DOUBLE_EQ(col.term, std::exp(-1.0) * 2.0);
  EXPECT_DOUBLE_EQ(col.grad_anchor, std::exp(-1.0) * 3.0);
  EXPECT_DOUBLE_EQ(col.grad_neighbour, -std::exp(-1.0));
}

}  // namespace
}  // namespace lica::kernels
