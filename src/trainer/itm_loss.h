// ITM, the fusion encoder's matching loss (AAI; DESIGN §4), written for one rank's rows like
// losses.h: binary cross-entropy on each of the rank's positive pairs (v_i, t_i) and on two
// hard negatives per sample drawn from the global similarity matrix S (videos as rows).
#pragma once

#include <torch/torch.h>

namespace lica::trainer {

// Global indices of the hardest negatives of this rank's rows [offset, offset + rows):
//   text_for_video[r] = argmax_{j != i} S[i, j]  (the caption video i is most confused with)
//   video_for_text[r] = argmax_{j != i} S[j, i]  (the video caption i is most confused with)
// with i = offset + r; ties go to the smaller j. similarity: [B, B], B >= 2, no gradient.
struct HardNegatives {
  torch::Tensor text_for_video;  // [rows] int64
  torch::Tensor video_for_text;  // [rows] int64
};
HardNegatives hard_negatives(const torch::Tensor& similarity, int64_t offset, int64_t rows);

// Σ over the rank's 3·b pairs of BCE-with-logits (positives labelled 1, negatives 0),
// divided by 3·global_batch, so the ranks' shares sum to the mean over the global batch's
// 3·B pairs. positive, video_negative (v_i with its hard text), text_negative (hard video
// with t_i): [b] logits.
torch::Tensor itm_loss(const torch::Tensor& positive, const torch::Tensor& video_negative,
                       const torch::Tensor& text_negative, int64_t global_batch);

}  // namespace lica::trainer
