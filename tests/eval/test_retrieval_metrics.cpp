#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "common/error.h"
#include "eval/retrieval_metrics.h"

namespace lica::eval {
namespace {

// With candidates = identity [N, N], query row i *is* the score row of query i, exactly
// (x * 1 + y * 0 sums are exact), so the tests below write the scores by hand.
torch::Tensor rows(const std::vector<std::vector<float>>& r) {
  const int64_t n = static_cast<int64_t>(r.size());
  const int64_t m = static_cast<int64_t>(r[0].size());
  torch::Tensor t = torch::empty({n, m}, torch::kFloat);
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t j = 0; j < m; ++j) t[i][j] = r[i][j];
  }
  return t;
}

torch::Tensor longs(const std::vector<int64_t>& v) { return torch::tensor(v, torch::kLong); }

std::vector<int64_t> to_vector(const torch::Tensor& t) {
  const torch::Tensor c = t.contiguous();
  EXPECT_EQ(c.scalar_type(), torch::kLong);
  return std::vector<int64_t>(c.data_ptr<int64_t>(), c.data_ptr<int64_t>() + c.numel());
}

torch::Tensor eye(int64_t n) { return torch::eye(n, torch::kFloat); }

// t2v: 4 videos, 6 captions; captions 0,1 -> video 0; 2,3 -> video 1; 4 -> video 2; 5 -> video 3.
torch::Tensor t2v_scores() {
  return rows({
      {0.9f, 0.1f, 0.2f, 0.3f},   // q0, gt 0: nothing else >= 0.9                 -> rank 1
      {0.5f, 0.5f, 0.7f, 0.1f},   // q1, gt 0: v1 ties 0.5, v2 0.7 above           -> rank 3
      {0.2f, 0.2f, 0.2f, 0.2f},   // q2, gt 1: all three others tie                -> rank 4
      {0.1f, 0.8f, 0.3f, 0.8f},   // q3, gt 1: v3 ties                             -> rank 2
      {0.6f, 0.3f, 0.4f, 0.5f},   // q4, gt 2: v0, v3 above                        -> rank 3
      {0.0f, -1.0f, 0.0f, 0.0f},  // q5, gt 3: v0, v2 tie                          -> rank 3
  });
}
const std::vector<int64_t> kT2vGt = {0, 0, 1, 1, 2, 3};
const std::vector<int64_t> kT2vRanks = {1, 3, 4, 2, 3, 3};

// v2t: the same 4 videos as queries against the 6 captions (owners 0,0,1,1,2,3).
torch::Tensor v2t_scores() {
  return rows({
      // v0 owns c0 (0.3), c1 (0.7): b = 0.7; c2 ties, c4 above; own c0 never counts -> rank 3
      {0.3f, 0.7f, 0.7f, 0.2f, 0.9f, 0.1f},
      // v1 owns c2, c3 (both 0.4, own tie): b = 0.4; c0 0.9, c4 ties 0.4, c5 0.5  -> rank 4
      {0.9f, 0.1f, 0.4f, 0.4f, 0.4f, 0.5f},
      // v2 owns c4: b = 0.8, nothing else >= 0.8                                  -> rank 1
      {0.1f, 0.2f, 0.3f, 0.3f, 0.8f, 0.0f},
      // v3 owns c5: all six tie, the five other captions count                   -> rank 6
      {0.5f, 0.5f, 0.5f, 0.5f, 0.5f, 0.5f},
  });
}
const std::vector<int64_t> kOwner = {0, 0, 1, 1, 2, 3};
const std::vector<int64_t> kV2tRanks = {3, 4, 1, 6};

TEST(RetrievalRanks, TextToVideoByHandWithTies) {
  for (int64_t chunk : {1, 2, 4, 100}) {  // 1, 2, one that does not divide Q, > Q
    EXPECT_EQ(to_vector(t2v_ranks(t2v_scores(), eye(4), longs(kT2vGt), chunk)), kT2vRanks)
        << "chunk " << chunk;
  }
}

