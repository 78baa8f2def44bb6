// Helpers shared by the benchmark programs: clocks, list flags, device synchronisation and
// peak memory. Header-only: each bench is one translation unit.
#pragma once

#include <torch/torch.h>

#include <sys/resource.h>

#include <chrono>
#include <cstdint>
#include <sstream>
#include <string>
#include <vector>

#include "common/error.h"

#ifdef LICA_WITH_CUDA
#include <c10/cuda/CUDACachingAllocator.h>
#endif

namespace lica::bench {

using Clock = std::chrono::steady_clock;

inline double ms_since(Clock::time_point t) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t).count();
}

// "a,b,c" -> {"a", "b", "c"}; an empty item is an error naming the flag.
inline std::vector<std::string> split_list(const std::string& text, const std::string& flag) {
  std::vector<std::string> items;
  std::stringstream in(text);
  std::string item;
  while (std::getline(in, item, ',')) {
    if (item.empty()) throw InputError("--" + flag + ": empty item in '" + text + "'");
    items.push_back(item);
  }
  if (items.empty()) throw InputError("--" + flag + ": expected a comma-separated list");
  return items;
}

// "256,1024" -> {256, 1024}; each must be a positive integer.
inline std::vector<int64_t> split_positive_ints(const std::string& text, const std::string& flag) {
  std::vector<int64_t> values;
  for (const auto& item : split_list(text, flag)) {
    size_t used = 0;
    long long v = 0;
    try {
      v = std::stoll(item, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used != item.size() || v <= 0) {
      throw InputError("--" + flag + ": expected positive integers, got '" + item + "'");
    }
    values.push_back(v);
  }
  return values;
}

// Waits for the work queued on `device`, so that a clock read next times the work and not
// only its launch. A no-op on the CPU, where ops run synchronously.
inline void synchronize(const torch::Device& device) {
  if (device.is_cuda()) torch::cuda::synchronize(device.index());
}

// Peak memory: on CUDA the caching allocator's peak allocated bytes since the last reset;
// on the CPU the process's maximum resident set size, which cannot be reset (so it is the
// peak of everything run so far).
inline void reset_peak_memory(const torch::Device& device) {
#ifdef LICA_WITH_CUDA
  if (device.is_cuda()) c10::cuda::CUDACachingAllocator::resetPeakStats(device.index());
#else
  (void)device;
#endif
}

inline int64_t peak_memory_bytes(const torch::Device& device) {
#ifdef LICA_WITH_CUDA
  if (device.is_cuda()) {
    // allocated_bytes[0]: the aggregate over the small and large pools.
    return c10::cuda::CUDACachingAllocator::getDeviceStats(device.index()).allocated_bytes[0].peak;
  }
#else
  (void)device;
#endif
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<int64_t>(usage.ru_maxrss) * 1024;  // Linux reports KiB
}

inline const char* peak_memory_kind(const torch::Device& device) {
  return device.is_cuda() ? "cuda_peak_allocated" : "cpu_max_rss";
}

// Returns freed cached blocks to the device after an out-of-memory error, so the next
// configuration starts from an empty cache.
inline void release_cached_memory(const torch::Device& device) {
#ifdef LICA_WITH_CUDA
  if (device.is_cuda()) c10::cuda::CUDACachingAllocator::emptyCache();
#else
  (void)device;
#endif
}

}  // namespace lica::bench
