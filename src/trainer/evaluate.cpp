#include "trainer/evaluate.h"

#include "trainer/encode_split.h"

namespace lica::trainer {

RetrievalMetrics evaluate_split(model::DualEncoder& model, const data::FeatureFile& file,
                                const data::SplitIndex& split, const EvalOptions& opt,
                                dist::Communicator& comm) {
  torch::NoGradGuard no_grad;
  model->eval();
  const auto video_emb = encode_videos(model, file, split.videos, opt.batch_size, comm);
  const auto text_emb = encode_texts(model, file, split.texts, opt.batch_size, comm);
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
  auto text_owner = torch::tensor(owner, torch::kLong);  // [T]
  auto my_owner = text_owner.slice(0, text_first, text_first + texts.size(0));
  auto my_ids = torch::arange(video_first, video_first + videos.size(0), torch::kLong);

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
  RetrievalMetrics m;
  m.t2v = summarize_ranks(comm.all_gather(t2v));
  m.v2t = summarize_ranks(comm.all_gather(v2t));
  return m;
}

}  // namespace lica::trainer
