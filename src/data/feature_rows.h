// The one pass that turns stored feature rows into a batch: float16/float32 -> float32, the
// padding past a row's valid positions zeroed, the finiteness of the valid positions checked,
// and the rows put in the order asked for. One pass over memory instead of LibTorch's four
// (convert, isfinite, index_select, masked_fill) makes the loader several times faster; it
// runs on the loader thread, parallel over rows.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

namespace lica::data {

// A non-finite stored value: the output row it went to, its position (frame or token), the
// feature index, and the value.
struct NonFinite {
  int64_t row = 0, position = 0, feature = 0;
  float value = 0;
};

// stored: [R, P, D] float16 (IEEE half, as uint16) or float32 rows; out: [n, P, D] float32
// where out[i] = stored[source[i]] for positions < valid[i] and 0 after. Returns the
// non-finite value at a valid position with the smallest output row (then position, feature),
// if any; `out` is fully written either way.
std::optional<NonFinite> convert_rows(const void* stored, bool half, int64_t P, int64_t D,
                                      const std::vector<int64_t>& source,
                                      const std::vector<int32_t>& valid, float* out);

}  // namespace lica::data