TEST(RetrievalRanks, VideoToTextByHandWithSeveralCaptionsPerVideo) {
  for (int64_t chunk : {1, 2, 3, 100}) {
    EXPECT_EQ(to_vector(v2t_ranks(v2t_scores(), eye(6), longs(kOwner), longs({0, 1, 2, 3}), chunk)),
              kV2tRanks)
        << "chunk " << chunk;
  }
}

TEST(RetrievalRanks, SubsetOfQueriesAsInShardedEvaluation) {
  // A rank holding only some queries gets the same ranks for them.
  const torch::Tensor s = t2v_scores();
  EXPECT_EQ(to_vector(t2v_ranks(s.slice(0, 3, 6), eye(4), longs({1, 2, 3}), 2)),
            (std::vector<int64_t>{2, 3, 3}));
  const torch::Tensor v = v2t_scores();
  EXPECT_EQ(
      to_vector(v2t_ranks(torch::stack({v[3], v[1]}), eye(6), longs(kOwner), longs({3, 1}), 1)),
      (std::vector<int64_t>{6, 4}));
  // No queries: no ranks.
  EXPECT_EQ(t2v_ranks(s.slice(0, 0, 0), eye(4), longs({}), 2).numel(), 0);
}

TEST(RetrievalRanks, DoublePrecisionInputsGiveTheSameRanks) {
  EXPECT_EQ(to_vector(t2v_ranks(t2v_scores().to(torch::kDouble), eye(4).to(torch::kDouble),
                                longs(kT2vGt), 3)),
            kT2vRanks);
}

TEST(RetrievalRanks, NonFiniteScoreThrowsNamingTheQuery) {
  for (float bad :
       {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity()}) {
    for (int64_t chunk : {1, 2, 100}) {
      torch::Tensor s = t2v_scores();
      s[3][2] = bad;
      try {
        t2v_ranks(s, eye(4), longs(kT2vGt), chunk);
        ADD_FAILURE() << "no error for " << bad << " chunk " << chunk;
      } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("query 3 has a non-finite score"), std::string::npos)
            << e.what();
      }
      torch::Tensor v = v2t_scores();
      v[2][5] = bad;
      try {
        v2t_ranks(v, eye(6), longs(kOwner), longs({0, 1, 2, 3}), chunk);
        ADD_FAILURE() << "no error for " << bad << " chunk " << chunk;
      } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("query 2 has a non-finite score"), std::string::npos)
            << e.what();
      }
    }
  }
}

TEST(RetrievalRanks, BadArgumentsThrow) {
  // A video query that owns no caption.
  try {
    v2t_ranks(v2t_scores(), eye(6), longs(kOwner), longs({0, 1, 7, 3}), 2);
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("query 2 (video id 7) owns no caption"), std::string::npos)
        << e.what();
  }
  EXPECT_THROW(t2v_ranks(t2v_scores(), eye(4), longs({0, 0, 1, 1, 2, 4}), 2), Error);  // gt >= V
  EXPECT_THROW(t2v_ranks(t2v_scores(), eye(4), longs({0, 0, 1}), 2), Error);  // wrong length
  EXPECT_THROW(t2v_ranks(t2v_scores(), eye(5), longs(kT2vGt), 2), Error);     // D mismatch
  EXPECT_THROW(t2v_ranks(t2v_scores(), eye(4), longs(kT2vGt), 0), Error);     // chunk 0
  EXPECT_THROW(t2v_ranks(t2v_scores(), eye(4), longs(kT2vGt).to(torch::kInt), 2), Error);
}

