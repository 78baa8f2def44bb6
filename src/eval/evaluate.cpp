#include "eval/evaluate.h"

#include "common/error.h"
#include "eval/encode_split.h"
#include "eval/rerank.h"

namespace lica::eval {
namespace {

// The fusion encoder's logits of the pairs (video_rows[p], text_rows[p]) of the gathered
// sequences, `batch` pairs at a time: [P].
torch::Tensor pair_logits(model::DualEncoder& model, const SplitEmbeddings& videos,
                          const torch::Tensor& video_rows, const SplitEmbeddings& texts,
                          const torch::Tensor& text_rows, int64_t batch) {
  std::vector<torch::Tensor> parts{torch::empty({0}, videos.all_sequences.options())};
  for (int64_t begin = 0; begin < video_rows.size(0); begin += batch) {
    const auto v = video_rows.slice(0, begin, begin + batch);
    const auto t = text_rows.slice(0, begin, begin + batch);
    parts.push_back(model->match_logits(
        videos.all_sequences.index_select(0, v), videos.all_masks.index_select(0, v),
        texts.all_sequences.index_select(0, t), texts.all_masks.index_select(0, t)));
  }
  return torch::cat(parts);
}

// [n * k] on `device`: each of `first`, ..., `first + n - 1` repeated k times.
torch::Tensor repeated_rows(int64_t first, int64_t n, int64_t k, const torch::Device& device) {
  return torch::arange(first, first + n, torch::dtype(torch::kLong).device(device))
      .repeat_interleave(k);
}

}  // namespace

RetrievalMetrics evaluate_split(model::DualEncoder& model, const data::FeatureFile& file,
                                const data::SplitIndex& split, const EvalOptions& opt,
                                dist::Communicator& comm) {
  torch::NoGradGuard no_grad;
  model->eval();
  const bool rerank = opt.rerank_top_k > 0;
  if (rerank && !model->has_fusion()) {
    throw InputError("eval.rerank_top_k: " + std::to_string(opt.rerank_top_k) +
                     " needs a model with a fusion encoder (model.fusion.layers > 0)");
  }
  const auto video_emb = encode_videos(model, file, split.videos, opt.batch_size, comm, rerank);
  const auto text_emb = encode_texts(model, file, split.texts, opt.batch_size, comm, rerank);
  const auto& videos = video_emb.mine;    // [v_r, D]
  const auto& texts = text_emb.mine;      // [t_r, D]
  const auto& all_videos = video_emb.all;  // [V, D]
  const auto& all_texts = text_emb.all;    // [T, D]
  const int64_t video_first = video_emb.first, text_first = text_emb.first;

  // Position inside the split of each caption's video: the ground truth of both directions.
  std::vector<int64_t> position(static_cast<size_t>(file.num_videos()), -1);
  for (size_t i = 0; i < split.videos.size(); ++i) {
    position[static_cast<size_t>(split.videos[i])] = static_cast<int64_t>(i);
  }
  std::vector<int64_t> owner;
  owner.reserve(split.texts.size());
  for (int64_t t : split.texts) {
    owner.push_back(position[static_cast<size_t>(file.text_video()[static_cast<size_t>(t)])]);
  }
  // Indices live with the embeddings (the model's device), as the ranking compares them.
  const torch::Device device = all_videos.device();
  auto text_owner = torch::tensor(owner, torch::kLong).to(device);  // [T]
  auto my_owner = text_owner.slice(0, text_first, text_first + texts.size(0));
  auto my_ids = torch::arange(video_first, video_first + videos.size(0),
                              torch::dtype(torch::kLong).device(device));

  // DSL normalises each candidate's column over every query of the split; every rank holds
  // all embeddings, so each computes it alike, in the same blocks, and W does not change it.
  DualSoftmax t2v_dsl, v2t_dsl;
  if (opt.dsl) {
    t2v_dsl = {dual_softmax_log_norm(all_texts, all_videos, opt.dsl_temperature, opt.chunk),
               opt.dsl_temperature};
    v2t_dsl = {dual_softmax_log_norm(all_videos, all_texts, opt.dsl_temperature, opt.chunk),
               opt.dsl_temperature};
  }
  auto t2v = t2v_ranks(texts, all_videos, my_owner, opt.chunk, t2v_dsl);
  auto v2t = v2t_ranks(videos, all_texts, text_owner, my_ids, opt.chunk, v2t_dsl);
  if (rerank) {
    // Each rank re-ranks its own queries' top k with the fusion encoder; the candidates'
    // frames and tokens were gathered with the embeddings.
    const auto t2v_top = top_candidates(texts, all_videos, opt.rerank_top_k, opt.chunk, t2v_dsl);
    const int64_t kt = t2v_top.size(1);
    const auto t2v_fusion =
        pair_logits(model, video_emb, t2v_top.reshape(-1), text_emb,
                    repeated_rows(text_first, texts.size(0), kt, device), opt.batch_size);
    t2v = t2v_reranked(t2v, t2v_top, t2v_fusion.view({-1, kt}), my_owner);
    const auto v2t_top = top_candidates(videos, all_texts, opt.rerank_top_k, opt.chunk, v2t_dsl);
    const int64_t kv = v2t_top.size(1);
    const auto v2t_fusion =
        pair_logits(model, video_emb, repeated_rows(video_first, videos.size(0), kv, device),
                    text_emb, v2t_top.reshape(-1), opt.batch_size);
    v2t = v2t_reranked(v2t, v2t_top, v2t_fusion.view({-1, kv}), text_owner, my_ids);
  }
  RetrievalMetrics m;
  m.t2v = summarize_ranks(comm.all_gather(t2v));
  m.v2t = summarize_ranks(comm.all_gather(v2t));
  return m;
}

}  // namespace lica::eval
