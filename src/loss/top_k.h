// The k best entries of each row in one fixed order, without sorting whole rows: the LICA
// neighbour selection (docs/design.md §4) and the retrieval top-k (re-ranking, lica_search) share it.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <functional>
#include <utility>

namespace lica::loss {

// The k largest entries of each row of `rows` [c, n] (no NaN): descending, ties to the
// smaller column. Returns ([c, k] values, [c, k] int64 columns); 0 <= k <= n.
// Below n/2 it takes a top-k and sorts whole rows only where the k-th value is tied (a
// full stable sort of [B, B] cost 20x a top-k at B = 1024, 1.5 s at B = 4096 on the CPU).
// NaN anywhere in the rows throws lica::Error, on every path (k below or above n/2, k = 0).
std::pair<torch::Tensor, torch::Tensor> top_k_stable(const torch::Tensor& rows, int64_t k);

// top_k_stable() of rows [c, n] that are never held whole: `columns(c0, c1)` returns their
// columns [c0, c1) as [c, c1 - c0], for consecutive tiles of max(tile, 2k) columns. Each
// tile's k best are merged into the running k best, so at most one tile and [c, 2k] are
// held. The result is top_k_stable()'s, ties included: the running best come before the
// tile's in the merge and hold only smaller columns, so a stable merge keeps column order.
std::pair<torch::Tensor, torch::Tensor> top_k_streamed(
    int64_t n, int64_t k, int64_t tile,
    const std::function<torch::Tensor(int64_t, int64_t)>& columns);

}  // namespace lica::loss
