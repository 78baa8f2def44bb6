// Retrieval ranks and metrics (docs/design.md §7), both directions. Scores are dot products computed in
// blocks of `chunk` queries, so memory is O(chunk * candidates) for any test size. No global
// state: sharded evaluation calls these on each rank's queries and gathers the integer ranks.
//
// Ranks, exactly:
//   text->video: rank = 1 + #{videos v != gt : score(v) >= score(gt)}   (ties count against
//                the query)
//   video->text: with b the best score among the query video's own captions,
//                rank = 1 + #{captions of other videos : score >= b}    (its own other
//                captions never count against it)
// A non-finite score throws lica::Error naming the query.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <string>

#include "common/json_line.h"

namespace lica::eval {

// Dual-softmax re-normalisation (DSL): each score s(q, c) is multiplied by the softmax over
// all queries of the candidate's column, exp(s(q, c) / T - column_log_norm[c]), so a
// candidate that another query matches better counts less. Undefined = plain scores.
struct DualSoftmax {
  torch::Tensor column_log_norm;  // [N]: log sum over every query q of exp(s(q, c) / T)
  double temperature = 0.01;
};

// The scores ranking uses: `scores` [c, N] (a block of queries against every candidate) times
// the DSL prior when dsl is defined, else `scores` itself.
torch::Tensor apply_dual_softmax(const torch::Tensor& scores, const DualSoftmax& dsl);

// column_log_norm for DSL: all_queries [Q, D] (every query of the split, not one rank's)
// against candidates [N, D], in blocks of `chunk` queries. The same on every rank.
torch::Tensor dual_softmax_log_norm(const torch::Tensor& all_queries, const torch::Tensor& candidates,
                                    double temperature, int64_t chunk);

// Text->video ranks for caption queries against all candidate videos.
// query_text: [Q, D]; videos: [V, D] (same dtype and device); gt_video: [Q] int64, the row in
// `videos` of each query's video. Returns [Q] int64 ranks (1 = best) on the inputs' device.
torch::Tensor t2v_ranks(const torch::Tensor& query_text, const torch::Tensor& videos,
                        const torch::Tensor& gt_video, int64_t chunk,
                        const DualSoftmax& dsl = {});

// Video->text ranks for video queries against all candidate captions.
// query_video: [Q, D]; texts: [T, D]; text_owner: [T] int64, the video each caption describes
// (same id space as query_id); query_id: [Q] int64, each query's video id. Every query must own
// at least one caption (else lica::Error). Returns [Q] int64 ranks on the inputs' device.
torch::Tensor v2t_ranks(const torch::Tensor& query_video, const torch::Tensor& texts,
                        const torch::Tensor& text_owner, const torch::Tensor& query_id,
                        int64_t chunk, const DualSoftmax& dsl = {});

struct RankSummary {
  double r1 = 0, r5 = 0, r10 = 0;  // percent of queries with rank <= K, 0..100
  double mdr = 0;                  // median rank (mean of the two middle ones for even count)
  double mnr = 0;                  // mean rank
  int64_t count = 0;               // number of queries
};

// Summary of [N] int64 ranks, N >= 1, every rank >= 1 (else lica::Error).
RankSummary summarize_ranks(const torch::Tensor& ranks);

struct RetrievalMetrics {
  RankSummary t2v, v2t;
};

// Adds t2v_r1, t2v_r5, t2v_r10, t2v_mdr, t2v_mnr, v2t_r1, ..., v2t_mnr.
void add_metrics(JsonLine& line, const RetrievalMetrics& m);

// One metric by its key name ("t2v_r1", ..., "v2t_mnr"); lica::Error for another name.
double metric_by_name(const RetrievalMetrics& m, const std::string& name);

// One human line: "t2v R@1 12.3 R@5 34.5 R@10 45.6 MdR 4 MnR 9.1 | v2t R@1 ...".
std::string format_metrics(const RetrievalMetrics& m);

}  // namespace lica::eval
