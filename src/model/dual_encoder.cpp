#include "model/dual_encoder.h"

#include <cmath>

namespace lica::model {

DualEncoderImpl::DualEncoderImpl(const DualEncoderOptions& opt) : embed_dim_(opt.video.embed_dim) {
  video_ = register_module("video", VideoEncoder(opt.video));
  text_ = register_module("text", TextEncoder(opt.text));
  logit_scale_ = register_parameter("logit_scale",
                                    torch::tensor(std::log(1.0 / opt.init_temperature)));
  if (opt.local_heads) {
    local_video_ = register_module("local_video", torch::nn::Linear(embed_dim_, embed_dim_));
    local_text_ = register_module("local_text", torch::nn::Linear(embed_dim_, embed_dim_));
  }
  if (opt.fusion.layers > 0) {
    FusionOptions fusion = opt.fusion;
    fusion.width = embed_dim_;
    fusion_ = register_module("fusion", FusionEncoder(fusion));
  }
}

torch::Tensor DualEncoderImpl::match_logits(const torch::Tensor& video_sequence,
                                            const torch::Tensor& video_mask,
                                            const torch::Tensor& text_sequence,
                                            const torch::Tensor& text_mask) {
  TORCH_CHECK(has_fusion(), "match_logits needs a fusion encoder (model.fusion.layers > 0)");
  return fusion_->forward(video_sequence, video_mask, text_sequence, text_mask);
}

namespace {

torch::Tensor project_local(torch::nn::Linear& head, const torch::Tensor& sequence) {
  TORCH_CHECK(head, "local features need DualEncoderOptions::local_heads");
  return torch::nn::functional::normalize(
      head->forward(sequence), torch::nn::functional::NormalizeFuncOptions().dim(-1));
}

}  // namespace

torch::Tensor DualEncoderImpl::local_video(const torch::Tensor& sequence) {
  return project_local(local_video_, sequence);
}

torch::Tensor DualEncoderImpl::local_text(const torch::Tensor& sequence) {
  return project_local(local_text_, sequence);
}

void DualEncoderImpl::clamp_logit_scale() {
  torch::NoGradGuard no_grad;
  logit_scale_.clamp_(0.0, max_logit_scale());
}

}  // namespace lica::model
