#include "model/pooling.h"

namespace lica::model {

torch::Tensor masked_mean(const torch::Tensor& x, const torch::Tensor& mask) {
  auto m = mask.to(x.scalar_type()).unsqueeze(-1);                 // [B, L, 1]
  return (x * m).sum(1) / m.sum(1).clamp_min(1.0);                  // [B, D]
}

torch::Tensor last_valid(const torch::Tensor& x, const torch::Tensor& mask) {
  auto last = mask.to(torch::kLong).sum(1).sub(1).clamp_min(0);    // [B]
  auto index = last.view({-1, 1, 1}).expand({x.size(0), 1, x.size(2)});
  return x.gather(1, index).squeeze(1);                             // [B, D]
}

}  // namespace lica::model
