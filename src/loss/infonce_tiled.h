// The contrastive loss streamed over tiles of candidates (docs/design.md §4, large batches):
// the same value and gradients as infonce.h's direct form, with memory linear in the number
// of candidates. Each tile of logits s·rows·candsᵀ is computed, folded into an online
// log-sum-exp per row and dropped; the backward pass recomputes the tiles. No [b, N] tensor is
// held, only [b, tile] ones (Inf-CL's idea, here for one process's rows).
#pragma once

#include <torch/torch.h>

#include <cstdint>

namespace lica::loss {

// -(1/global_batch) Σ_r log softmax_k(s · rows_r · cands_k)[offset + r], over tiles of `tile`
// candidates. rows [b, D], cands [N, D] with N ≥ offset + b; scale s a 0-dim tensor.
// Gradients reach rows, cands and scale.
torch::Tensor tiled_cross_entropy(const torch::Tensor& rows, const torch::Tensor& cands,
                                  const torch::Tensor& scale, int64_t offset,
                                  int64_t global_batch, int64_t tile);

// candidates_infonce() (infonce.h), tiled: ½ (videos against their candidates + texts
// against theirs).
torch::Tensor tiled_candidates_infonce(const torch::Tensor& video_rows,
                                       const torch::Tensor& video_cands,
                                       const torch::Tensor& text_rows,
                                       const torch::Tensor& text_cands, const torch::Tensor& scale,
                                       int64_t offset, int64_t global_batch, int64_t tile);

// infonce_loss() (infonce.h), tiled: this rank's rows [offset, offset + b) of the symmetric
// InfoNCE over the global batch all_video / all_text [B, D].
torch::Tensor tiled_infonce_loss(const torch::Tensor& local_video, const torch::Tensor& local_text,
                                 const torch::Tensor& all_video, const torch::Tensor& all_text,
                                 const torch::Tensor& scale, int64_t offset, int64_t tile);

}  // namespace lica::loss
