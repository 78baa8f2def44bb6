// Gradient all-reduce in flat buckets, overlapped with the backward pass (docs/design.md §5).
//
// Parameters are packed, in reverse registration order (the order backward reaches them),
// into buckets of about `bucket_mb`. A hook on each parameter copies its gradient into its
// bucket as soon as autograd has it; a full bucket is launched as an asynchronous
// all-reduce at once, so communication runs while backward computes the rest. Buckets are
// launched strictly in index order, the same on every rank, as MPI and NCCL require.
// finish() launches what is left (a parameter without a gradient counts as zeros), waits,
// and writes the summed gradients into .grad. Gradients are summed, never averaged: the
// losses are already normalised by the global batch.
//
// With one rank the sum is what .grad already holds: no buckets, no hooks, no copies and no
// collective (issue 17: the step at W = 1 issues none); finish() only gives a parameter
// without a gradient its zeros, as with several ranks.
#pragma once

#include <torch/torch.h>

#include <memory>
#include <vector>

#include "dist/communicator.h"

namespace lica::dist {

class GradientReducer {
 public:
  GradientReducer(Communicator& comm, std::vector<torch::Tensor> params, double bucket_mb);
  ~GradientReducer();
  GradientReducer(const GradientReducer&) = delete;
  GradientReducer& operator=(const GradientReducer&) = delete;

  // Arms the hooks for the next backward pass. Backward passes outside prepare()/finish()
  // (a reference computation, say) are not reduced. overlap = false keeps every bucket
  // until finish() (for measuring what the overlap hides).
  void prepare(bool overlap = true);
  // Completes the reduction; afterwards every rank holds the summed gradients in .grad.
  void finish();
  // Sums over the ranks what .grad holds now (accumulated by backward passes outside
  // prepare()/finish(), as the micro-batched step makes them), bucket by bucket, without
  // overlap; a parameter without a gradient counts as zeros.
  void reduce_accumulated();

  // 0 with one rank.
  int64_t num_buckets() const { return static_cast<int64_t>(buckets_.size()); }
  // Of the last step: buckets launched from hooks during backward, and the time finish()
  // spent waiting for communication that backward did not hide.
  int64_t launched_during_backward() const { return launched_in_backward_; }
  double exposed_wait_seconds() const { return exposed_wait_s_; }

 private:
  struct Slot {
    int64_t bucket;
    int64_t offset;  // in elements, inside the bucket
  };
  struct Bucket {
    torch::Tensor flat;  // [elements] the bucket's gradients, contiguous
    std::vector<int64_t> params;
    int64_t pending = 0;  // parameters not yet copied in this step
    std::unique_ptr<Work> work;
  };

  void on_gradient(int64_t param, const torch::Tensor& grad);
  // The zeros of a parameter that has no gradient (one rank: nothing else to do).
  void define_missing_gradients();
  void launch_ready_buckets();

  Communicator& comm_;
  std::vector<torch::Tensor> params_;
  std::vector<Slot> slots_;
  std::vector<Bucket> buckets_;
  std::vector<bool> seen_;
  std::vector<unsigned> hook_handles_;
  int64_t next_launch_ = 0;
  bool armed_ = false;
  bool overlap_ = true;
  int64_t launched_in_backward_ = 0;
  double exposed_wait_s_ = 0.0;
};

// Rank 0's parameter values on every rank (start of training).
void broadcast_parameters(Communicator& comm, const std::vector<torch::Tensor>& params);

}  // namespace lica::dist
