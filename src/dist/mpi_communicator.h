// The MPI communicator: collectives on CPU tensors with MPI; CUDA tensors are staged through
// host memory (correct everywhere, fast nowhere: use nccl for GPUs where it can run).
#pragma once

#include <memory>

#include "dist/communicator.h"
#include "dist/watchdog.h"

namespace lica::dist {

class MpiCommunicator : public Communicator {
 public:
  // MPI must be initialised (see make_communicator); finalised by the destructor when
  // `owns_mpi`. A collective pending longer than `timeout_s` (0 = never) aborts the job.
  MpiCommunicator(RankInfo info, bool owns_mpi, double timeout_s);
  ~MpiCommunicator() override;

  const RankInfo& info() const override { return info_; }
  std::string backend() const override { return "mpi"; }
  torch::Tensor all_gather(const torch::Tensor& t) override;
  void all_reduce_sum(torch::Tensor& t) override;
  std::unique_ptr<Work> all_reduce_sum_async(torch::Tensor& t) override;
  void broadcast(torch::Tensor& t, int root) override;
  void barrier() override;
  [[noreturn]] void abort(int exit_code) override;

 private:
  RankInfo info_;
  bool owns_mpi_;
  // Every collective is watched until it returns (blocking calls) or its Work completes.
  std::unique_ptr<Watchdog> watchdog_;
};

// Initialises MPI (once per process) and reads rank, world size and local rank from it.
RankInfo init_mpi();

}  // namespace lica::dist
