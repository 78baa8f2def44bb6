#include "loss/top_k.h"

#include "common/error.h"

#include <gtest/gtest.h>

#include <limits>
#include <string>
#include <vector>

namespace lica::loss {
namespace {

// The bounded selection against the full stable sort it replaces, on rows made mostly of
// ties (values in {0, 1, 2, 3} and -inf, as on the anchor's own column), at every k.
TEST(TopKStable, EqualsTheFirstKOfAStableDescendingSort) {
  for (auto dtype : {torch::kFloat, torch::kDouble}) {
    for (int seed = 0; seed < 6; ++seed) {
      torch::manual_seed(300 + seed);
      const int64_t c = 1 + seed, n = 5 + 7 * seed;
      auto rows = torch::randint(0, 4, {c, n}, torch::TensorOptions().dtype(dtype));
      rows.masked_fill_(torch::rand({c, n}) < 0.1, -std::numeric_limits<double>::infinity());
      auto sorted = rows.sort(/*stable=*/true, /*dim=*/1, /*descending=*/true);
      for (int64_t k = 0; k <= n; ++k) {
        SCOPED_TRACE("seed " + std::to_string(seed) + " n " + std::to_string(n) + " k " +
                     std::to_string(k));
        const auto [values, cols] = top_k_stable(rows, k);
        ASSERT_EQ(values.sizes(), (std::vector<int64_t>{c, k}));
        EXPECT_TRUE(torch::equal(cols, std::get<1>(sorted).slice(1, 0, k)));
        EXPECT_TRUE(torch::equal(values, std::get<0>(sorted).slice(1, 0, k)));
      }
    }
  }
}

TEST(TopKStable, NanIsAClearError) {
  auto rows = torch::rand({3, 20});
  rows[1][4] = std::numeric_limits<float>::quiet_NaN();
  try {
    top_k_stable(rows, 2);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("NaN"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace lica::loss
