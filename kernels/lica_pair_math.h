// The per-column arithmetic of the fused LICA term, shared by the CUDA kernels
// (lica_fused.cu) and their CPU reference (src/loss/lica_fused.cpp), so both compute the
// same expression in the same order. No torch, no CUDA headers: nvcc and the host compiler
// both include it.
//
// For one neighbour pair (anchor a, neighbour n) and one column c, with lp = log P_a(c),
// lq = log P_n(c), p = exp(lp), q = exp(lq) (docs/design.md §4):
//   JS: log m = logaddexp(lp, lq) - log 2,
//       d/dlp = ½ p (lp - log m),  d/dlq = ½ q (lq - log m),  term = d/dlp + d/dlq
//       (the two halves are ½ KL(p||m) and ½ KL(q||m) column by column);
//   KL(P_a || P_n): term = p (lp - lq),  d/dlp = p (lp - lq) + p,  d/dlq = -p.
// Summed over columns, `term` is the pair's divergence and the derivatives are the pair's
// gradient with respect to the two rows of log-probabilities.
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
LICA_HOST_DEVICE float log1p_of(float x) { return log1pf(x); }
LICA_HOST_DEVICE double log1p_of(double x) { return log1p(x); }

// log(exp(a) + exp(b)) without overflow; equal arguments (-inf included) give a + log 2.
template <typename T>
LICA_HOST_DEVICE T logaddexp_of(T a, T b) {
  const T hi = a > b ? a : b;
  const T lo = a > b ? b : a;
  if (hi == lo) return hi + T(0.69314718055994530942);
  return hi + log1p_of(exp_of(lo - hi));
}

template <typename T>
LICA_HOST_DEVICE PairColumn<T> pair_column(T lp, T lq, bool kl) {
  const T p = exp_of(lp);
  if (kl) {
    const T t = p * (lp - lq);
    return {t, t + p, -p};
  }
  const T q = exp_of(lq);
  const T log_m = logaddexp_of(lp, lq) - T(0.69314718055994530942);
  const T ga = T(0.5) * p * (lp - log_m);
  const T gn = T(0.5) * q * (lq - log_m);
  return {ga + gn, ga, gn};
}

}  // namespace lica::kernels
