#include "data/loader.h"

#include <hdf5.h>

#include <algorithm>
#include <chrono>

#include "common/error.h"

namespace lica::data {
namespace {

#ifdef H5_HAVE_THREADSAFE
constexpr bool kHdf5ThreadSafe = true;
#else
constexpr bool kHdf5ThreadSafe = false;  // two threads must not call HDF5 at once
#endif

}  // namespace

PrefetchLoader::PrefetchLoader(const FeatureFile& file, BatchPlan plan, int64_t first_step,
                               int64_t end_step, LoaderOptions options)
    : file_(file),
      plan_(std::move(plan)),
      end_step_(end_step),
      options_(options),
      next_step_(first_step),
      next_to_read_(first_step) {
  if (options_.depth > 0 && kHdf5ThreadSafe && first_step < end_step) {
    const int64_t threads = std::max<int64_t>(1, std::min(options_.threads, options_.depth));
    for (int64_t i = 0; i < threads; ++i) threads_.emplace_back([this] { reader(); });
  }
}

PrefetchLoader::~PrefetchLoader() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  changed_.notify_all();
  for (auto& thread : threads_) thread.join();
}

void PrefetchLoader::reader() {
  for (;;) {
    int64_t step = 0;
    BatchRows rows;
    {
      // Take the next step once it is within `depth` of the one training waits for, and plan
      // it under the lock: the plan sees the steps in order, one at a time.
      std::unique_lock<std::mutex> lock(mutex_);
      changed_.wait(lock, [&] {
        return stopping_ || error_ || next_to_read_ >= end_step_ ||
               next_to_read_ - next_step_ < options_.depth;
      });
      if (stopping_ || error_ || next_to_read_ >= end_step_) return;
      step = next_to_read_++;
      try {
        rows = plan_(step);
      } catch (...) {
        error_step_ = step;
        error_ = std::current_exception();
        changed_.notify_all();
        return;
      }
    }
    try {
      Batch batch = read(rows);
      std::lock_guard<std::mutex> lock(mutex_);
      ready_.emplace(step, std::move(batch));
    } catch (...) {
      std::lock_guard<std::mutex> lock(mutex_);
      // Another reader may have failed on a later step first: the earlier failure counts.
      if (!error_ || step < error_step_) {
        error_step_ = step;
        error_ = std::current_exception();
      }
    }
    changed_.notify_all();
  }
}

Batch PrefetchLoader::read(const BatchRows& rows) const {
  Batch batch = make_batch(file_, rows.video_rows, rows.text_rows);
#ifdef LICA_WITH_CUDA
  if (options_.pin_memory && torch::cuda::is_available()) {
    batch.video = batch.video.pin_memory();
    batch.text = batch.text.pin_memory();
    batch.video_mask = batch.video_mask.pin_memory();
    batch.text_mask = batch.text_mask.pin_memory();
  }
#endif
  return batch;
}

Batch PrefetchLoader::next() {
  if (next_step_ >= end_step_) {
    throw Error("PrefetchLoader::next: all " + std::to_string(end_step_) + " steps were loaded");
  }
  if (threads_.empty()) return read(plan_(next_step_++));  // synchronous mode
  const auto started = std::chrono::steady_clock::now();
  std::unique_lock<std::mutex> lock(mutex_);
  const int64_t step = next_step_++;
  // Batches read before a failure are still delivered; the error belongs to its own step.
  changed_.wait(lock, [&] { return ready_.count(step) > 0 || (error_ && error_step_ <= step); });
  wait_seconds_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  const auto it = ready_.find(step);
  if (it == ready_.end()) std::rethrow_exception(error_);
  Batch batch = std::move(it->second);
  ready_.erase(it);
  changed_.notify_all();  // a reader may take the next step now
  return batch;
}

}  // namespace lica::data
