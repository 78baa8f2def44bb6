#include "trainer/encode_split.h"

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

// Encodes this rank's share of `rows` in slices of batch_size with `encode(slice)` -> [n, D].
template <typename Encode>
SplitEmbeddings encode_sharded(const std::vector<int64_t>& rows, int64_t batch_size, int64_t dim,
                               dist::Communicator& comm, Encode encode) {
  torch::NoGradGuard no_grad;
  SplitEmbeddings out;
  const auto mine = rank_rows(rows, batch_size, comm, &out.first);
  std::vector<torch::Tensor> parts;
  for (size_t begin = 0; begin < mine.size(); begin += static_cast<size_t>(batch_size)) {
    const size_t end = std::min(mine.size(), begin + static_cast<size_t>(batch_size));
    parts.push_back(encode(std::vector<int64_t>(mine.begin() + begin, mine.begin() + end)));
  }
  out.mine = parts.empty() ? torch::zeros({0, dim}) : torch::cat(parts);
  out.all = comm.all_gather(out.mine);
  return out;
}

}  // namespace

SplitEmbeddings encode_videos(model::DualEncoder& model, const data::FeatureFile& file,
                              const std::vector<int64_t>& rows, int64_t batch_size,
                              dist::Communicator& comm) {
  return encode_sharded(rows, batch_size, model->embed_dim(), comm, [&](const auto& slice) {
    auto b = data::make_video_batch(file, slice);
    return model->encode_video(b.video, b.video_mask);
  });
}

SplitEmbeddings encode_texts(model::DualEncoder& model, const data::FeatureFile& file,
                             const std::vector<int64_t>& rows, int64_t batch_size,
                             dist::Communicator& comm) {
  return encode_sharded(rows, batch_size, model->embed_dim(), comm, [&](const auto& slice) {
    auto b = data::make_text_batch(file, slice);
    return model->encode_text(b.text, b.text_mask);
  });
}

}  // namespace lica::trainer
