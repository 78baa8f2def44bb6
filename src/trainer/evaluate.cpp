#include "trainer/evaluate.h"

#include <algorithm>

#include "data/batch.h"

namespace lica::trainer {
namespace {

// Encodes `rows` in slices of batch_size with `encode(rows_slice)` -> [n, D]; returns [N, D].
template <typename Encode>
torch::Tensor encode_rows(const std::vector<int64_t>& rows, int64_t batch_size, Encode encode) {
  std::vector<torch::Tensor> parts;
  for (size_t begin = 0; begin < rows.size(); begin += static_cast<size_t>(batch_size)) {
    const size_t end = std::min(rows.size(), begin + static_cast<size_t>(batch_size));
    parts.push_back(encode(std::vector<int64_t>(rows.begin() + begin, rows.begin() + end)));
  }
  return torch::cat(parts);
}

}  // namespace

SplitEmbeddings encode_split(model::DualEncoder& model, const data::FeatureFile& file,
                             const data::SplitIndex& split, int64_t batch_size) {
  torch::NoGradGuard no_grad;
  model->eval();
  SplitEmbeddings emb;
  emb.videos = encode_rows(split.videos, batch_size, [&](const std::vector<int64_t>& rows) {
    auto b = data::make_video_batch(file, rows);
    return model->encode_video(b.video, b.video_mask);
  });
  emb.texts = encode_rows(split.texts, batch_size, [&](const std::vector<int64_t>& rows) {
    auto b = data::make_text_batch(file, rows);
    return model->encode_text(b.text, b.text_mask);
  });
  // Position of each file video inside the split, for the captions' ground truth.
  std::vector<int64_t> position(static_cast<size_t>(file.num_videos()), -1);
  for (size_t i = 0; i < split.videos.size(); ++i) {
    position[static_cast<size_t>(split.videos[i])] = static_cast<int64_t>(i);
  }
  std::vector<int64_t> owner;
  owner.reserve(split.texts.size());
  for (int64_t t : split.texts) {
    owner.push_back(position[static_cast<size_t>(file.text_video()[static_cast<size_t>(t)])]);
  }
  emb.text_owner = torch::tensor(owner, torch::kLong);
  return emb;
}

RetrievalMetrics retrieval_metrics(const SplitEmbeddings& emb, int64_t chunk) {
  RetrievalMetrics m;
  m.t2v = summarize_ranks(t2v_ranks(emb.texts, emb.videos, emb.text_owner, chunk));
  auto ids = torch::arange(emb.videos.size(0), torch::kLong);
  m.v2t = summarize_ranks(v2t_ranks(emb.videos, emb.texts, emb.text_owner, ids, chunk));
  return m;
}

RetrievalMetrics evaluate_split(model::DualEncoder& model, const data::FeatureFile& file,
                                const data::SplitIndex& split, const EvalOptions& opt) {
  return retrieval_metrics(encode_split(model, file, split, opt.batch_size), opt.chunk);
}

}  // namespace lica::trainer
