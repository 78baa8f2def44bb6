// The dual encoder's two towers (docs/design.md §3). Both map padded features and validity masks to
// L2-normalised embeddings [B, D]; padded positions never change an output.
#pragma once

#include <torch/torch.h>

#include <string>

#include "model/gpo.h"
#include "model/transformer.h"

namespace lica::model {

enum class VideoEncoderKind { kSeqTransf, kMeanP };

// A tower's output with the per-position features it pooled: LMIM and the fusion encoder
// (docs/design.md §3-4) work on the frames and tokens, the contrastive losses on the embedding.
struct Encoded {
  torch::Tensor embedding;  // [B, D], L2-normalised
  torch::Tensor sequence;   // [B, L, D], the features before pooling; zero at padded positions
};
enum class VideoPooling { kMean, kGpo };
enum class TextPooling { kEot, kMean, kGpo };

// "seqTransf" | "meanP"; "mean" | "gpo"; "eot" | "mean" | "gpo". Throw lica::InputError on
// anything else.
VideoEncoderKind parse_video_encoder(const std::string& name);
VideoPooling parse_video_pooling(const std::string& name);
TextPooling parse_text_pooling(const std::string& name);

struct VideoEncoderOptions {
  int64_t input_dim = 512;   // Dv
  int64_t embed_dim = 512;   // D
  int64_t max_frames = 32;   // rows of the frame-position table
  VideoEncoderKind kind = VideoEncoderKind::kSeqTransf;
  VideoPooling pooling = VideoPooling::kMean;
  int64_t layers = 1;
  int64_t heads = 4;
  double dropout = 0.0;
};

// CLIP4Clip's video side: linear to D (identity when Dv == D), then for seqTransf a learned
// frame-position embedding and a masked transformer with a residual to its input; mean over
// valid frames (or GPO); L2 normalisation.
class VideoEncoderImpl : public torch::nn::Module {
 public:
  explicit VideoEncoderImpl(const VideoEncoderOptions& opt);
  // frames: [B, F, Dv]; mask: [B, F] bool, true = valid. Returns [B, D].
  torch::Tensor forward(const torch::Tensor& frames, const torch::Tensor& mask) {
    return encode(frames, mask).embedding;
  }
  Encoded encode(const torch::Tensor& frames, const torch::Tensor& mask);

 private:
  VideoEncoderOptions opt_;
  torch::nn::Linear proj_{nullptr};
  PositionalTransformer temporal_{nullptr};  // seqTransf only
  Gpo gpo_{nullptr};                          // gpo pooling only
};
TORCH_MODULE(VideoEncoder);

struct TextEncoderOptions {
  int64_t input_dim = 512;   // Dt
  int64_t embed_dim = 512;   // D
  int64_t max_tokens = 77;   // rows of the token-position table (used with layers > 0)
  TextPooling pooling = TextPooling::kEot;
  int64_t layers = 0;
  int64_t heads = 4;
  double dropout = 0.0;
};

// Text side: linear to D (identity when Dt == D), optional masked transformer layers with a
// learned position embedding, pooling (EOT = last valid token, mean, or GPO), L2 normalisation.
class TextEncoderImpl : public torch::nn::Module {
 public:
  explicit TextEncoderImpl(const TextEncoderOptions& opt);
  // tokens: [B, L, Dt]; mask: [B, L] bool, true = valid. Returns [B, D].
  torch::Tensor forward(const torch::Tensor& tokens, const torch::Tensor& mask) {
    return encode(tokens, mask).embedding;
  }
  Encoded encode(const torch::Tensor& tokens, const torch::Tensor& mask);

 private:
  TextEncoderOptions opt_;
  torch::nn::Linear proj_{nullptr};
  PositionalTransformer tokens_{nullptr};  // only with layers > 0
  Gpo gpo_{nullptr};                        // gpo pooling only
};
TORCH_MODULE(TextEncoder);

}  // namespace lica::model
