// Small synthetic feature files for tests: the options every such test sets (size, widths,
// seed) in one call, everything else at SyntheticOptions' defaults, so a test states only
// what it depends on.
#pragma once

#include <cstdint>
#include <string>

#include "data/feature_file.h"
#include "data/synthetic.h"

namespace lica::testing {

inline data::SyntheticOptions synthetic_options(int64_t videos, int64_t video_dim,
                                                int64_t text_dim,
                                                uint64_t seed = data::SyntheticOptions{}.seed) {
  data::SyntheticOptions o;
  o.videos = videos;
  o.video_dim = video_dim;
  o.text_dim = text_dim;
  o.seed = seed;
  return o;
}

// Writes `options` to `path` and opens it.
inline data::FeatureFile write_and_open(const std::string& path,
                                        const data::SyntheticOptions& options) {
  data::write_synthetic(path, options);
  return data::FeatureFile::open(path);
}

}  // namespace lica::testing
