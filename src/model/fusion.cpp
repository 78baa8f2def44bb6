#include "model/fusion.h"

#include "model/attention.h"
#include "model/pooling.h"

namespace lica::model {

FusionEncoderImpl::FusionEncoderImpl(const FusionOptions& opt) {
  const auto norm = [&] { return torch::nn::LayerNorm(torch::nn::LayerNormOptions({opt.width})); };
  for (int64_t i = 0; i < opt.layers; ++i) {
    const std::string name = "layer" + std::to_string(i);
    Layer layer;
    layer.ln = register_module(name + "_ln_cross", norm());
    layer.cross = register_module(
        name + "_cross", torch::nn::MultiheadAttention(
                             torch::nn::MultiheadAttentionOptions(opt.width, opt.heads).dropout(opt.dropout)));
    layer.block = register_module(name + "_block", ResidualAttentionBlock(opt.width, opt.heads, opt.dropout));
    layers_.push_back(layer);
  }
  drop_ = register_module("drop", torch::nn::Dropout(opt.dropout));
  ln_out_ = register_module("ln_out", norm());
  head_ = register_module("head", torch::nn::Linear(opt.width, 1));
}

torch::Tensor FusionEncoderImpl::forward(const torch::Tensor& video, const torch::Tensor& video_mask,
                                         const torch::Tensor& text, const torch::Tensor& text_mask) {
  TORCH_CHECK(video.dim() == 3 && text.dim() == 3 && video.size(0) == text.size(0),
              "fusion encoder: expected video [B, F, D] and text [B, L, D], got ", video.sizes(),
              " and ", text.sizes());
  // MultiheadAttention is sequence-first: [L, B, D].
  const auto frames = video.transpose(0, 1);
  const auto video_pad = video_mask.logical_not();
  const auto text_pad = text_mask.logical_not();
  auto h = text.transpose(0, 1);
  for (auto& layer : layers_) {
    const auto q = layer.ln->forward(h);
    h = h + drop_->forward(attend(*layer.cross, q, frames, video_pad));
    h = layer.block->forward(h.transpose(0, 1), text_pad).transpose(0, 1);  // batch-first
  }
  const auto pooled = masked_mean(h.transpose(0, 1), text_mask);  // [B, D]
  return head_->forward(ln_out_->forward(pooled)).squeeze(1);
}

}  // namespace lica::model
