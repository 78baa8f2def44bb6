// Pooling of padded sequences [B, L, D] with validity masks [B, L] (true = valid).
#pragma once

#include <torch/torch.h>

namespace lica::model {

// Mean over the valid positions: [B, D].
torch::Tensor masked_mean(const torch::Tensor& x, const torch::Tensor& mask);

// The last valid position of each row (CLIP's EOT token): [B, D].
torch::Tensor last_valid(const torch::Tensor& x, const torch::Tensor& mask);

}  // namespace lica::model
