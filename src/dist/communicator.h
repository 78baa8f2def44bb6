// The one communicator interface (docs/design.md §5). Backends: local (W = 1), mpi (CPU tensors;
// CUDA tensors staged through host memory), nccl (CUDA tensors; only in CUDA builds).
// Every rank must call the collectives in the same order with compatible tensors.
#pragma once

#include <torch/torch.h>

#include <memory>
#include <string>

#include "dist/rank_info.h"

namespace lica::dist {

// A collective in flight. wait() returns once its result is in the tensor it was given.
class Work {
 public:
  virtual ~Work() = default;
  virtual void wait() = 0;
  // Drives progress without blocking; true once complete.
  virtual bool test() = 0;
};

class Communicator {
 public:
  virtual ~Communicator() = default;
  virtual const RankInfo& info() const = 0;
  int rank() const { return info().rank; }
  int world_size() const { return info().world_size; }
  virtual std::string backend() const = 0;

  // Every rank's tensor concatenated along dim 0 in rank order. Dim 0 may differ between
  // ranks (evaluation shards, a last partial batch); the other dims and the dtype may not.
  virtual torch::Tensor all_gather(const torch::Tensor& t) = 0;
  // In place: t becomes the elementwise sum over ranks. t must be contiguous.
  virtual void all_reduce_sum(torch::Tensor& t) = 0;
  // As all_reduce_sum, started now; t must stay alive and untouched until wait().
  virtual std::unique_ptr<Work> all_reduce_sum_async(torch::Tensor& t) = 0;
  // In place: t becomes root's t. t must be contiguous.
  virtual void broadcast(torch::Tensor& t, int root) = 0;
  virtual void barrier() = 0;
  // Ends every process of the job with `exit_code` (MPI_Abort): no rank is left waiting.
  [[noreturn]] virtual void abort(int exit_code) = 0;
};

// Sum of a scalar over ranks (a loss value, a flag, a count).
double all_reduce_sum(Communicator& comm, double value);

// `s` becomes root's string on every rank (a resolved path, a decision).
void broadcast_string(Communicator& comm, std::string& s, int root);

struct CommunicatorOptions {
  // A collective pending longer than this ends the job with a message naming it (the
  // watchdog, watchdog.h); 0 = wait forever. Config key dist.timeout_s.
  double timeout_s = 600.0;
};

// Starts MPI when a launcher started this process, reads and cross-checks rank, world size
// and local rank, and returns the communicator `backend` names: "auto" (nccl when built
// with it and CUDA is available, else mpi under a launcher, else local), "local", "mpi" or
// "nccl". Without a launcher the job is W = 1 and needs no MPI. Throws lica::InputError for
// a backend this build or this job cannot give.
std::unique_ptr<Communicator> make_communicator(const std::string& backend,
                                                const CommunicatorOptions& options = {});

}  // namespace lica::dist
