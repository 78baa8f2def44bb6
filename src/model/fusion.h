// The fusion encoder of AAI (docs/design.md §3): a cross-attention transformer over a video's frame
// features and a caption's token features with a matching head. Each layer lets the tokens
// attend to the frames (pre-LN, residual), then runs a self-attention + MLP block over the
// tokens (transformer.h's block). The head reads the mean of the valid tokens: one matching
// logit per (video, caption) pair. It scores pairs, so it is trained with ITM and used to
// re-rank the dual encoder's top-k at evaluation.
#pragma once

#include <torch/torch.h>

#include <vector>

#include "model/transformer.h"

namespace lica::model {

struct FusionOptions {
  int64_t width = 256;  // D of the towers' sequence features
  int64_t layers = 0;   // 0 = no fusion encoder
  int64_t heads = 4;
  double dropout = 0.0;
};

class FusionEncoderImpl : public torch::nn::Module {
 public:
  explicit FusionEncoderImpl(const FusionOptions& opt);
  // video: [B, F, D], video_mask [B, F]; text: [B, L, D], text_mask [B, L] (bool, true =
  // valid). Row b of both is one pair. Returns [B] matching logits; padded positions never
  // change them.
  torch::Tensor forward(const torch::Tensor& video, const torch::Tensor& video_mask,
                        const torch::Tensor& text, const torch::Tensor& text_mask);

 private:
  struct Layer {
    torch::nn::LayerNorm ln{nullptr};
    torch::nn::MultiheadAttention cross{nullptr};
    ResidualAttentionBlock block{nullptr};
  };
  std::vector<Layer> layers_;
  torch::nn::Dropout drop_{nullptr};
  torch::nn::LayerNorm ln_out_{nullptr};
  torch::nn::Linear head_{nullptr};
};
TORCH_MODULE(FusionEncoder);

}  // namespace lica::model
