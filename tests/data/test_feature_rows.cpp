// The fused row conversion equals LibTorch's convert / index_select / mask, and finds the
// first non-finite valid value while ignoring padding.
#include "data/feature_rows.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>

namespace lica::data {
namespace {

torch::Tensor reference(const torch::Tensor& stored, const std::vector<int64_t>& source,
                        const std::vector<int32_t>& valid) {
  auto rows = stored.to(torch::kFloat).index_select(0, torch::tensor(source, torch::kLong));
  std::vector<int64_t> v(valid.begin(), valid.end());
  auto mask = torch::arange(stored.size(1)).unsqueeze(0) < torch::tensor(v).unsqueeze(1);  // [n, P]
  return rows.masked_fill(mask.logical_not().unsqueeze(-1), 0.0);
}

TEST(ConvertRows, EqualsLibTorchForHalfAndFloatWithRepeatsAndOddWidths) {
  torch::manual_seed(0);
  const std::vector<int64_t> source = {4, 0, 4, 2, 1, 3, 0};  // repeats, any order
  const std::vector<int32_t> valid = {5, 1, 3, 5, 2, 4, 5};
  for (int64_t D : {1, 7, 8, 33}) {  // widths around the 8-wide F16C step
    for (bool half : {true, false}) {
      auto stored = (torch::randn({5, 5, D}) * 100).to(half ? torch::kHalf : torch::kFloat);
      torch::Tensor out = torch::empty({7, 5, D});
      const auto bad = convert_rows(stored.data_ptr(), half, 5, D, source, valid, out.data_ptr<float>());
      EXPECT_FALSE(bad.has_value());
      EXPECT_TRUE(torch::equal(out, reference(stored, source, valid))) << "D " << D << " half " << half;
    }
  }
}

TEST(ConvertRows, ReportsTheFirstNonFiniteValidValueAndIgnoresPadding) {
  for (bool half : {true, false}) {
    auto stored = torch::ones({3, 4, 6}).to(half ? torch::kHalf : torch::kFloat);
    stored[0][3][1] = std::nanf("");       // padding of every output row below: ignored
    stored[2][1][4] = -INFINITY;           // valid in output row 2
    stored[1][2][0] = INFINITY;            // valid in output row 1: reported first
    torch::Tensor out = torch::empty({3, 4, 6});
    const auto bad = convert_rows(stored.data_ptr(), half, 4, 6, {0, 1, 2}, {3, 3, 2}, out.data_ptr<float>());
    ASSERT_TRUE(bad.has_value());
    EXPECT_EQ(bad->row, 1);
    EXPECT_EQ(bad->position, 2);
    EXPECT_EQ(bad->feature, 0);
    EXPECT_TRUE(std::isinf(bad->value) && bad->value > 0);
    const auto none = convert_rows(stored.data_ptr(), half, 4, 6, {0}, {3}, out.data_ptr<float>());
    EXPECT_FALSE(none.has_value());
    EXPECT_EQ(out[0][3][1].item<float>(), 0.0f);
  }
}

}  // namespace
}  // namespace lica::data
