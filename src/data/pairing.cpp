#include "data/pairing.h"

#include <random>
#include <utility>

#include "common/error.h"

namespace lica::data {
namespace {

// splitmix64 finaliser: a well-mixed 64-bit function of its input.
uint64_t mix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

}  // namespace

Pairing parse_pairing(const std::string& s) {
  if (s == "one_caption") return Pairing::kOneCaption;
  if (s == "all_captions") return Pairing::kAllCaptions;
  throw InputError("pairing: value '" + s + "' is not known, expected one_caption or all_captions");
}

const char* pairing_name(Pairing pairing) {
  return pairing == Pairing::kOneCaption ? "one_caption" : "all_captions";
}

std::vector<Sample> epoch_samples(const FeatureFile& file, const SplitIndex& split, Pairing pairing,
                                  uint64_t seed, int64_t epoch) {
  std::mt19937_64 rng(mix64(mix64(seed) ^ static_cast<uint64_t>(epoch)));
  const std::vector<int32_t>& text_video = file.text_video();
  std::vector<Sample> samples;

  if (pairing == Pairing::kAllCaptions) {
    samples.reserve(split.texts.size());
    for (int64_t t : split.texts) samples.push_back({text_video[static_cast<size_t>(t)], t});
  } else {
    // The split's captions of each video, in split order (CSR over video rows).
    const size_t V = static_cast<size_t>(file.num_videos());
    std::vector<int64_t> start(V + 1, 0);
    for (int64_t t : split.texts) ++start[static_cast<size_t>(text_video[t]) + 1];
    for (size_t v = 0; v < V; ++v) start[v + 1] += start[v];
    std::vector<int64_t> fill(start.begin(), start.end() - 1), captions(split.texts.size());
    for (int64_t t : split.texts) captions[fill[static_cast<size_t>(text_video[t])]++] = t;

    samples.reserve(split.videos.size());
    for (int64_t v : split.videos) {
      const int64_t first = start[static_cast<size_t>(v)];
      const uint64_t n = static_cast<uint64_t>(start[static_cast<size_t>(v) + 1] - first);
      if (n == 0) {
        throw InputError(file.path() + ": video " + std::to_string(v) +
                         " has no caption in the split, expected at least one (one_caption)");
      }
      samples.push_back(
          {v, captions[static_cast<size_t>(first + static_cast<int64_t>(rng() % n))]});
    }
  }
  // Fisher–Yates.
  for (size_t i = samples.size(); i > 1; --i) {
    std::swap(samples[i - 1], samples[rng() % i]);
  }
  return samples;
}

}  // namespace lica::data
