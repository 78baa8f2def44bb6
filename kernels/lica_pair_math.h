// The per-column arithmetic of the fused LICA term, shared by the CUDA kernels
// (lica_fused.cu) and their CPU reference (src/loss/lica_fused.cpp), so both compute the
// same expression in the same order. No torch, no CUDA headers: nvcc and the host compiler
// both include it.
//
// For one neighbour pair (anchor a, neighbour n) and one column c, with lp = log P_a(c),
// lq = log P_n(c), p = exp(lp), q = exp(lq) (docs/design.md §4):
//   JS: m = ½ (p + q),
//       d/dlp = ½ p (lp - log m),  d/dlq = ½ q (lq - log m),  term = d/dlp + d/dlq
//       (the two halves are ½ KL(p||m) and ½ KL(q||m) column by column);
//   KL(P_a || P_n): term = p (lp - lq),  d/dlp = p (lp - lq) + p,  d/dlq = -p.
// Summed over columns, `term` is the pair's divergence and the derivatives are the pair's
// gradient with respect to the two rows of log-probabilities.
//
// p and q are arguments because the CPU takes the exponentials of a whole tile at once
// (vectorised) and then spends one logarithm per JS column and none per KL column: the pair
// arithmetic, not the matrix products, is the cost of the term (docs/large-batch.md).
#pragma once

#include <math.h>

#if defined(__CUDACC__)
#define LICA_HOST_DEVICE __host__ __device__ __forceinline__
#else
#define LICA_HOST_DEVICE inline
#endif

namespace lica::kernels {

template <typename T>
struct PairColumn {
  T term;             // the column's share of D(P_a, P_n)
  T grad_anchor;      // d term / d log P_a(c)
  T grad_neighbour;   // d term / d log P_n(c)
};

LICA_HOST_DEVICE float exp_of(float x) { return expf(x); }
LICA_HOST_DEVICE double exp_of(double x) { return exp(x); }

LICA_HOST_DEVICE float log_of(float x) { return logf(x); }
LICA_HOST_DEVICE double log_of(double x) { return log(x); }

// One column given both log-probabilities and both probabilities.
template <typename T>
LICA_HOST_DEVICE PairColumn<T> pair_column(T lp, T lq, T p, T q, bool kl) {
  if (kl) {
    const T t = p * (lp - lq);
    return {t, t + p, -p};
  }
  const T m = T(0.5) * (p + q);
  // Both probabilities underflowed: each half, p·(lp − log m) with m ≥ p/2, tends to 0.
  if (m == T(0)) return {T(0), T(0), T(0)};
  const T log_m = log_of(m);
  const T ga = T(0.5) * p * (lp - log_m);
  const T gn = T(0.5) * q * (lq - log_m);
  return {ga + gn, ga, gn};
}

// The same from the log-probabilities alone (the CUDA kernels: an exponential is cheap there).
template <typename T>
LICA_HOST_DEVICE PairColumn<T> pair_column(T lp, T lq, bool kl) {
  return pair_column(lp, lq, exp_of(lp), kl ? T(0) : exp_of(lq), kl);
}

}  // namespace lica::kernels
