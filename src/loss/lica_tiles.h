// The tile operations of the fused LICA term (lica_fused.cpp), shared with the fused
// contrastive + LICA pass (contrastive_lica_fused.cpp). On CUDA tensors they run the kernels
// of kernels/lica_fused_cuda.cu, on CPU tensors their reference loops (lica_fused.cpp).
#pragma once

#include <torch/torch.h>

#include <algorithm>
#include <cstdint>

namespace lica::loss {

// The pairs with the index structures the row-wise backward needs, all on the pairs' device.
struct IndexedPairs {
  torch::Tensor anchor, neighbour;  // [P] int64
  torch::Tensor anchor_begin;       // [rows + 1]: pairs of anchor r are [begin[r], begin[r+1])
  torch::Tensor by_neighbour;       // [P] pair ids sorted by neighbour (stable)
  torch::Tensor neighbour_begin;    // [rows + 1]
};

// Pairs given anchor-major (as lica_pairs() returns them), over `rows` rows.
IndexedPairs index_pairs(const torch::Tensor& anchor, const torch::Tensor& neighbour,
                         int64_t rows);

// term[p] += Σ_c of pair p's column terms over the tile, grad_anchor_sum[p] likewise with
// d term / d log P_anchor(c). logp: [rows, tile] contiguous log-probabilities.
void pair_forward(const torch::Tensor& logp, const IndexedPairs& ip, bool kl, torch::Tensor& term,
                  torch::Tensor& grad_anchor_sum);

// d loss / d logits of the tile [rows, tile]: G_r(c) − p_r(c) · row_sum[r], G_r summing the
// weighted pair gradients of row r as anchor and as neighbour (weight: [P]).
torch::Tensor row_gradient(const torch::Tensor& logp, const IndexedPairs& ip,
                           const torch::Tensor& weight, const torch::Tensor& row_sum, bool kl);

// body(begin, end) over [0, n) in steps of `tile`.
template <typename Body>
void for_tiles(int64_t n, int64_t tile, Body body) {
  for (int64_t b = 0; b < n; b += tile) body(b, std::min(n, b + tile));
}

}  // namespace lica::loss
