#include "data/batch.h"

#include "common/error.h"

namespace lica::data {
namespace {

// [n, P] bool: position p < counts[rows[i]].
torch::Tensor valid_mask(const std::vector<int32_t>& counts, const std::vector<int64_t>& rows,
                         int64_t positions) {
  std::vector<int64_t> n(rows.size());
  for (size_t i = 0; i < rows.size(); ++i) n[i] = counts[static_cast<size_t>(rows[i])];
  torch::Tensor lengths = torch::tensor(n, torch::kLong).view({-1, 1});  // [n, 1]
  return torch::arange(positions, torch::kLong).view({1, -1}) < lengths;
}

torch::Tensor index_tensor(const std::vector<int64_t>& rows) {
  return torch::tensor(rows, torch::kLong).view({-1});
}

}  // namespace

int64_t Batch::size() const {
  if (video.defined()) return video.size(0);
  if (text.defined()) return text.size(0);
  return 0;
}

Batch make_video_batch(const FeatureFile& file, const std::vector<int64_t>& video_rows) {
  Batch b;
  b.video = file.read_videos(video_rows);  // zero past num_frames
  b.video_mask = valid_mask(file.num_frames(), video_rows, file.max_frames());
  b.video_index = index_tensor(video_rows);
  return b;
}

Batch make_text_batch(const FeatureFile& file, const std::vector<int64_t>& text_rows) {
  Batch b;
  b.text = file.read_texts(text_rows);  // zero past num_tokens
  b.text_mask = valid_mask(file.num_tokens(), text_rows, file.max_tokens());
  b.text_index = index_tensor(text_rows);
  return b;
}

Batch make_batch(const FeatureFile& file, const std::vector<int64_t>& video_rows,
                 const std::vector<int64_t>& text_rows) {
  if (video_rows.size() != text_rows.size()) {
    throw Error(file.path() + ": make_batch got " + std::to_string(video_rows.size()) +
                " video rows and " + std::to_string(text_rows.size()) +
                " caption rows, expected as many of each");
  }
  Batch b = make_video_batch(file, video_rows);
  Batch t = make_text_batch(file, text_rows);
  b.text = std::move(t.text);
  b.text_mask = std::move(t.text_mask);
  b.text_index = std::move(t.text_index);
  return b;
}

namespace {

torch::Tensor to_device(const torch::Tensor& t, const torch::Device& device) {
  if (!t.defined()) return t;
  // non_blocking only helps (and is only safe to ask for) from page-locked memory.
  return t.to(device, /*non_blocking=*/t.is_pinned());
}

}  // namespace

data::Batch batch_to(const data::Batch& batch, const torch::Device& device) {
  data::Batch out;
  out.video = to_device(batch.video, device);
  out.video_mask = to_device(batch.video_mask, device);
  out.text = to_device(batch.text, device);
  out.text_mask = to_device(batch.text_mask, device);
  out.video_index = to_device(batch.video_index, device);
  out.text_index = to_device(batch.text_index, device);
  return out;
}

data::Batch video_part(const data::Batch& batch) {
  data::Batch out;
  out.video = batch.video;
  out.video_mask = batch.video_mask;
  return out;
}

data::Batch text_part(const data::Batch& batch) {
  data::Batch out;
  out.text = batch.text;
  out.text_mask = batch.text_mask;
  return out;
}

data::Batch rows_to(const data::Batch& batch, int64_t r0, int64_t r1,
                    const torch::Device& device) {
  const auto rows = [r0, r1](const torch::Tensor& t) {
    return t.defined() ? t.slice(0, r0, r1) : t;
  };
  return batch_to({rows(batch.video), rows(batch.video_mask), rows(batch.text),
                   rows(batch.text_mask), rows(batch.video_index), rows(batch.text_index)},
                  device);
}

}  // namespace lica::data
