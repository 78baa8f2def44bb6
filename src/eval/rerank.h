// Fusion-encoder re-ranking of the dual encoder's top k (docs/design.md §7, AAI). Plain functions on
// one rank's queries, so sharded evaluation re-ranks each rank's queries alone.
//
// Conventions:
//   - A query's top k are its candidates by the ranking score (dot product, with DSL when on)
//     descending, ties broken by the smaller candidate index; k is capped at the candidates.
//   - text->video: if the ground-truth video is among the top k, its new rank is
//     1 + #{c in top k, c != gt : fusion(c) >= fusion(gt)} (ties count against the query);
//     otherwise the rank is unchanged (it is > k then).
//   - video->text: if any of the query video's own captions is among the top k, with b the
//     largest fusion score among them, the new rank is 1 + #{captions of other videos in the
//     top k : fusion >= b}; otherwise the rank is unchanged (> k).
#pragma once

#include <torch/torch.h>

#include "eval/retrieval_metrics.h"

namespace lica::eval {

// [Q, min(k, N)] int64: each query's top candidates, best first. queries: [Q, D];
// candidates: [N, D]; computed `chunk` queries at a time.
torch::Tensor top_candidates(const torch::Tensor& queries, const torch::Tensor& candidates,
                             int64_t k, int64_t chunk, const DualSoftmax& dsl = {});

// ranks: [Q] the dual encoder's ranks (t2v_ranks); top: [Q, k]; fusion: [Q, k] the fusion
// scores of those pairs; gt_video: [Q]. Returns the re-ranked [Q] int64.
torch::Tensor t2v_reranked(const torch::Tensor& ranks, const torch::Tensor& top,
                           const torch::Tensor& fusion, const torch::Tensor& gt_video);

// ranks: [Q] (v2t_ranks); top: [Q, k] caption indices; fusion: [Q, k]; text_owner: [T] the
// video of each caption; query_id: [Q] each query's video. Returns the re-ranked [Q] int64.
torch::Tensor v2t_reranked(const torch::Tensor& ranks, const torch::Tensor& top,
                           const torch::Tensor& fusion, const torch::Tensor& text_owner,
                           const torch::Tensor& query_id);

}  // namespace lica::eval
