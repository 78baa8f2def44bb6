// Central finite differences for the loss tests.
#pragma once

#include <torch/torch.h>

#include <functional>

namespace lica::testing {

// ∂f/∂x by central differences, one element at a time, in float64. With h = 1e-6 the
// truncation and rounding errors are about 1e-9 for the smooth losses tested here.
inline torch::Tensor numeric_grad(const std::function<torch::Tensor(const torch::Tensor&)>& f,
                                  const torch::Tensor& x, double h = 1e-6) {
  auto g = torch::zeros_like(x);
  auto flat = x.detach().clone().view(-1);
  auto gflat = g.view(-1);
  for (int64_t i = 0; i < flat.numel(); ++i) {
    const double x0 = flat[i].item<double>();
    flat[i] = x0 + h;
    const double up = f(flat.view(x.sizes())).item<double>();
    flat[i] = x0 - h;
    const double down = f(flat.view(x.sizes())).item<double>();
    flat[i] = x0;
    gflat[i] = (up - down) / (2 * h);
  }
  return g;
}

}  // namespace lica::testing
