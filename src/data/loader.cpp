#include "data/loader.h"

#include <hdf5.h>

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
      next_step_(first_step) {
  if (options_.depth > 0 && kHdf5ThreadSafe && first_step < end_step) {
    thread_ = std::thread([this, first_step] {
      // Rows are read in step order; next() consumes them in the same order.
      for (int64_t step = first_step; step < end_step_; ++step) {
        Batch batch;
        try {
          batch = load(step);
        } catch (...) {
          std::lock_guard<std::mutex> lock(mutex_);
          error_ = std::current_exception();
          changed_.notify_all();
          return;
        }
        std::unique_lock<std::mutex> lock(mutex_);
        changed_.wait(lock, [&] {
          return stopping_ || static_cast<int64_t>(ready_.size()) < options_.depth;
        });
        if (stopping_) return;
        ready_.push_back(std::move(batch));
        changed_.notify_all();
      }
    });
  }
}

PrefetchLoader::~PrefetchLoader() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  changed_.notify_all();
  if (thread_.joinable()) thread_.join();
}

Batch PrefetchLoader::load(int64_t step) {
  const BatchRows rows = plan_(step);
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
  const int64_t step = next_step_++;
  if (!thread_.joinable()) return load(step);  // synchronous mode
  const auto started = std::chrono::steady_clock::now();
  std::unique_lock<std::mutex> lock(mutex_);
  changed_.wait(lock, [&] { return !ready_.empty() || error_; });
  wait_seconds_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  // Batches read before a failure are still delivered; the error belongs to the step after.
  if (ready_.empty()) std::rethrow_exception(error_);
  Batch batch = std::move(ready_.front());
  ready_.pop_front();
  changed_.notify_all();
  return batch;
}

}  // namespace lica::data
