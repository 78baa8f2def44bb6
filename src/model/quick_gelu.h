// QuickGELU, CLIP's activation: x · sigmoid(1.702 x).
//
// On the CPU in fp32 and fp64 it is one autograd function whose backward is a single pass
// over the activation (autograd's graph of the three ops makes five), the largest tensor of
// a transformer block ([B · L, 4 D]); elsewhere (CUDA, bf16 autocast) the three ops.
#pragma once

#include <torch/torch.h>

namespace lica::model {

torch::Tensor quick_gelu(const torch::Tensor& x);

// The three ops, as autograd differentiates them (the tests compare the two).
torch::Tensor quick_gelu_ops(const torch::Tensor& x);

}  // namespace lica::model
