// CUDA launchers of the fused LICA term's two tile operations (docs/design.md §5: "a fused kernel
// that streams over column tiles keeps the memory O(B·D)"). The caller (src/trainer/
// lica_fused.cpp) loops over column tiles of the similarity matrix: for each tile it computes
// the tile of log-probabilities logp[B, tile_cols] (row-major, contiguous) with cuBLAS, then
//   - forward: pair_forward adds each pair's share of the divergence over the tile's columns;
//   - backward: row_gradient writes the tile of d loss / d logits.
// Neither ever holds a per-pair distribution: the only per-pair state is two numbers.
// The CPU reference of both is in src/loss/lica_fused.cpp; the arithmetic of one column
// is lica_pair_math.h, shared by both. Instantiated for float and double.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

namespace lica::kernels {

// The neighbour pairs of one LICA term, on the device. Pairs are sorted by anchor
// (anchor_begin[r] .. anchor_begin[r+1] are the pairs of anchor row r, r in [0, rows]);
// by_neighbour lists the pair ids sorted by neighbour with neighbour_begin the same way.
struct DevicePairs {
  const int64_t* anchor = nullptr;           // [P] row index of the pair's anchor
  const int64_t* neighbour = nullptr;        // [P] row index of the pair's neighbour
  int64_t count = 0;                         // P
  const int64_t* anchor_begin = nullptr;     // [rows + 1]
  const int64_t* by_neighbour = nullptr;     // [P]
  const int64_t* neighbour_begin = nullptr;  // [rows + 1]
};

// term[p] += Σ_c pair_column(logp[a_p, c], logp[n_p, c]).term and
// grad_anchor_sum[p] += Σ_c ….grad_anchor over the tile's columns. One warp per pair.
template <typename T>
cudaError_t pair_forward(const T* logp, int64_t tile_cols, const DevicePairs& pairs, bool kl,
                         T* term, T* grad_anchor_sum, cudaStream_t stream);

// grad_logits[r, c] = G_r(c) - exp(logp[r, c]) · row_sum[r], with
// G_r(c) = Σ_{p: a_p = r} w_p · grad_anchor + Σ_{p: n_p = r} w_p · grad_neighbour
// (the log-softmax backward of the pair gradients; row_sum[r] = Σ_c G_r(c), from the forward).
// One thread per (row, column): no atomics, so the result is deterministic.
template <typename T>
cudaError_t row_gradient(const T* logp, int64_t rows, int64_t tile_cols,
                         const DevicePairs& pairs, const T* weight, const T* row_sum, bool kl,
                         T* grad_logits, cudaStream_t stream);

}  // namespace lica::kernels
