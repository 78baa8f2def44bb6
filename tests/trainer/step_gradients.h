// Gradient checks of the training step's total loss (float64 models): one parameter's
// gradient by backward() and by central differences.
#pragma once

#include <torch/torch.h>

#include <string>
#include <utility>

#include "dist/local_communicator.h"
#include "support/numeric_grad.h"
#include "trainer/step.h"

namespace lica::trainer::testing {

// {analytic, numeric} d step_losses(...).total / d model parameter `name`, one process.
inline std::pair<torch::Tensor, torch::Tensor> step_gradients(model::DualEncoder& model,
                                                              const model::Momentum& momentum,
                                                              const data::Batch& batch,
                                                              const LossOptions& opt,
                                                              const std::string& name) {
  dist::LocalCommunicator local;
  torch::Tensor p = model->named_parameters()[name];  // a handle to the parameter itself
  for (auto& q : model->parameters()) q.mutable_grad() = torch::Tensor();
  step_losses(model, momentum, local, batch, 0, opt).total.backward();
  auto analytic = p.grad().clone();
  const auto f = [&](const torch::Tensor& x) {
    torch::NoGradGuard no_grad;
    const auto saved = p.detach().clone();
    p.copy_(x);
    auto value = step_losses(model, momentum, local, batch, 0, opt).total.detach();
    p.copy_(saved);
    return value;
  };
  return {analytic, lica::testing::numeric_grad(f, p.detach())};
}

}  // namespace lica::trainer::testing
