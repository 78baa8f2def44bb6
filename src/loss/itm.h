// ITM, the fusion encoder's matching loss (AAI; docs/design.md §4), written for one rank's rows like
// losses.h: binary cross-entropy on each of the rank's positive pairs (v_i, t_i) and on two
// hard negatives per sample drawn from the global similarity matrix S (videos as rows), as
// ALBEF: a negative is sampled in proportion to softmax(S) over the other samples, so the
// most confusable ones are the most likely but not the only ones (with false negatives in the
// data, always taking the hardest teaches the matching head nothing).
#pragma once

#include <torch/torch.h>

namespace lica::loss {

// Global indices of the hard negatives of this rank's rows [offset, offset + rows), with
// i = offset + r:
//   text_for_video[r] = j with probability softmax_{j != i}(S[i, j])  (a caption video i is
//                       confused with)
//   video_for_text[r] = j with probability softmax_{j != i}(S[j, i])  (a video caption i is
//                       confused with)
// similarity: [B, B] logits (s · V Tᵀ), B >= 2, no gradient. The draws come from a generator
// seeded with `seed` for the whole global batch (all rows, then all columns), and a rank
// keeps its own: every rank and every W draw the same negatives for a sample.
struct HardNegatives {
  torch::Tensor text_for_video;  // [rows] int64
  torch::Tensor video_for_text;  // [rows] int64
};
HardNegatives hard_negatives(const torch::Tensor& similarity, int64_t offset, int64_t rows,
                             uint64_t seed);

// Σ over the rank's 3·b pairs of BCE-with-logits (positives labelled 1, negatives 0),
// divided by 3·global_batch, so the ranks' shares sum to the mean over the global batch's
// 3·B pairs. positive, video_negative (v_i with its hard text), text_negative (hard video
// with t_i): [b] logits.
torch::Tensor itm_loss(const torch::Tensor& positive, const torch::Tensor& video_negative,
                       const torch::Tensor& text_negative, int64_t global_batch);

}  // namespace lica::loss
