// The tiled InfoNCE and both fused LICA terms in one streamed pass over the similarity
// matrix S = s · V · Tᵀ (docs/large-batch.md): the same values and gradients as
// tiled_infonce_loss() and two fused_intra_consistency_loss() calls, with about half their
// matrix products. Each tile of S yields the row log-sum-exps (videos' distributions), the
// column log-sum-exps (texts') and with them both directions of the InfoNCE, so the terms
// share one forward sweep instead of four; backward makes one sweep over column tiles for the
// InfoNCE, the videos' term and the texts' softmax part, and one over row tiles for the
// texts' pair part (a text pair needs two columns of S whole).
#pragma once

#include <torch/torch.h>

#include <cstdint>

#include "loss/lica.h"

namespace lica::loss {

struct ContrastiveLica {
  torch::Tensor nce;          // 0-d, as tiled_infonce_loss()
  torch::Tensor intra_video;  // 0-d, as fused_intra_consistency_loss(V, T, ...)
  torch::Tensor intra_text;   // 0-d, as fused_intra_consistency_loss(T, V, ...)
};

// all_video, all_text: [B, D] the global batch, with gradient; scale: 0-d s, with gradient.
// This rank's rows are [offset, offset + count) (the InfoNCE's anchors); video_pairs and
// text_pairs: lica_pairs() of this rank's anchors in each modality. Column and row tiles of
// `tile_cols`. Gradients reach all_video, all_text and scale (this rank's rows through
// all_video and all_text: the all-gather's backward hands them back).
ContrastiveLica fused_contrastive_lica(const torch::Tensor& all_video, const torch::Tensor& all_text,
                                       const torch::Tensor& scale, int64_t offset, int64_t count,
                                       const LicaPairs& video_pairs, const LicaPairs& text_pairs,
                                       Divergence divergence, int64_t tile_cols);

}  // namespace lica::loss
