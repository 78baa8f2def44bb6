// The W = 1 communicator: every collective is the identity.
#pragma once

#include "dist/communicator.h"

namespace lica::dist {

class LocalCommunicator : public Communicator {
 public:
  const RankInfo& info() const override { return info_; }
  std::string backend() const override { return "local"; }
  torch::Tensor all_gather(const torch::Tensor& t) override { return t; }
  void all_reduce_sum(torch::Tensor&) override {}
  std::unique_ptr<Work> all_reduce_sum_async(torch::Tensor& t) override;
  void broadcast(torch::Tensor&, int) override {}
  void barrier() override {}
  [[noreturn]] void abort(int exit_code) override;

 private:
  RankInfo info_;
};

}  // namespace lica::dist
