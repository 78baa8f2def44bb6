#include "kernels/lica_fused_cuda.h"

#include "kernels/lica_pair_math.h"

namespace lica::kernels {
namespace {

constexpr int kWarp = 32;
constexpr int kPairsPerBlock = 8;  // warps per block of pair_forward
constexpr int kRowThreads = 128;   // columns per block of row_gradient

template <typename T>
__device__ T warp_sum(T v) {
  for (int offset = kWarp / 2; offset > 0; offset /= 2) {
    v += __shfl_down_sync(0xffffffffu, v, offset);
  }
  return v;
}

template <typename T>
__global__ void pair_forward_kernel(const T* __restrict__ logp, int64_t tile_cols,
                                    const int64_t* __restrict__ anchor,
                                    const int64_t* __restrict__ neighbour, int64_t count,
                                    bool kl, T* __restrict__ term,
                                    T* __restrict__ grad_anchor_sum) {
  const int64_t pair = static_cast<int64_t>(blockIdx.x) * kPairsPerBlock + threadIdx.x / kWarp;
  const int lane = threadIdx.x % kWarp;
  if (pair >= count) return;  // whole warps leave together: the shuffles stay full
  const T* lp = logp + anchor[pair] * tile_cols;
  const T* lq = logp + neighbour[pair] * tile_cols;
  T t = 0, ga = 0;
  for (int64_t c = lane; c < tile_cols; c += kWarp) {
    const auto col = pair_column(lp[c], lq[c], kl);
    t += col.term;
    ga += col.grad_anchor;
  }
  t = warp_sum(t);
  ga = warp_sum(ga);
  if (lane == 0) {  // one warp owns the pair: a plain add, tiles run in stream order
    term[pair] += t;
    grad_anchor_sum[pair] += ga;
  }
}

template <typename T>
__global__ void row_gradient_kernel(const T* __restrict__ logp, int64_t tile_cols,
                                    DevicePairs pairs, const T* __restrict__ weight,
                                    const T* __restrict__ row_sum, bool kl,
                                    int64_t row0, T* __restrict__ grad_logits) {
  const int64_t r = row0 + blockIdx.y;
  const int64_t c = static_cast<int64_t>(blockIdx.x) * kRowThreads + threadIdx.x;
  if (c >= tile_cols) return;
  const T own = logp[r * tile_cols + c];
  T g = 0;
  for (int64_t p = pairs.anchor_begin[r]; p < pairs.anchor_begin[r + 1]; ++p) {
    g += weight[p] * pair_column(own, logp[pairs.neighbour[p] * tile_cols + c], kl).grad_anchor;
  }
  for (int64_t i = pairs.neighbour_begin[r]; i < pairs.neighbour_begin[r + 1]; ++i) {
    const int64_t p = pairs.by_neighbour[i];
    g += weight[p] * pair_column(logp[pairs.anchor[p] * tile_cols + c], own, kl).grad_neighbour;
  }
  grad_logits[r * tile_cols + c] = g - exp_of(own) * row_sum[r];
}

}  // namespace

template <typename T>
cudaError_t pair_forward(const T* logp, int64_t tile_cols, const DevicePairs& pairs, bool kl,
                         T* term, T* grad_anchor_sum, cudaStream_t stream) {
  if (pairs.count == 0 || tile_cols == 0) return cudaSuccess;
  const auto blocks = static_cast<unsigned>((pairs.count + kPairsPerBlock - 1) / kPairsPerBlock);
  pair_forward_kernel<T><<<blocks, kPairsPerBlock * kWarp, 0, stream>>>(
      logp, tile_cols, pairs.anchor, pairs.neighbour, pairs.count, kl, term, grad_anchor_sum);
  return cudaGetLastError();
}

template <typename T>
cudaError_t row_gradient(const T* logp, int64_t rows, int64_t tile_cols,
                         const DevicePairs& pairs, const T* weight, const T* row_sum, bool kl,
                         T* grad_logits, cudaStream_t stream) {
  if (rows == 0 || tile_cols == 0) return cudaSuccess;
  // Rows on grid.y (at most 65535 per launch): launch row bands of that height.
  constexpr int64_t kMaxGridY = 65535;
  const dim3 block(kRowThreads);
  const auto col_blocks = static_cast<unsigned>((tile_cols + kRowThreads - 1) / kRowThreads);
  for (int64_t r0 = 0; r0 < rows; r0 += kMaxGridY) {
    const int64_t band = rows - r0 < kMaxGridY ? rows - r0 : kMaxGridY;
    row_gradient_kernel<T><<<dim3(col_blocks, static_cast<unsigned>(band)), block, 0, stream>>>(
        logp, tile_cols, pairs, weight, row_sum, kl, r0, grad_logits);
    const cudaError_t err = cudaGetLastError();
    if (err != cudaSuccess) return err;
  }
  return cudaSuccess;
}

#define LICA_INSTANTIATE(T)                                                                 \
  template cudaError_t pair_forward<T>(const T*, int64_t, const DevicePairs&, bool, T*, T*,  \
                                       cudaStream_t);                                       \
  template cudaError_t row_gradient<T>(const T*, int64_t, int64_t, const DevicePairs&,      \
                                       const T*, const T*, bool, T*, cudaStream_t);
LICA_INSTANTIATE(float)
LICA_INSTANTIATE(double)
#undef LICA_INSTANTIATE

}  // namespace lica::kernels
