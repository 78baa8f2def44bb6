// How n items split into W contiguous shards, the same way everywhere (sampler, evaluation).
#pragma once

#include <cstdint>
#include <utility>

namespace lica::dist {

// [begin, end) of shard `rank` of `n` items over `world` shards: rank r holds
// [floor(r·n/W), floor((r+1)·n/W)), so shard sizes differ by at most one.
inline std::pair<int64_t, int64_t> shard_range(int64_t n, int rank, int world) {
  return {n * rank / world, n * (rank + 1) / world};
}

}  // namespace lica::dist
