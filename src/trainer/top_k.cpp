#include "trainer/top_k.h"

#include "common/error.h"

#include <string>

namespace lica::trainer {

std::pair<torch::Tensor, torch::Tensor> top_k_stable(const torch::Tensor& rows, int64_t k) {
  torch::NoGradGuard no_grad;
  const int64_t count = rows.size(0), n = rows.size(1);
  if (k < 0 || k > n) {
    throw Error("top_k_stable: k = " + std::to_string(k) + " for rows of " + std::to_string(n));
  }
  if (2 * k >= n) {
    // Stable descending sort: among equal values the smaller column comes first.
    auto sorted = rows.sort(/*stable=*/true, /*dim=*/1, /*descending=*/true);
    return {std::get<0>(sorted).slice(1, 0, k).contiguous(),
            std::get<1>(sorted).slice(1, 0, k).contiguous()};
  }
  if (k == 0 || count == 0) {
    auto none = torch::zeros({count, 0}, rows.options().dtype(torch::kLong));
    return {rows.new_empty({count, 0}), none};
  }
  // Every column above a row's k-th largest value is in; the columns equal to it fill the
  // rest in column order, which is the tie rule.
  auto kth = std::get<0>(rows.topk(k, 1, /*largest=*/true, /*sorted=*/false)).amin(1, true);
  auto above = rows > kth;                                                   // [c, n]
  auto at = rows == kth;                                                     // [c, n]
  auto room = k - above.sum(1, /*keepdim=*/true);                            // [c, 1] >= 1
  auto keep = above.logical_or(at.logical_and(at.cumsum(1) <= room));        // k per row
  auto kept = keep.nonzero();  // [count · k, 2] unless a row holds NaN (compares false)
  if (kept.size(0) != count * k) {
    throw Error("top_k_stable: NaN among the values");
  }
  auto cols = kept.select(1, 1).view({count, k});  // ascending within a row
  auto values = rows.gather(1, cols);
  // Order the k by value; the stable sort keeps equal values in ascending column order.
  auto order = std::get<1>(values.sort(/*stable=*/true, /*dim=*/1, /*descending=*/true));
  return {values.gather(1, order), cols.gather(1, order)};
}

}  // namespace lica::trainer
