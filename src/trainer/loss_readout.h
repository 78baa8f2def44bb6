// The losses of the training steps, kept on the run's device until someone needs them (a
// progress line, a checkpoint, validation, the end). Reading them back every step made each
// CUDA step wait for the one before it to finish (issue 17); now that happens once per
// trainer.log_every steps. A non-finite loss is still never missed: each step's check runs on
// the device, and the next read names the first step that had one.
#pragma once

#include <torch/torch.h>

#include <cstdint>

#include "trainer/progress_log.h"

namespace lica::trainer {

class LossReadout {
 public:
  // steps_per_epoch: for the epoch in the error message.
  explicit LossReadout(int64_t steps_per_epoch) : steps_per_epoch_(steps_per_epoch) {}

  // values: [8] the global losses of 0-based step `step`, in LossValues' order, on any
  // device. Queues a few device operations; never waits for the device.
  void record(const torch::Tensor& values, int64_t step);

  // The losses of the latest recorded step (one read-back). lica::Error naming the value,
  // the step (1-based) and the epoch when any step recorded since the last read had a
  // non-finite total; lica::Error before any record().
  LossValues read();

 private:
  int64_t steps_per_epoch_;
  torch::Tensor latest_;     // [8] double
  torch::Tensor first_bad_;  // [2] double: (0-based step, total) of the first non-finite
                             // total since the last read; step -1 when none
};

}  // namespace lica::trainer
