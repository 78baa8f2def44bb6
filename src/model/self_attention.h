// Batch-first multi-head self-attention over the parameters of a torch::nn::MultiheadAttention
// (names and checkpoints stay the module's), for the towers' transformers. The arithmetic is
// the module's (packed in-projection, softmax(q kᵀ / √d) v with padded keys ignored, output
// projection) up to fp32 rounding; the layout is what differs: batch-first throughout, so no
// sequence-first transposes and copies around it.
//
// On the CPU in fp32 or fp64 without attention dropout, the core softmax(q kᵀ) v runs as one
// fused autograd function reading q, k and v in place from the in-projection's output: at
// the towers' sizes (L = 12 frames, head width 64) LibTorch's bmm runs one small GEMM per
// (sample, head) after a select each, and that bookkeeping cost more than the arithmetic
// (docs/performance.md). On CUDA with LibTorch 2.1 or later it is ATen's
// scaled_dot_product_attention (flash / memory-efficient kernels). Elsewhere (bf16 autocast
// on the CPU, dropout on the CPU, LibTorch 1.13 on CUDA) the core is made of matmul and
// softmax.
#pragma once

#include <torch/torch.h>

namespace lica::model {

// x: [B, L, E]; key_padding: [B, L] bool, true = a key to ignore, or undefined.
// Returns [B, L, E]. Needs the module's packed in-projection and no bias_k / zero attention.
torch::Tensor self_attend(torch::nn::MultiheadAttentionImpl& attention, const torch::Tensor& x,
                          const torch::Tensor& key_padding);

// softmax(scale · q kᵀ, keys where key_padding is true ignored) v per head, from the packed
// projections qkv [B, L, 3E] (q, k, v column blocks, each split into `heads` heads).
// Returns [B, L, E]. The fused CPU function or scaled_dot_product_attention when they apply
// (above), else matmul/softmax; `fused` false forces the latter (the tests compare them).
torch::Tensor attention_core(const torch::Tensor& qkv, const torch::Tensor& key_padding,
                             int64_t heads, double scale, double dropout, bool training,
                             bool fused = true);

}  // namespace lica::model
