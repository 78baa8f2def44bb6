// A small pre-LayerNorm transformer over padded sequences, as CLIP's ResidualAttentionBlock
// stack (CLIP4Clip's seqTransf uses the same block). Written on nn::MultiheadAttention's
// parameters and self_attend() (self_attention.h) rather than nn::TransformerEncoder, so that
// LibTorch 1.13 and 2.x run the same arithmetic, in bf16 under autocast too, batch-first.
#pragma once

#include <torch/torch.h>

namespace lica::model {

struct TransformerOptions {
  int64_t width = 256;
  int64_t layers = 1;
  int64_t heads = 4;
  double dropout = 0.0;
};

class ResidualAttentionBlockImpl : public torch::nn::Module {
 public:
  ResidualAttentionBlockImpl(int64_t width, int64_t heads, double dropout);
  // x: [B, L, W] (batch-first); pad: [B, L] bool, true = padded key (ignored by attention).
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& pad);

 private:
  torch::nn::LayerNorm ln_attn_{nullptr}, ln_mlp_{nullptr};
  torch::nn::MultiheadAttention attn_{nullptr};
  torch::nn::Linear fc_{nullptr}, proj_{nullptr};
  torch::nn::Dropout drop_{nullptr};
};
TORCH_MODULE(ResidualAttentionBlock);

class TransformerImpl : public torch::nn::Module {
 public:
  explicit TransformerImpl(const TransformerOptions& opt);
  // x: [B, L, W]; mask: [B, L] bool, true = valid. Returns [B, L, W]; rows of padded
  // positions are unspecified, valid rows never depend on padded inputs.
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& mask);

 private:
  std::vector<ResidualAttentionBlock> blocks_;
};
TORCH_MODULE(Transformer);

// A learned position table added to a padded sequence, then the transformer: the temporal
// (video) or token (text) model of both towers.
class PositionalTransformerImpl : public torch::nn::Module {
 public:
  PositionalTransformerImpl(int64_t max_len, const TransformerOptions& opt);
  // x: [B, L, W] with L <= max_len; mask: [B, L] bool, true = valid. Returns [B, L, W].
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& mask);

 private:
  torch::Tensor position_;  // [max_len, W]
  Transformer transformer_{nullptr};
};
TORCH_MODULE(PositionalTransformer);

}  // namespace lica::model
