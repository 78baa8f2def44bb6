// A prefetching batch loader (docs/design.md §2): background reader threads read the batches of
// the coming steps (this rank's rows only, adjacent rows coalesced into one read each,
// float16 -> float32 and the finiteness check done there), so the training step does not
// wait for the disk. With several threads each reads whole batches, steps taken in turn;
// next() still hands them out in step order, and at most `depth` batches are read ahead.
//
// Errors on a reader thread (a NaN row, a damaged file) are kept and rethrown by next() of
// the step they belong to, after the batches before it; the destructor stops and joins the
// threads from any state, so an exception on the training thread cannot leave them hanging.
// With an HDF5 library built without thread safety the loader reads synchronously inside
// next().
#pragma once

#include <condition_variable>
#include <cstdint>
#include <exception>
#include <functional>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

#include "data/batch.h"
#include "data/feature_file.h"

namespace lica::data {

// The rows of one batch of this rank: video_rows[i] is paired with text_rows[i].
struct BatchRows {
  std::vector<int64_t> video_rows;
  std::vector<int64_t> text_rows;
};

// Rows of the batch of `step`; called on a reader thread, once per step, in step order (one
// call at a time).
using BatchPlan = std::function<BatchRows(int64_t step)>;

struct LoaderOptions {
  int64_t depth = 4;        // batches read ahead of training; 0 = read in next()
  bool pin_memory = false;  // pinned host memory for fast copies to the GPU (CUDA builds)
  int64_t threads = 1;      // reader threads (at most depth of them are ever busy)
};

class PrefetchLoader {
 public:
  // Loads the batches of steps first_step .. end_step - 1. `file` must outlive the loader.
  PrefetchLoader(const FeatureFile& file, BatchPlan plan, int64_t first_step, int64_t end_step,
                 LoaderOptions options = {});
  ~PrefetchLoader();
  PrefetchLoader(const PrefetchLoader&) = delete;
  PrefetchLoader& operator=(const PrefetchLoader&) = delete;

  // The batch of the next step, in order. Rethrows what the loader thread threw for it;
  // lica::Error past end_step.
  Batch next();

  // Seconds next() has spent waiting for a batch so far: the data stall of training.
  double wait_seconds() const { return wait_seconds_; }

 private:
  Batch read(const BatchRows& rows) const;
  void reader();  // one reader thread's loop

  const FeatureFile& file_;
  BatchPlan plan_;
  const int64_t end_step_;
  const LoaderOptions options_;
  int64_t next_step_;  // of next()
  double wait_seconds_ = 0;

  std::mutex mutex_;
  std::condition_variable changed_;
  int64_t next_to_read_;                      // the step the next free reader takes
  std::map<int64_t, Batch> ready_;            // read, not yet taken by next()
  int64_t error_step_ = -1;                   // the first step that failed, or -1
  std::exception_ptr error_;                  // its failure
  bool stopping_ = false;
  std::vector<std::thread> threads_;  // last: start once everything above is constructed
};

}  // namespace lica::data
