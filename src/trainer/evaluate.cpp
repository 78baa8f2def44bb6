#include "trainer/evaluate.h"

#include <algorithm>

#include "data/batch.h"
#include "dist/shard.h"

namespace lica::trainer {
namespace {

// This rank's rows of `rows`: whole batches of `batch_size`, dealt in contiguous runs.
std::vector<int64_t> rank_rows(const std::vector<int64_t>& rows, int64_t batch_size,
                               const dist::Communicator& comm, int64_t* first) {
  const auto n = static_cast<int64_t>(rows.size());
  const int64_t batches = (n + batch_size - 1) / batch_size;
  const auto [b0, b1] = dist::shard_range(batches, comm.rank(), comm.world_size());
  const int64_t begin = std::min(n, b0 * batch_size), end = std::min(n, b1 * batch_size);
  *first = begin;
  return std::vector<int64_t>(rows.begin() + begin, rows.begin() + end);
}

// Encodes `rows` in slices of batch_size with `encode(rows_slice)` -> [n, D]; returns [N, D].
template <typename Encode>
torch::Tensor encode_rows(const std::vector<int64_t>& rows, int64_t batch_size, int64_t dim,
                          Encode encode) {
  std::vector<torch::Tensor> parts;
  for (size_t begin = 0; begin < rows.size(); begin += static_cast<size_t>(batch_size)) {
    const size_t end = std::min(rows.size(), begin + static_cast<size_t>(batch_size));
    parts.push_back(encode(std::vector<int64_t>(rows.begin() + begin, rows.begin() + end)));
  }
  return parts.empty() ? torch::zeros({0, dim}) : torch::cat(parts);
}

}  // namespace

RetrievalMetrics evaluate_split(model::DualEncoder& model, const data::FeatureFile& file,
                                const data::SplitIndex& split, const EvalOptions& opt,
                                dist::Communicator& comm) {
  torch::NoGradGuard no_grad;
  model->eval();
  int64_t video_first = 0, text_first = 0;
  const auto my_videos = rank_rows(split.videos, opt.batch_size, comm, &video_first);
  const auto my_texts = rank_rows(split.texts, opt.batch_size, comm, &text_first);
  const int64_t embed_dim = model->embed_dim();
  auto videos = encode_rows(my_videos, opt.batch_size, embed_dim, [&](const auto& rows) {
    auto b = data::make_video_batch(file, rows);
    return model->encode_video(b.video, b.video_mask);
  });  // [v_r, D]
  auto texts = encode_rows(my_texts, opt.batch_size, embed_dim, [&](const auto& rows) {
    auto b = data::make_text_batch(file, rows);
    return model->encode_text(b.text, b.text_mask);
  });  // [t_r, D]
  auto all_videos = comm.all_gather(videos);  // [V, D]
  auto all_texts = comm.all_gather(texts);    // [T, D]

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
