#include "loss/top_k.h"

#include "common/error.h"

#include <string>

namespace lica::loss {

std::pair<torch::Tensor, torch::Tensor> top_k_stable(const torch::Tensor& rows, int64_t k) {
  torch::NoGradGuard no_grad;
  const int64_t count = rows.size(0), n = rows.size(1);
  if (k < 0 || k > n) {
    throw Error("top_k_stable: k = " + std::to_string(k) + " for rows of " + std::to_string(n));
  }
  auto sorted_prefix = [k](const torch::Tensor& r) {
    // Stable descending sort: among equal values the smaller column comes first.
    auto sorted = r.sort(/*stable=*/true, /*dim=*/1, /*descending=*/true);
    return std::make_pair(std::get<0>(sorted).slice(1, 0, k).contiguous(),
                          std::get<1>(sorted).slice(1, 0, k).contiguous());
  };
  if (2 * k >= n) return sorted_prefix(rows);
  if (k == 0 || count == 0) {
    return {rows.new_empty({count, 0}),
            torch::zeros({count, 0}, rows.options().dtype(torch::kLong))};
  }
  // A top-k holds every column above the row's k-th largest value t; only which of the
  // columns equal to t it took is unspecified. A row has a tie at t exactly when its
  // (k+1)-th largest value is t too: those rows are redone by the sort, so the tie rule
  // holds; the others keep the top-k's set. No [c, n] temporary besides the top-k's own.
  auto [top_values, top_cols] = rows.topk(k + 1, 1, /*largest=*/true, /*sorted=*/true);
  auto values = top_values.slice(1, 0, k).contiguous();  // [c, k]
  auto cols = top_cols.slice(1, 0, k).contiguous();      // [c, k]
  auto tied = top_values.select(1, k) == top_values.select(1, k - 1);  // [c]
  // One host read for both flags (a device sync on the GPU). A top-k ranks NaN first.
  const auto flags = torch::stack({top_values.isnan().any(), tied.any()}).to(torch::kCPU);
  if (flags[0].item<bool>()) throw Error("top_k_stable: NaN among the values");
  if (flags[1].item<bool>()) {
    auto redo = tied.nonzero().squeeze(1);
    auto [redo_values, redo_cols] = sorted_prefix(rows.index_select(0, redo));
    values.index_copy_(0, redo, redo_values);
    cols.index_copy_(0, redo, redo_cols);
  }
  // Best first, equal values in column order: sort by column, then stably by value.
  auto by_col = std::get<1>(cols.sort(/*dim=*/1));
  cols = cols.gather(1, by_col);
  values = values.gather(1, by_col);
  auto order = std::get<1>(values.sort(/*stable=*/true, /*dim=*/1, /*descending=*/true));
  return {values.gather(1, order), cols.gather(1, order)};
}

}  // namespace lica::loss
