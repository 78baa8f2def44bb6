// Sharded encoding of a split's videos or captions (docs/design.md §7): the rows are cut into batches
// of `batch_size` and the batches dealt to ranks in contiguous runs, so every batch is encoded
// exactly as at W = 1; the embeddings are then all-gathered in row order.
#pragma once

#include <torch/torch.h>

#include <vector>

#include "data/feature_file.h"
#include "dist/communicator.h"
#include "model/dual_encoder.h"

namespace lica::eval {

struct SplitEmbeddings {
  torch::Tensor all;   // [N, D]: the embedding of every row, in the order of `rows`
  torch::Tensor mine;  // [n_r, D]: this rank's rows, all.slice(0, first, first + n_r)
  int64_t first = 0;   // position in `rows` of this rank's first row
  // With sequences: every row's frame (token) features [N, L, D] and masks [N, L], gathered
  // (the fusion encoder's input); else undefined.
  torch::Tensor all_sequences, all_masks;
};

// `rows` index /videos (encode_videos) or /texts (encode_texts) of `file`. Runs without
// gradient, in fp32, on the model's device (the embeddings stay there); the model's
// train/eval mode is the caller's.
SplitEmbeddings encode_videos(model::DualEncoder& model, const data::FeatureFile& file,
                              const std::vector<int64_t>& rows, int64_t batch_size,
                              dist::Communicator& comm, bool with_sequences = false);
SplitEmbeddings encode_texts(model::DualEncoder& model, const data::FeatureFile& file,
                             const std::vector<int64_t>& rows, int64_t batch_size,
                             dist::Communicator& comm, bool with_sequences = false);

}  // namespace lica::eval
