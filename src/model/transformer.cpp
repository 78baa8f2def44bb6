#include "model/transformer.h"

#include "model/quick_gelu.h"
#include "model/self_attention.h"

namespace lica::model {

ResidualAttentionBlockImpl::ResidualAttentionBlockImpl(int64_t width, int64_t heads,
                                                       double dropout) {
  ln_attn_ = register_module("ln_attn", torch::nn::LayerNorm(torch::nn::LayerNormOptions({width})));
  attn_ = register_module("attn", torch::nn::MultiheadAttention(
                                      torch::nn::MultiheadAttentionOptions(width, heads)
                                          .dropout(dropout)));
  ln_mlp_ = register_module("ln_mlp", torch::nn::LayerNorm(torch::nn::LayerNormOptions({width})));
  fc_ = register_module("fc", torch::nn::Linear(width, 4 * width));
  proj_ = register_module("proj", torch::nn::Linear(4 * width, width));
  drop_ = register_module("drop", torch::nn::Dropout(dropout));
}

torch::Tensor ResidualAttentionBlockImpl::forward(const torch::Tensor& x, const torch::Tensor& pad) {
  auto h = ln_attn_->forward(x);
  auto attended = self_attend(*attn_, h, /*key_padding=*/pad);
  auto y = x + drop_->forward(attended);
  auto m = fc_->forward(ln_mlp_->forward(y));
  m = quick_gelu(m);  // as CLIP
  return y + drop_->forward(proj_->forward(m));
}

TransformerImpl::TransformerImpl(const TransformerOptions& opt) {
  for (int64_t i = 0; i < opt.layers; ++i) {
    blocks_.push_back(register_module("block" + std::to_string(i),
                                      ResidualAttentionBlock(opt.width, opt.heads, opt.dropout)));
  }
}

torch::Tensor TransformerImpl::forward(const torch::Tensor& x, const torch::Tensor& mask) {
  auto pad = mask.logical_not();
  auto h = x;  // batch-first throughout (self_attention.h)
  for (auto& block : blocks_) h = block->forward(h, pad);
  return h;
}

PositionalTransformerImpl::PositionalTransformerImpl(int64_t max_len,
                                                     const TransformerOptions& opt) {
  position_ = register_parameter("position", torch::randn({max_len, opt.width}) * 0.01);
  transformer_ = register_module("transformer", Transformer(opt));
}

torch::Tensor PositionalTransformerImpl::forward(const torch::Tensor& x,
                                                 const torch::Tensor& mask) {
  return transformer_->forward(x + position_.slice(0, 0, x.size(1)).unsqueeze(0), mask);
}

}  // namespace lica::model
