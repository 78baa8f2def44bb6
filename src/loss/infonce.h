// Training losses as plain functions (docs/design.md §4). Every loss is written for one rank's rows
// of the global batch: it returns that rank's share, the sum of its rows' terms divided by
// the global batch size B, so the shares summed over ranks are the loss of one process on
// the whole global batch (and so are the gradients, summed). At W = 1 the rank's rows are
// the whole batch.
#pragma once

#include <torch/torch.h>

namespace lica::loss {

// s · rows · colsᵀ: [b, B] logits of this rank's rows against every column of the global
// batch. rows: [b, D]; cols: [B, D]; scale: 0-d.
torch::Tensor scaled_logits(const torch::Tensor& rows, const torch::Tensor& cols,
                            const torch::Tensor& scale);

// Symmetric InfoNCE (CLIP4Clip's CrossEn both ways) from this rank's logits:
// video_logits [b, B] = s · v_local · Tᵀ (rows of S), text_logits [b, B] = s · t_local · Vᵀ
// (columns of S); the positive of local row r is global column offset + r.
// Returns ½ (Σ_r -log P^v_r(r) + Σ_r -log P^t_r(r)) / global_batch.
torch::Tensor infonce_from_logits(const torch::Tensor& video_logits,
                                  const torch::Tensor& text_logits, int64_t offset,
                                  int64_t global_batch);

// InfoNCE of this rank's rows against candidate sets, one per modality, the positive of
// local row r being candidate offset + r:
//   ½ (Σ_r -log softmax_c(s · video_rows[r] · video_cands[c])[offset + r]
//      + Σ_r -log softmax_c(s · text_rows[r] · text_cands[c])[offset + r]) / global_batch.
// The contrastive loss, ITC against queues, IMS and LMIM are all this with different
// candidates. *_rows: [b, D]; *_cands: [C, D] with C >= offset + b; scale: 0-d.
torch::Tensor candidates_infonce(const torch::Tensor& video_rows, const torch::Tensor& video_cands,
                                 const torch::Tensor& text_rows, const torch::Tensor& text_cands,
                                 const torch::Tensor& scale, int64_t offset, int64_t global_batch);

// The same from embeddings. local_*: [b, D] this rank's embeddings; all_*: [B, D] the
// gathered global batch; offset: global index of this rank's first sample.
torch::Tensor infonce_loss(const torch::Tensor& local_video, const torch::Tensor& local_text,
                           const torch::Tensor& all_video, const torch::Tensor& all_text,
                           const torch::Tensor& scale, int64_t offset);

// Single-process convenience: the whole batch is this rank's.
inline torch::Tensor infonce_loss(const torch::Tensor& video, const torch::Tensor& text,
                                  const torch::Tensor& scale) {
  return infonce_loss(video, text, video, text, scale, 0);
}

}  // namespace lica::loss
