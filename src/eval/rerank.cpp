#include "eval/rerank.h"

#include "loss/top_k.h"

#include <algorithm>
#include <limits>

namespace lica::eval {
namespace {

// Re-ranks with `relevant` [Q, k] bool marking the query's own candidates among its top k:
// queries with one get 1 + #{other top-k candidates with fusion >= the best own fusion}.
torch::Tensor reranked(const torch::Tensor& ranks, const torch::Tensor& fusion,
                       const torch::Tensor& relevant) {
  TORCH_CHECK(fusion.sizes() == relevant.sizes() && ranks.size(0) == fusion.size(0),
              "rerank: ranks [Q], top and fusion [Q, k] must agree, got ", ranks.sizes(), " and ",
              fusion.sizes());
  const double lowest = -std::numeric_limits<double>::infinity();
  const auto best = fusion.masked_fill(relevant.logical_not(), lowest).amax(1, true);  // [Q, 1]
  const auto beaten = ((fusion >= best) & relevant.logical_not()).sum(1);              // [Q]
  return torch::where(relevant.any(1), beaten + 1, ranks);
}

}  // namespace

torch::Tensor top_candidates(const torch::Tensor& queries, const torch::Tensor& candidates,
                             int64_t k, int64_t chunk, const DualSoftmax& dsl) {
  TORCH_CHECK(k >= 1 && chunk >= 1, "top_candidates: k and chunk must be >= 1");
  torch::NoGradGuard no_grad;
  const int64_t keep = std::min(k, candidates.size(0));
  std::vector<torch::Tensor> blocks;
  for (int64_t begin = 0; begin < queries.size(0); begin += chunk) {
    const int64_t end = std::min(begin + chunk, queries.size(0));
    const auto scores = apply_dual_softmax(queries.slice(0, begin, end).matmul(candidates.t()), dsl);
    blocks.push_back(loss::top_k_stable(scores, keep).second);  // equal scores in index order
  }
  if (blocks.empty()) {
    return torch::empty({0, keep}, torch::dtype(torch::kLong).device(queries.device()));
  }
  return torch::cat(blocks);
}

torch::Tensor t2v_reranked(const torch::Tensor& ranks, const torch::Tensor& top,
                           const torch::Tensor& fusion, const torch::Tensor& gt_video) {
  return reranked(ranks, fusion, top == gt_video.unsqueeze(1));
}

torch::Tensor v2t_reranked(const torch::Tensor& ranks, const torch::Tensor& top,
                           const torch::Tensor& fusion, const torch::Tensor& text_owner,
                           const torch::Tensor& query_id) {
  const auto owner = text_owner.index_select(0, top.reshape(-1)).view(top.sizes());  // [Q, k]
  return reranked(ranks, fusion, owner == query_id.unsqueeze(1));
}

}  // namespace lica::eval