TEST(RetrievalSummary, HandComputed) {
  // t2v ranks 1,3,4,2,3,3: sorted 1,2,3,3,3,4 -> even count, median (3+3)/2 = 3; mean 16/6.
  RankSummary s = summarize_ranks(longs(kT2vRanks));
  EXPECT_EQ(s.count, 6);
  EXPECT_DOUBLE_EQ(s.r1, 100.0 / 6.0);
  EXPECT_DOUBLE_EQ(s.r5, 100.0);
  EXPECT_DOUBLE_EQ(s.r10, 100.0);
  EXPECT_DOUBLE_EQ(s.mdr, 3.0);
  EXPECT_DOUBLE_EQ(s.mnr, 16.0 / 6.0);

  // v2t ranks 3,4,1,6: sorted 1,3,4,6 -> median (3+4)/2 = 3.5; mean 14/4.
  s = summarize_ranks(longs(kV2tRanks));
  EXPECT_DOUBLE_EQ(s.r1, 25.0);
  EXPECT_DOUBLE_EQ(s.r5, 75.0);
  EXPECT_DOUBLE_EQ(s.r10, 100.0);
  EXPECT_DOUBLE_EQ(s.mdr, 3.5);
  EXPECT_DOUBLE_EQ(s.mnr, 3.5);

  // Odd count: 12, 5, 1, 30, 10 -> sorted 1,5,10,12,30, median 10; R@5 2/5, R@10 3/5.
  s = summarize_ranks(longs({12, 5, 1, 30, 10}));
  EXPECT_DOUBLE_EQ(s.mdr, 10.0);
  EXPECT_DOUBLE_EQ(s.mnr, 58.0 / 5.0);
  EXPECT_DOUBLE_EQ(s.r1, 20.0);
  EXPECT_DOUBLE_EQ(s.r5, 40.0);
  EXPECT_DOUBLE_EQ(s.r10, 60.0);

  // A single query.
  s = summarize_ranks(longs({7}));
  EXPECT_DOUBLE_EQ(s.mdr, 7.0);
  EXPECT_DOUBLE_EQ(s.r5, 0.0);
  EXPECT_DOUBLE_EQ(s.r10, 100.0);

  EXPECT_THROW(summarize_ranks(longs({})), Error);
  EXPECT_THROW(summarize_ranks(longs({1, 0})), Error);
}

TEST(RetrievalSummary, JsonKeysAndHumanLine) {
  RetrievalMetrics m;
  m.t2v = {50.0, 75.0, 100.0, 2.5, 3.3, 4};
  m.v2t = {0.0, 25.0, 50.0, 11.0, 12.5, 4};
  JsonLine line;
  add_metrics(line, m);
  EXPECT_EQ(
      line.str(),
      "{\"t2v_r1\": 50, \"t2v_r5\": 75, \"t2v_r10\": 100, \"t2v_mdr\": 2.5, \"t2v_mnr\": 3.3, "
      "\"v2t_r1\": 0, \"v2t_r5\": 25, \"v2t_r10\": 50, \"v2t_mdr\": 11, \"v2t_mnr\": 12.5}");
  EXPECT_EQ(format_metrics(m),
            "t2v R@1 50.0 R@5 75.0 R@10 100.0 MdR 2.5 MnR 3.3 | "
            "v2t R@1 0.0 R@5 25.0 R@10 50.0 MdR 11 MnR 12.5");
}

// Plain-loop references straight from docs/design.md §7, on a score matrix s [Q, N].
std::vector<int64_t> reference_t2v(const torch::Tensor& s, const std::vector<int64_t>& gt) {
  auto a = s.accessor<float, 2>();
  std::vector<int64_t> ranks;
  for (int64_t q = 0; q < s.size(0); ++q) {
    int64_t rank = 1;
    for (int64_t v = 0; v < s.size(1); ++v) {
      if (v != gt[q] && a[q][v] >= a[q][gt[q]]) ++rank;
    }
    ranks.push_back(rank);
  }
  return ranks;
}

std::vector<int64_t> reference_v2t(const torch::Tensor& s, const std::vector<int64_t>& owner,
                                   const std::vector<int64_t>& query_id) {
  auto a = s.accessor<float, 2>();
  std::vector<int64_t> ranks;
  for (int64_t q = 0; q < s.size(0); ++q) {
    float best = -std::numeric_limits<float>::infinity();
    for (int64_t t = 0; t < s.size(1); ++t) {
      if (owner[t] == query_id[q]) best = std::max(best, a[q][t]);
    }
    int64_t rank = 1;
    for (int64_t t = 0; t < s.size(1); ++t) {
      if (owner[t] != query_id[q] && a[q][t] >= best) ++rank;
    }
    ranks.push_back(rank);
  }
  return ranks;
}

