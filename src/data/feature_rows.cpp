#include "data/feature_rows.h"

#include <ATen/Parallel.h>
#include <c10/util/Half.h>

#include <cstring>
#include <limits>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace lica::data {
namespace {

// float16 -> float32 of n values; true if any is Inf or NaN (exponent bits all ones). The
// F16C instruction converts 8 at a time; the build does not assume it, so it is chosen at run
// time.
bool half_to_float_scalar(const uint16_t* in, float* out, int64_t n) {
  bool bad = false;
  for (int64_t i = 0; i < n; ++i) {
    out[i] = c10::detail::fp16_ieee_to_fp32_value(in[i]);
    bad |= (in[i] & 0x7c00u) == 0x7c00u;
  }
  return bad;
}

#if defined(__x86_64__)
__attribute__((target("avx,f16c"))) bool half_to_float_f16c(const uint16_t* in, float* out,
                                                              int64_t n) {
  const __m128i exponent = _mm_set1_epi16(0x7c00);
  __m128i bad = _mm_setzero_si128();
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(in + i));
    _mm256_storeu_ps(out + i, _mm256_cvtph_ps(h));
    bad = _mm_or_si128(bad, _mm_cmpeq_epi16(_mm_and_si128(h, exponent), exponent));
  }
  return _mm_movemask_epi8(bad) != 0 || half_to_float_scalar(in + i, out + i, n - i);
}
const bool kHasF16c = __builtin_cpu_supports("f16c") && __builtin_cpu_supports("avx");
#endif

bool half_to_float(const uint16_t* in, float* out, int64_t n) {
#if defined(__x86_64__)
  if (kHasF16c) return half_to_float_f16c(in, out, n);
#endif
  return half_to_float_scalar(in, out, n);
}

bool any_non_finite(const float* f, int64_t n) {
  bool bad = false;
  for (int64_t i = 0; i < n; ++i) {
    uint32_t bits;
    std::memcpy(&bits, f + i, sizeof bits);
    bad |= (bits & 0x7f800000u) == 0x7f800000u;
  }
  return bad;
}

}  // namespace

std::optional<NonFinite> convert_rows(const void* stored, bool half, int64_t P, int64_t D,
                                      const std::vector<int64_t>& source,
                                      const std::vector<int32_t>& valid, float* out) {
  const auto n = static_cast<int64_t>(source.size());
  const int64_t row_values = P * D;
  // Rows with a non-finite valid value; only the first is reported, the flag is per row.
  std::vector<uint8_t> bad(static_cast<size_t>(n), 0);
  at::parallel_for(0, n, 16, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      const int64_t keep = static_cast<int64_t>(valid[static_cast<size_t>(i)]) * D;
      float* dst = out + i * row_values;
      const int64_t src = source[static_cast<size_t>(i)] * row_values;
      if (half) {
        const auto* h = static_cast<const uint16_t*>(stored) + src;
        bad[static_cast<size_t>(i)] = half_to_float(h, dst, keep);
      } else {
        const float* f = static_cast<const float*>(stored) + src;
        std::memcpy(dst, f, static_cast<size_t>(keep) * sizeof(float));
        bad[static_cast<size_t>(i)] = any_non_finite(f, keep);
      }
      std::memset(dst + keep, 0, static_cast<size_t>(row_values - keep) * sizeof(float));
    }
  });
  for (int64_t i = 0; i < n; ++i) {
    if (!bad[static_cast<size_t>(i)]) continue;
    const float* row = out + i * row_values;
    for (int64_t k = 0; k < static_cast<int64_t>(valid[static_cast<size_t>(i)]) * D; ++k) {
      uint32_t bits;
      std::memcpy(&bits, row + k, sizeof bits);
      if ((bits & 0x7f800000u) == 0x7f800000u) return NonFinite{i, k / D, k % D, row[k]};
    }
  }
  return std::nullopt;
}

}  // namespace lica::data
