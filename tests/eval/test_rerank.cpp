#include "eval/rerank.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <numeric>
#include <vector>

namespace lica::eval {
namespace {

TEST(TopCandidates, AreByScoreDescendingWithTiesToTheSmallerIndex) {
  const auto queries = torch::tensor({{1.0, 0.0}, {0.0, 1.0}});
  const auto candidates = torch::tensor({{0.5, 0.5}, {1.0, 0.0}, {0.5, 0.9}, {0.5, 0.1}});
  // Query 0 scores 0.5, 1, 0.5, 0.5: 1 first, then the tied 0, 2, 3 in index order.
  const auto top = top_candidates(queries, candidates, 3, /*chunk=*/1);
  EXPECT_TRUE(torch::equal(top, torch::tensor({{1, 0, 2}, {2, 0, 3}}, torch::kLong)));
  EXPECT_EQ(top_candidates(queries, candidates, 10, 2).size(1), 4);  // k capped at N
}

// Brute force of the header's rules on random scores, both directions.
TEST(Rerank, MatchesBruteForceOnRandomScores) {
  torch::manual_seed(9);
  const int64_t q = 40, k = 5, videos = 12;
  // t2v: fusion scores in a coarse grid, so ties happen.
  const auto top = torch::stack({torch::randperm(videos, torch::kLong).slice(0, 0, k),
                                 torch::randperm(videos, torch::kLong).slice(0, 0, k)})
                       .repeat({q / 2, 1});  // [q, k]
  const auto fusion = torch::randint(0, 4, {q, k}).to(torch::kDouble);
  const auto gt = torch::randint(0, videos, {q}, torch::kLong);
  const auto ranks = torch::randint(1, 20, {q}, torch::kLong);
  const auto got = t2v_reranked(ranks, top, fusion, gt);
  for (int64_t i = 0; i < q; ++i) {
    int64_t at = -1;
    for (int64_t j = 0; j < k; ++j) if (top[i][j].item<int64_t>() == gt[i].item<int64_t>()) at = j;
    int64_t expect = ranks[i].item<int64_t>();
    if (at >= 0) {
      expect = 1;
      for (int64_t j = 0; j < k; ++j) {
        if (j != at && fusion[i][j].item<double>() >= fusion[i][at].item<double>()) ++expect;
      }
    }
    EXPECT_EQ(got[i].item<int64_t>(), expect) << "query " << i;
  }
  // v2t: 30 captions of 12 videos; a video's best own caption in its top k decides.
  const auto owner = torch::randint(0, videos, {30}, torch::kLong);
  const auto caption_top = torch::randint(0, 30, {q, k}, torch::kLong);
  const auto query_id = torch::randint(0, videos, {q}, torch::kLong);
  const auto v2t = v2t_reranked(ranks, caption_top, fusion, owner, query_id);
  int64_t changed = 0;
  for (int64_t i = 0; i < q; ++i) {
    double best = -1e300;
    bool any = false;
    for (int64_t j = 0; j < k; ++j) {
      if (owner[caption_top[i][j].item<int64_t>()].item<int64_t>() == query_id[i].item<int64_t>()) {
        any = true, best = std::max(best, fusion[i][j].item<double>());
      }
    }
    int64_t expect = ranks[i].item<int64_t>();
    if (any) {
      expect = 1;
      for (int64_t j = 0; j < k; ++j) {
        const bool own = owner[caption_top[i][j].item<int64_t>()].item<int64_t>() == query_id[i].item<int64_t>();
        if (!own && fusion[i][j].item<double>() >= best) ++expect;
      }
      ++changed;
    }
    EXPECT_EQ(v2t[i].item<int64_t>(), expect) << "query " << i;
  }
  EXPECT_GT(changed, 0);  // the random case exercises both branches
  EXPECT_LT(changed, q);
}

TEST(Rerank, AnOracleFusionPutsTheGroundTruthFirstIffItIsInTheTopK) {
  // Dual-encoder scores put the ground truth at rank 3; an oracle fusion (1 for the gt, 0
  // otherwise) lifts it to 1 with k >= 3 and leaves rank 3 with k = 2.
  const auto queries = torch::tensor({{1.0, 0.0}});
  const auto videos = torch::tensor({{0.9, 0.1}, {0.8, 0.2}, {0.7, 0.3}, {0.1, 0.9}});
  const auto gt = torch::tensor({2}, torch::kLong);
  const auto ranks = torch::tensor({3}, torch::kLong);
  for (int64_t k : {2, 3, 4}) {
    const auto top = top_candidates(queries, videos, k, 8);
    const auto oracle = (top == gt.unsqueeze(1)).to(torch::kDouble);
    EXPECT_EQ(t2v_reranked(ranks, top, oracle, gt).item<int64_t>(), k >= 3 ? 1 : 3) << "k " << k;
  }
}

}  // namespace
}  // namespace lica::eval
