// The dual encoder: video tower, text tower and the learned logit scale (docs/design.md §3).
#pragma once

#include <torch/torch.h>

#include "model/encoders.h"
#include "model/fusion.h"

namespace lica::model {

struct DualEncoderOptions {
  VideoEncoderOptions video;
  TextEncoderOptions text;
  double init_temperature = 0.07;  // logit scale starts at ln(1 / init_temperature)
  bool local_heads = false;        // LMIM's projections of frames and tokens (AAI)
  FusionOptions fusion;            // layers 0 = no fusion encoder (AAI)
};

class DualEncoderImpl : public torch::nn::Module {
 public:
  explicit DualEncoderImpl(const DualEncoderOptions& opt);

  torch::Tensor encode_video(const torch::Tensor& frames, const torch::Tensor& mask) {
    return video_->forward(frames, mask);
  }
  torch::Tensor encode_text(const torch::Tensor& tokens, const torch::Tensor& mask) {
    return text_->forward(tokens, mask);
  }
  // The embeddings with the frame / token features they pool (for LMIM and fusion).
  Encoded encode_video_sequence(const torch::Tensor& frames, const torch::Tensor& mask) {
    return video_->encode(frames, mask);
  }
  Encoded encode_text_sequence(const torch::Tensor& tokens, const torch::Tensor& mask) {
    return text_->encode(tokens, mask);
  }
  // LMIM's local features: a linear map of each position's feature, L2-normalised per
  // position. sequence: [B, L, D] -> [B, L, D]. Needs options.local_heads.
  torch::Tensor local_video(const torch::Tensor& sequence);
  torch::Tensor local_text(const torch::Tensor& sequence);

  bool has_fusion() const { return !fusion_.is_empty(); }
  // The fusion encoder's matching logits of pairs (row b of both sides): [B]. Needs
  // has_fusion(). Sequences and masks as encode_*_sequence gives them.
  torch::Tensor match_logits(const torch::Tensor& video_sequence, const torch::Tensor& video_mask,
                             const torch::Tensor& text_sequence, const torch::Tensor& text_mask);
  // s = exp(logit_scale), a 0-d tensor in the autograd graph.
  torch::Tensor scale() const { return logit_scale_.exp(); }
  // Keeps s in [1, 100] after every optimiser step (open_clip's clamp of the parameter).
  void clamp_logit_scale();

  static double max_logit_scale() { return std::log(100.0); }
  int64_t embed_dim() const { return embed_dim_; }

 private:
  VideoEncoder video_{nullptr};
  TextEncoder text_{nullptr};
  torch::nn::Linear local_video_{nullptr}, local_text_{nullptr};  // with local_heads only
  FusionEncoder fusion_{nullptr};                                  // with fusion.layers > 0
  torch::Tensor logit_scale_;  // 0-d
  int64_t embed_dim_;
};
TORCH_MODULE(DualEncoder);

}  // namespace lica::model
