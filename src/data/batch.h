// A batch of (video, caption) rows read from a FeatureFile, padded to the file's F and L.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <vector>

#include "data/feature_file.h"

namespace lica::data {

struct Batch {
  torch::Tensor video;        // [B, F, Dv] float32, zero past num_frames
  torch::Tensor video_mask;   // [B, F] bool, true = valid frame
  torch::Tensor text;         // [B, L, Dt] float32, zero past num_tokens
  torch::Tensor text_mask;    // [B, L] bool, true = valid token
  torch::Tensor video_index;  // [B] int64 rows of /videos
  torch::Tensor text_index;   // [B] int64 rows of /texts
  // B, from whichever modality is present (0 for an empty Batch).
  int64_t size() const;
};

// Pairs video_rows[i] with text_rows[i]; the two must have the same length (lica::Error).
Batch make_batch(const FeatureFile& file, const std::vector<int64_t>& video_rows,
                 const std::vector<int64_t>& text_rows);
// One modality only (evaluation encodes videos and captions separately); the other modality's
// fields stay undefined tensors.
Batch make_video_batch(const FeatureFile& file, const std::vector<int64_t>& video_rows);
Batch make_text_batch(const FeatureFile& file, const std::vector<int64_t>& text_rows);

// `batch` with every defined tensor on `device` (undefined ones stay undefined). Copies
// from pinned host memory are non-blocking: the loader pins batches for a CUDA run, and the
// copy then overlaps the work already queued on the stream.
data::Batch batch_to(const data::Batch& batch, const torch::Device& device);

// One modality's features and mask of `batch` (the other fields undefined, so rows_to()
// copies nothing else): a tower encodes its own modality only.
data::Batch video_part(const data::Batch& batch);
data::Batch text_part(const data::Batch& batch);

// The rows [r0, r1) of `batch` on `device`, copied as batch_to() does: one micro-batch of a
// batch kept in host memory (trainer.host_inputs). Rows already on `device` are not copied.
data::Batch rows_to(const data::Batch& batch, int64_t r0, int64_t r1,
                    const torch::Device& device);

}  // namespace lica::data
