#include "eval/retrieval_metrics.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <vector>

#include "common/error.h"

namespace lica::eval {
namespace {

std::string shape_of(const torch::Tensor& t) {
  std::string s = "[";
  for (int64_t i = 0; i < t.dim(); ++i) s += (i ? ", " : "") + std::to_string(t.size(i));
  return s + "]";
}

void check_embeddings(const char* fn, const char* q_name, const torch::Tensor& queries,
                      const char* c_name, const torch::Tensor& candidates) {
  if (queries.dim() != 2 || candidates.dim() != 2 || queries.size(1) != candidates.size(1)) {
    throw Error(std::string(fn) + ": expected " + q_name + " [Q, D] and " + c_name +
                " [N, D], got " + shape_of(queries) + " and " + shape_of(candidates));
  }
  if (!queries.is_floating_point() || queries.scalar_type() != candidates.scalar_type() ||
      queries.device() != candidates.device()) {
    throw Error(std::string(fn) + ": " + q_name + " and " + c_name +
                " must be floating point with the same dtype and device");
  }
}

// An int64 index vector of length n, moved to `device`.
torch::Tensor index_vector(const char* fn, const char* name, const torch::Tensor& t, int64_t n,
                           const torch::Device& device) {
  if (t.dim() != 1 || t.size(0) != n || t.scalar_type() != torch::kLong) {
    throw Error(std::string(fn) + ": expected " + name + " [" + std::to_string(n) +
                "] int64, got " + shape_of(t) + " " + std::string(c10::toString(t.scalar_type())));
  }
  return t.to(device);
}

// Scores [Q, N] = queries x candidates^T, computed `chunk` query rows at a time. For each block
// of rows [begin, end), checks every score is finite and calls rank_block(begin, end, scores)
// -> [end - begin] int64 ranks. Returns the concatenated [Q] ranks.
template <typename RankBlock>
torch::Tensor ranks_in_blocks(const char* fn, const torch::Tensor& queries,
                              const torch::Tensor& candidates, int64_t chunk,
                              const DualSoftmax& dsl, RankBlock rank_block) {
  if (chunk < 1)
    throw Error(std::string(fn) + ": chunk must be >= 1, got " + std::to_string(chunk));
  const int64_t num_queries = queries.size(0);
  if (num_queries == 0)
    return torch::empty({0}, torch::dtype(torch::kLong).device(queries.device()));
  torch::NoGradGuard no_grad;
  const torch::Tensor candidates_t = candidates.t();  // [D, N]
  std::vector<torch::Tensor> blocks;
  for (int64_t begin = 0; begin < num_queries; begin += chunk) {
    const int64_t end = std::min(begin + chunk, num_queries);
    const torch::Tensor scores = queries.slice(0, begin, end).matmul(candidates_t);  // [c, N]
    const torch::Tensor finite = torch::isfinite(scores);
    if (!finite.all().item<bool>()) {
      const torch::Tensor bad = (~finite).nonzero();  // [k, 2], row-major order
      const int64_t row = bad[0][0].item<int64_t>();
      const int64_t col = bad[0][1].item<int64_t>();
      throw Error(std::string(fn) + ": query " + std::to_string(begin + row) +
                  " has a non-finite score (" + std::to_string(scores[row][col].item<double>()) +
                  " against candidate " + std::to_string(col) + ")");
    }
    blocks.push_back(rank_block(begin, end, apply_dual_softmax(scores, dsl)));
  }
  return torch::cat(blocks);
}

}  // namespace

torch::Tensor apply_dual_softmax(const torch::Tensor& scores, const DualSoftmax& dsl) {
  if (!dsl.column_log_norm.defined()) return scores;
  return scores * torch::exp(scores / dsl.temperature - dsl.column_log_norm.unsqueeze(0));
}

torch::Tensor dual_softmax_log_norm(const torch::Tensor& all_queries, const torch::Tensor& candidates,
                                    double temperature, int64_t chunk) {
  torch::NoGradGuard no_grad;
  auto norm = torch::full({candidates.size(0)}, -std::numeric_limits<double>::infinity(),
                          candidates.options());  // [N]
  const torch::Tensor candidates_t = candidates.t();
  for (int64_t begin = 0; begin < all_queries.size(0); begin += chunk) {
    const int64_t end = std::min(begin + chunk, all_queries.size(0));
    const auto scores = all_queries.slice(0, begin, end).matmul(candidates_t) / temperature;
    norm = torch::logaddexp(norm, torch::logsumexp(scores, 0));
  }
  return norm;
}

torch::Tensor t2v_ranks(const torch::Tensor& query_text, const torch::Tensor& videos,
                        const torch::Tensor& gt_video, int64_t chunk, const DualSoftmax& dsl) {
  const char* fn = "t2v_ranks";
  check_embeddings(fn, "query_text", query_text, "videos", videos);
  const int64_t num_videos = videos.size(0);
  const torch::Tensor gt =
      index_vector(fn, "gt_video", gt_video, query_text.size(0), query_text.device());
  if (gt.numel() > 0) {
    const int64_t lo = gt.min().item<int64_t>(), hi = gt.max().item<int64_t>();
    if (lo < 0 || hi >= num_videos) {
      throw Error(std::string(fn) + ": gt_video values must be in [0, " +
                  std::to_string(num_videos) + "), got [" + std::to_string(lo) + ", " +
                  std::to_string(hi) + "]");
    }
  }
  const auto rank_block = [&](int64_t begin, int64_t end, const torch::Tensor& scores) {
    const torch::Tensor gt_score =
        scores.gather(1, gt.slice(0, begin, end).unsqueeze(1));  // [c, 1]
    // Counts the ground truth itself once: 1 + #{v != gt : s(v) >= s(gt)}.
    return (scores >= gt_score).sum(1);
  };
  return ranks_in_blocks(fn, query_text, videos, chunk, dsl, rank_block);
}

torch::Tensor v2t_ranks(const torch::Tensor& query_video, const torch::Tensor& texts,
                        const torch::Tensor& text_owner, const torch::Tensor& query_id,
                        int64_t chunk, const DualSoftmax& dsl) {
  const char* fn = "v2t_ranks";
  check_embeddings(fn, "query_video", query_video, "texts", texts);
  const torch::Tensor owner =
      index_vector(fn, "text_owner", text_owner, texts.size(0), texts.device());
  const torch::Tensor ids =
      index_vector(fn, "query_id", query_id, query_video.size(0), query_video.device());
  const auto rank_block = [&](int64_t begin, int64_t end, const torch::Tensor& scores) {
    // own[i][t]: caption t describes query i's video.  [c, T]
    const torch::Tensor own = owner.unsqueeze(0) == ids.slice(0, begin, end).unsqueeze(1);
    const torch::Tensor has_caption = own.any(1);  // [c]
    if (!has_caption.all().item<bool>()) {
      const int64_t row = (~has_caption).nonzero()[0][0].item<int64_t>();
      throw Error(std::string(fn) + ": query " + std::to_string(begin + row) + " (video id " +
                  std::to_string(ids[begin + row].item<int64_t>()) +
                  ") owns no caption among the candidates");
    }
    // b: the best score among the query's own captions.  [c, 1]
    const torch::Tensor best =
        scores.masked_fill(~own, -std::numeric_limits<double>::infinity()).amax(1, true);
    return 1 + ((scores >= best) & ~own).sum(1);
  };
  return ranks_in_blocks(fn, query_video, texts, chunk, dsl, rank_block);
}

RankSummary summarize_ranks(const torch::Tensor& ranks) {
  if (ranks.dim() != 1 || ranks.size(0) < 1 || ranks.scalar_type() != torch::kLong) {
    throw Error("summarize_ranks: expected [N] int64 ranks with N >= 1, got " + shape_of(ranks) +
                " " + std::string(c10::toString(ranks.scalar_type())));
  }
  const torch::Tensor cpu = ranks.to(torch::kCPU).contiguous();
  std::vector<int64_t> r(cpu.data_ptr<int64_t>(), cpu.data_ptr<int64_t>() + cpu.numel());
  RankSummary s;
  s.count = static_cast<int64_t>(r.size());
  int64_t hits1 = 0, hits5 = 0, hits10 = 0;
  double sum = 0;
  for (size_t i = 0; i < r.size(); ++i) {
    if (r[i] < 1) {
      throw Error("summarize_ranks: rank " + std::to_string(r[i]) + " at " + std::to_string(i) +
                  " is < 1");
    }
    hits1 += r[i] <= 1;
    hits5 += r[i] <= 5;
    hits10 += r[i] <= 10;
    sum += static_cast<double>(r[i]);
  }
  const double n = static_cast<double>(s.count);
  s.r1 = 100.0 * static_cast<double>(hits1) / n;
  s.r5 = 100.0 * static_cast<double>(hits5) / n;
  s.r10 = 100.0 * static_cast<double>(hits10) / n;
  s.mnr = sum / n;
  std::sort(r.begin(), r.end());
  const size_t mid = r.size() / 2;
  s.mdr = r.size() % 2 == 1 ? static_cast<double>(r[mid])
                            : 0.5 * (static_cast<double>(r[mid - 1]) + static_cast<double>(r[mid]));
  return s;
}

void add_metrics(JsonLine& line, const RetrievalMetrics& m) {
  const auto add = [&line](const std::string& dir, const RankSummary& s) {
    line.add(dir + "_r1", s.r1).add(dir + "_r5", s.r5).add(dir + "_r10", s.r10);
    line.add(dir + "_mdr", s.mdr).add(dir + "_mnr", s.mnr);
  };
  add("t2v", m.t2v);
  add("v2t", m.v2t);
}

double metric_by_name(const RetrievalMetrics& m, const std::string& name) {
  const RankSummary* s = name.rfind("t2v_", 0) == 0 ? &m.t2v : name.rfind("v2t_", 0) == 0 ? &m.v2t : nullptr;
  const std::string stat = s ? name.substr(4) : "";
  if (stat == "r1") return s->r1;
  if (stat == "r5") return s->r5;
  if (stat == "r10") return s->r10;
  if (stat == "mdr") return s->mdr;
  if (stat == "mnr") return s->mnr;
  throw Error("unknown retrieval metric '" + name + "'");
}

std::string format_metrics(const RetrievalMetrics& m) {
  const auto one = [](const char* dir, const RankSummary& s) {
    char buf[160];
    // The median is an integer or a half.
    const bool whole = s.mdr == std::floor(s.mdr);
    std::snprintf(buf, sizeof buf, "%s R@1 %.1f R@5 %.1f R@10 %.1f MdR %.*f MnR %.1f", dir, s.r1,
                  s.r5, s.r10, whole ? 0 : 1, s.mdr, s.mnr);
    return std::string(buf);
  };
  return one("t2v", m.t2v) + " | " + one("v2t", m.v2t);
}

}  // namespace lica::eval
