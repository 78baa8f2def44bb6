#include "model/encoders.h"

#include "common/error.h"
#include "model/pooling.h"

namespace lica::model {
namespace {

// Linear map to D, or nothing when the input already has width D (CLIP4Clip feeds CLIP's
// 512-d features straight in).
torch::nn::Linear make_projection(torch::nn::Module& owner, int64_t in, int64_t out) {
  if (in == out) return torch::nn::Linear(nullptr);
  return owner.register_module("proj", torch::nn::Linear(in, out));
}

torch::Tensor project(torch::nn::Linear& proj, const torch::Tensor& x) {
  return proj ? proj->forward(x) : x;
}

// Zeroes padded positions so that whatever the file holds there cannot reach an output.
torch::Tensor zero_padding(const torch::Tensor& x, const torch::Tensor& mask) {
  return x * mask.to(x.scalar_type()).unsqueeze(-1);
}

// masked_mean() of a sequence already zero at its padded positions: the same bits (x · 1 = x,
// 0 · 0 = 0), one multiplication pass less forward and backward.
torch::Tensor mean_of_zero_padded(const torch::Tensor& x, const torch::Tensor& mask) {
  return x.sum(1) / mask.to(x.scalar_type()).sum(1, /*keepdim=*/true).clamp_min(1.0);
}

void check_inputs(const char* what, const torch::Tensor& x, const torch::Tensor& mask,
                  int64_t input_dim, int64_t max_len) {
  TORCH_CHECK(x.dim() == 3 && mask.dim() == 2 && mask.size(0) == x.size(0) &&
                  mask.size(1) == x.size(1),
              what, ": expected features [B, L, D] and mask [B, L], got ", x.sizes(), " and ",
              mask.sizes());
  if (x.size(2) != input_dim) {
    throw InputError(std::string(what) + ": feature width " + std::to_string(x.size(2)) +
                     " differs from the configured " + std::to_string(input_dim));
  }
  if (x.size(1) > max_len) {
    throw InputError(std::string(what) + ": sequences of length " + std::to_string(x.size(1)) +
                     " exceed the position table of " + std::to_string(max_len) +
                     " (raise model.max_frames / model.max_tokens)");
  }
}

}  // namespace

VideoEncoderKind parse_video_encoder(const std::string& name) {
  if (name == "seqTransf") return VideoEncoderKind::kSeqTransf;
  if (name == "meanP") return VideoEncoderKind::kMeanP;
  throw InputError("model.video.encoder: unknown encoder '" + name + "', expected seqTransf or meanP");
}

VideoPooling parse_video_pooling(const std::string& name) {
  if (name == "mean") return VideoPooling::kMean;
  if (name == "gpo") return VideoPooling::kGpo;
  throw InputError("model.video.pooling: unknown pooling '" + name + "', expected mean or gpo");
}

TextPooling parse_text_pooling(const std::string& name) {
  if (name == "eot") return TextPooling::kEot;
  if (name == "mean") return TextPooling::kMean;
  if (name == "gpo") return TextPooling::kGpo;
  throw InputError("model.text.pooling: unknown pooling '" + name + "', expected eot, mean or gpo");
}

VideoEncoderImpl::VideoEncoderImpl(const VideoEncoderOptions& opt) : opt_(opt) {
  proj_ = make_projection(*this, opt.input_dim, opt.embed_dim);
  if (opt.kind == VideoEncoderKind::kSeqTransf) {
    temporal_ = register_module(
        "temporal", PositionalTransformer(opt.max_frames, TransformerOptions{opt.embed_dim, opt.layers,
                                                                             opt.heads, opt.dropout}));
  }
  if (opt.pooling == VideoPooling::kGpo) gpo_ = register_module("gpo", Gpo());
}

Encoded VideoEncoderImpl::encode(const torch::Tensor& frames, const torch::Tensor& mask) {
  check_inputs("video encoder", frames, mask, opt_.input_dim, opt_.max_frames);
  auto x = zero_padding(project(proj_, frames), mask);  // [B, F, D]
  if (opt_.kind == VideoEncoderKind::kSeqTransf) {
    // Residual to the frame features, as CLIP4Clip; padded positions stay zero.
    x = zero_padding(temporal_->forward(x, mask) + x, mask);
  }
  auto pooled =
      opt_.pooling == VideoPooling::kGpo ? gpo_->forward(x, mask) : mean_of_zero_padded(x, mask);
  return {torch::nn::functional::normalize(pooled,
                                           torch::nn::functional::NormalizeFuncOptions().dim(-1)),
          x};
}

TextEncoderImpl::TextEncoderImpl(const TextEncoderOptions& opt) : opt_(opt) {
  proj_ = make_projection(*this, opt.input_dim, opt.embed_dim);
  if (opt.layers > 0) {
    tokens_ = register_module(
        "tokens", PositionalTransformer(opt.max_tokens, TransformerOptions{opt.embed_dim, opt.layers,
                                                                           opt.heads, opt.dropout}));
  }
  if (opt.pooling == TextPooling::kGpo) gpo_ = register_module("gpo", Gpo());
}

Encoded TextEncoderImpl::encode(const torch::Tensor& tokens, const torch::Tensor& mask) {
  check_inputs("text encoder", tokens, mask, opt_.input_dim, opt_.max_tokens);
  auto x = zero_padding(project(proj_, tokens), mask);  // [B, L, D]
  if (opt_.layers > 0) x = zero_padding(tokens_->forward(x, mask), mask);
  auto pooled = opt_.pooling == TextPooling::kEot    ? last_valid(x, mask)
                : opt_.pooling == TextPooling::kGpo ? gpo_->forward(x, mask)
                                                    : mean_of_zero_padded(x, mask);
  return {torch::nn::functional::normalize(pooled,
                                           torch::nn::functional::NormalizeFuncOptions().dim(-1)),
          x};
}

}  // namespace lica::model
