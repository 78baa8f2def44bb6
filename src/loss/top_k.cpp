#include "loss/top_k.h"

#include "common/error.h"

#include <algorithm>
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
  if (2 * k >= n || k == 0 || count == 0) {
    // The paths below the top-k's: a sort would place NaN anywhere, so look at every value.
    if (rows.isnan().any().item<bool>()) throw Error("top_k_stable: NaN among the values");
  }
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

std::pair<torch::Tensor, torch::Tensor> top_k_streamed(
    int64_t n, int64_t k, int64_t tile,
    const std::function<torch::Tensor(int64_t, int64_t)>& columns) {
  if (k < 0 || k > n || tile < 1) {
    throw Error("top_k_streamed: k = " + std::to_string(k) + " of " + std::to_string(n) +
                " columns in tiles of " + std::to_string(tile));
  }
  torch::NoGradGuard no_grad;
  // Tiles of at least 2k columns: a merge then sorts at most 1.5x the tile it adds.
  const int64_t width = std::max(tile, 2 * k);
  if (n <= width) return top_k_stable(columns(0, n), k);
  torch::Tensor values, cols;  // the running best: [c, <= k], best first
  for (int64_t c0 = 0; c0 < n; c0 += width) {
    const int64_t c1 = std::min(n, c0 + width);
    auto [tile_values, tile_cols] = top_k_stable(columns(c0, c1), std::min(k, c1 - c0));
    tile_cols.add_(c0);
    if (!values.defined()) {
      values = tile_values;
      cols = tile_cols;
      continue;
    }
    const auto merged_values = torch::cat({values, tile_values}, 1);
    const auto merged_cols = torch::cat({cols, tile_cols}, 1);
    auto [best, at] = top_k_stable(merged_values, std::min(k, merged_values.size(1)));
    values = best;
    cols = merged_cols.gather(1, at);
  }
  return {values, cols};
}

}  // namespace lica::loss