TEST(RetrievalRanks, AgreesWithBruteForceReferenceOnManyTies) {
  torch::manual_seed(7);
  const int64_t num_videos = 23, num_texts = 61;
  // Every video owns at least one caption; the rest are random owners.
  std::vector<int64_t> owner(num_texts);
  const torch::Tensor random_owner = torch::randint(num_videos, {num_texts}, torch::kLong);
  for (int64_t t = 0; t < num_texts; ++t) {
    owner[t] = t < num_videos ? t : random_owner[t].item<int64_t>();
  }
  std::vector<int64_t> video_ids(num_videos);
  for (int64_t v = 0; v < num_videos; ++v) video_ids[v] = v;

  // Scores in {0.0, 0.1, ..., 1.0}: 11 values over 23 or 61 candidates, so ties everywhere.
  const torch::Tensor s_t2v = torch::round(torch::rand({num_texts, num_videos}) * 10) / 10;
  const torch::Tensor s_v2t = torch::round(torch::rand({num_videos, num_texts}) * 10) / 10;
  const std::vector<int64_t> want_t2v = reference_t2v(s_t2v, owner);
  const std::vector<int64_t> want_v2t = reference_v2t(s_v2t, owner, video_ids);
  for (int64_t chunk : {1, 2, 7, 1000}) {
    EXPECT_EQ(to_vector(t2v_ranks(s_t2v, eye(num_videos), longs(owner), chunk)), want_t2v)
        << "chunk " << chunk;
    EXPECT_EQ(to_vector(v2t_ranks(s_v2t, eye(num_texts), longs(owner), longs(video_ids), chunk)),
              want_v2t)
        << "chunk " << chunk;
  }
}

}  // namespace
}  // namespace lica::eval

namespace lica::eval {
namespace {

// Two captions, two videos; caption 0 describes video 1, caption 1 video 0. Plain scores rank
// video 0 first for caption 0 (0.9 > 0.8); but caption 1 matches video 0 better (0.95), so
// DSL's column softmax (T = 0.1) shrinks s(0, 0) to 0.9 * 0.378 = 0.340 and keeps
// s(0, 1) = 0.8 * 0.993 = 0.795: caption 0's video comes first.
TEST(DualSoftmax, ReweightsByTheColumnSoftmaxOverAllQueries) {
  const auto scores = torch::tensor({0.9f, 0.8f, 0.95f, 0.3f}).view({2, 2});  // [text, video]
  const auto eye2 = torch::eye(2);
  const auto gt = torch::tensor({1, 0}, torch::kLong);
  EXPECT_EQ(t2v_ranks(scores, eye2, gt, 2)[0].item<int64_t>(), 2);
  for (int64_t chunk : {1, 2}) {
    const auto norm = dual_softmax_log_norm(scores, eye2, 0.1, chunk);
    EXPECT_TRUE(torch::allclose(norm, torch::logsumexp(scores / 0.1, 0)));
    const auto ranks = t2v_ranks(scores, eye2, gt, chunk, DualSoftmax{norm, 0.1});
    EXPECT_EQ(ranks[0].item<int64_t>(), 1) << "chunk " << chunk;
    EXPECT_EQ(ranks[1].item<int64_t>(), 1);
  }
  // A query's shard sees the same norm: rank caption 0 alone with the norm of both.
  const auto norm = dual_softmax_log_norm(scores, eye2, 0.1, 2);
  EXPECT_EQ(t2v_ranks(scores.slice(0, 0, 1), eye2, gt.slice(0, 0, 1), 1, DualSoftmax{norm, 0.1})[0]
                .item<int64_t>(),
            1);
}

}  // namespace
}  // namespace lica::eval
