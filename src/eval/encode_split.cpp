#include "eval/encode_split.h"

#include <algorithm>

#include "data/batch.h"
#include "dist/shard.h"
#include "model/module_device.h"
#include "run/device.h"

namespace lica::eval {
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

struct EncodedRows {
  torch::Tensor embedding, sequence, mask;  // [n, D], [n, L, D], [n, L]
};

// Encodes this rank's share of `rows` in slices of batch_size with `encode(slice)` ->
// {embeddings [n, D], sequences [n, L, D], masks [n, L]}.
template <typename Encode>
SplitEmbeddings encode_sharded(const std::vector<int64_t>& rows, int64_t batch_size, int64_t dim,
                               int64_t length, const torch::Device& device,
                               dist::Communicator& comm, bool with_sequences, Encode encode) {
  torch::NoGradGuard no_grad;
  SplitEmbeddings out;
  const auto mine = rank_rows(rows, batch_size, comm, &out.first);
  std::vector<torch::Tensor> embeddings, sequences, masks;
  for (size_t begin = 0; begin < mine.size(); begin += static_cast<size_t>(batch_size)) {
    const size_t end = std::min(mine.size(), begin + static_cast<size_t>(batch_size));
    auto [embedding, sequence, mask] =
        encode(std::vector<int64_t>(mine.begin() + begin, mine.begin() + end));
    embeddings.push_back(embedding);
    if (with_sequences) sequences.push_back(sequence), masks.push_back(mask.to(torch::kUInt8));
  }
  // A rank without rows still gives a tensor on the model's device: every rank's part of an
  // all-gather must be on the same kind of device.
  const auto on_device = torch::TensorOptions().device(device);
  out.mine = embeddings.empty() ? torch::zeros({0, dim}, on_device) : torch::cat(embeddings);
  out.all = comm.all_gather(out.mine);
  if (with_sequences) {
    // Batches are padded to the file's length, so every rank's rows have the same shape.
    out.all_sequences = comm.all_gather(
        sequences.empty() ? torch::zeros({0, length, dim}, on_device) : torch::cat(sequences));
    out.all_masks = comm.all_gather(masks.empty()
                                        ? torch::zeros({0, length}, on_device.dtype(torch::kUInt8))
                                        : torch::cat(masks))
                        .to(torch::kBool);
  }
  return out;
}

}  // namespace

SplitEmbeddings encode_videos(model::DualEncoder& model, const data::FeatureFile& file,
                              const std::vector<int64_t>& rows, int64_t batch_size,
                              dist::Communicator& comm, bool with_sequences) {
  const torch::Device device = model::module_device(*model);
  return encode_sharded(rows, batch_size, model->embed_dim(), file.max_frames(), device, comm,
                        with_sequences, [&](const std::vector<int64_t>& slice) {
                          auto b = data::batch_to(data::make_video_batch(file, slice), device);
                          auto e = model->encode_video_sequence(b.video, b.video_mask);
                          return EncodedRows{e.embedding, e.sequence, b.video_mask};
                        });
}

SplitEmbeddings encode_texts(model::DualEncoder& model, const data::FeatureFile& file,
                             const std::vector<int64_t>& rows, int64_t batch_size,
                             dist::Communicator& comm, bool with_sequences) {
  const torch::Device device = model::module_device(*model);
  return encode_sharded(rows, batch_size, model->embed_dim(), file.max_tokens(), device, comm,
                        with_sequences, [&](const std::vector<int64_t>& slice) {
                          auto b = data::batch_to(data::make_text_batch(file, slice), device);
                          auto e = model->encode_text_sequence(b.text, b.text_mask);
                          return EncodedRows{e.embedding, e.sequence, b.text_mask};
                        });
}

}  // namespace lica::eval
