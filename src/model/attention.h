// Multi-head attention over the parameters of a torch::nn::MultiheadAttention, so parameter
// names (and checkpoints) stay the module's. It computes what LibTorch's C++ forward
// computes, op for op (fp32 results are bitwise the module's), except that the key padding
// is applied with a plain masked_fill: LibTorch's own forward dispatches that fill over
// float and double only and so fails on the bf16 scores of autocast (trainer.precision).
#pragma once

#include <torch/torch.h>

namespace lica::model {

// query: [L, B, E]; keys: [S, B, E], the very same tensor as `query` for self-attention;
// key_padding: [B, S] bool, true = a key to ignore, or undefined. Returns [L, B, E].
// Needs the module's packed in-projection (kdim = vdim = E) and no bias_k / zero attention.
torch::Tensor attend(torch::nn::MultiheadAttentionImpl& attention, const torch::Tensor& query,
                     const torch::Tensor& keys, const torch::Tensor& key_padding);

}  // namespace lica::model
