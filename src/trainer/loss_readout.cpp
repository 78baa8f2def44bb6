#include "trainer/loss_readout.h"

#include <string>

#include "common/error.h"

namespace lica::trainer {
namespace {

torch::Tensor no_bad_step(const torch::TensorOptions& options) {
  return torch::tensor({-1.0, 0.0}, options);
}

}  // namespace

void LossReadout::record(const torch::Tensor& values, int64_t step) {
  latest_ = values.detach().to(torch::kDouble).reshape({-1});
  const auto options = latest_.options();
  if (!first_bad_.defined()) first_bad_ = no_bad_step(options);
  // Kept: an earlier bad step, or nothing to report; otherwise this step and its total.
  const auto keep = latest_[0].isfinite().logical_or(first_bad_[0] >= 0);
  const auto here = torch::stack({torch::full({}, static_cast<double>(step), options), latest_[0]});
  first_bad_ = torch::where(keep, first_bad_, here);
}

LossValues LossReadout::read() {
  if (!latest_.defined()) throw Error("LossReadout::read: no step was recorded");
  const auto host = torch::cat({latest_, first_bad_}).cpu();
  const auto v = host.accessor<double, 1>();
  const auto bad_step = static_cast<int64_t>(v[8]);
  if (bad_step >= 0) {
    throw Error("non-finite loss " + std::to_string(v[9]) + " at step " +
                std::to_string(bad_step + 1) + " (epoch " +
                std::to_string(bad_step / steps_per_epoch_) + ")");
  }
  return {v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7]};
}

}  // namespace lica::trainer
