// The (video, caption) training samples of one epoch.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "data/feature_file.h"

namespace lica::data {

enum class Pairing {
  kOneCaption,   // each video once per epoch with one of its captions (CLIP4Clip)
  kAllCaptions,  // every caption once per epoch with its video
};

// "one_caption" | "all_captions"; InputError otherwise.
Pairing parse_pairing(const std::string& s);
const char* pairing_name(Pairing pairing);

struct Sample {
  int64_t video;  // row of /videos
  int64_t text;   // row of /texts
};

// The training samples of one epoch, in training order. one_caption: each split video once,
// paired with one of its split captions drawn uniformly from (seed, epoch); all_captions: every
// split caption with its video. The order is a shuffle drawn from (seed, epoch).
// Deterministic and independent of the standard library's distributions: an own
// std::mt19937_64 seeded from a mix of seed and epoch, draws rng() % n, own Fisher–Yates.
// one_caption throws InputError for a split video without a caption in split.texts.
std::vector<Sample> epoch_samples(const FeatureFile& file, const SplitIndex& split, Pairing pairing,
                                  uint64_t seed, int64_t epoch);

}  // namespace lica::data
