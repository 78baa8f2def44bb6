// What a training run reports: the progress line on the terminal and the records of
// metrics.jsonl (docs/design.md §1), with the throughput they show.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include "common/json_line.h"
#include "eval/retrieval_metrics.h"
#include "trainer/step.h"

namespace lica::trainer {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t);

// "h:mm:ss".
std::string format_duration(double seconds);

// Throughput over the steps since the last reset (the last progress line).
class Throughput {
 public:
  void add(int64_t samples) { samples_ += samples, ++steps_; }
  double samples_per_s() const { return samples_ / std::max(1e-9, seconds_since(start_)); }
  double seconds_per_step() const { return seconds_since(start_) / std::max<int64_t>(1, steps_); }
  void reset() { start_ = Clock::now(), samples_ = 0, steps_ = 0; }

 private:
  Clock::time_point start_ = Clock::now();
  int64_t samples_ = 0;
  int64_t steps_ = 0;
};

// A step's global loss values (the all-reduced sums of the ranks' shares).
struct LossValues {
  double total = 0, nce = 0, intra_v = 0, intra_t = 0, itc = 0, ims = 0, lmim = 0, itm = 0;
};

// What one progress line and its train record show.
struct StepReport {
  int64_t done = 0;  // steps done, this one included
  int64_t epoch = 0;
  int64_t epochs = 0;
  int64_t total_steps = 0;
  LossValues loss;
  double lr = 0;
  double scale = 0;  // the logit scale s
  double samples_per_s = 0;
  double step_s = 0;
  double eta_s = 0;
  double data_wait_s = 0;  // time the step waited for the loader since the last record
};

// "epoch 1/5 step 10/50 loss ... eta 0:00:12"; AAI terms only when their weight is on.
std::string progress_line(const StepReport& r, const LossOptions& opt);

// The "train" record of metrics.jsonl.
JsonLine train_record(const StepReport& r);

// The "eval" record of metrics.jsonl for `split` after `step`.
JsonLine eval_record(const std::string& split, int64_t step, int64_t epoch,
                     const eval::RetrievalMetrics& m);

}  // namespace lica::trainer
