// The fused form of the LICA term (docs/design.md §4, §5): the same value and gradients as
// intra_consistency_loss on log_softmax(s · rows · colsᵀ), without ever holding the [B, B]
// similarity or probability matrices or a per-pair distribution. It streams over column
// tiles of the similarity matrix twice in forward (row log-sum-exp, then each pair's
// divergence) and once in backward (recomputing each tile), so its memory is
// O(B · (D + tile_cols) + P) for P neighbour pairs.
//
// On CUDA tensors the per-tile work runs in the kernels of kernels/lica_fused_cuda.cu (builds
// with LICA_WITH_CUDA); on CPU tensors in their reference loops here, which share the
// column arithmetic (kernels/lica_pair_math.h).
#pragma once

#include <torch/torch.h>

#include "loss/lica.h"

namespace lica::loss {

// rows: [B, D], the embeddings whose distributions are compared (videos for P^v, texts for
// P^t), with gradient; cols: [B, D], the other modality, with gradient; scale: 0-d s, with
// gradient. P_i = softmax_j(s · rows_i · cols_j). pairs: from lica_pairs(). Returns
// (1/B) Σ_pairs W_ij · D(P_i, P_j), 0-d, the rank's share as intra_consistency_loss.
torch::Tensor fused_intra_consistency_loss(const torch::Tensor& rows, const torch::Tensor& cols,
                                           const torch::Tensor& scale, const LicaPairs& pairs,
                                           Divergence divergence, int64_t tile_cols);

// Whether this build runs the fused form on CUDA tensors (kernels/ compiled in).
bool fused_lica_has_cuda();

}  // namespace lica::loss
