#include "loss/top_k.h"

#include "common/error.h"

#include <gtest/gtest.h>

#include <algorithm>
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

// The streamed selection against the whole rows' one, on the same tie-heavy rows, at every
// k and at tiles that do and do not divide n (one-column tiles, tiles wider than n).
TEST(TopKStreamed, EqualsTopKStableOfTheWholeRows) {
  for (int seed = 0; seed < 4; ++seed) {
    torch::manual_seed(400 + seed);
    const int64_t c = 2 + seed, n = 6 + 9 * seed;
    auto rows = torch::randint(0, 4, {c, n}, torch::TensorOptions().dtype(torch::kDouble));
    rows.masked_fill_(torch::rand({c, n}) < 0.1, -std::numeric_limits<double>::infinity());
    const auto whole = [&](int64_t c0, int64_t c1) { return rows.slice(1, c0, c1).clone(); };
    for (int64_t tile : {int64_t{1}, int64_t{2}, int64_t{5}, n - 1, n + 3}) {
      for (int64_t k = 0; k <= n; ++k) {
        SCOPED_TRACE("seed " + std::to_string(seed) + " n " + std::to_string(n) + " tile " +
                     std::to_string(tile) + " k " + std::to_string(k));
        int64_t widest = 0;
        const auto [values, cols] = top_k_streamed(n, k, tile, [&](int64_t c0, int64_t c1) {
          widest = std::max(widest, c1 - c0);
          return whole(c0, c1);
        });
        const auto [want_values, want_cols] = top_k_stable(rows, k);
        EXPECT_TRUE(torch::equal(cols, want_cols));
        EXPECT_TRUE(torch::equal(values, want_values));
        EXPECT_LE(widest, std::max(tile, 2 * k));  // never the whole row where it streams
      }
    }
  }
  EXPECT_THROW(top_k_streamed(4, 5, 2, [](int64_t, int64_t) { return torch::zeros({1, 1}); }),
               Error);
}

// NaN is an error on every path: the top-k's (k below n/2), the full sort's (k >= n/2, the
// LICA default top_k 0 means k = n - 1) and k = 0, wherever in the row the NaN sits.
TEST(TopKStable, NanIsAClearErrorAtEveryK) {
  for (int64_t column : {0, 4, 19}) {
    auto rows = torch::rand({3, 20});
    rows[1][column] = std::numeric_limits<float>::quiet_NaN();
    for (int64_t k : {0, 1, 2, 9, 10, 11, 19, 20}) {
      SCOPED_TRACE("column " + std::to_string(column) + " k " + std::to_string(k));
      try {
        top_k_stable(rows, k);
        ADD_FAILURE() << "expected an error";
      } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("NaN"), std::string::npos) << e.what();
      }
    }
  }
}

}  // namespace
}  // namespace lica::loss
