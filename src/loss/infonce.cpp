#include "loss/infonce.h"

namespace lica::loss {

namespace F = torch::nn::functional;

torch::Tensor scaled_logits(const torch::Tensor& rows, const torch::Tensor& cols,
                            const torch::Tensor& scale) {
  return scale * rows.matmul(cols.t());
}

torch::Tensor infonce_from_logits(const torch::Tensor& video_logits,
                                  const torch::Tensor& text_logits, int64_t offset,
                                  int64_t global_batch) {
  const int64_t b = video_logits.size(0);
  auto target = torch::arange(offset, offset + b,
                              torch::TensorOptions().dtype(torch::kLong).device(video_logits.device()));
  auto sum = F::CrossEntropyFuncOptions().reduction(torch::kSum);
  auto v2t = F::cross_entropy(video_logits, target, sum);
  auto t2v = F::cross_entropy(text_logits, target, sum);
  return 0.5 * (v2t + t2v) / static_cast<double>(global_batch);
}

torch::Tensor candidates_infonce(const torch::Tensor& video_rows, const torch::Tensor& video_cands,
                                 const torch::Tensor& text_rows, const torch::Tensor& text_cands,
                                 const torch::Tensor& scale, int64_t offset, int64_t global_batch) {
  return infonce_from_logits(scaled_logits(video_rows, video_cands, scale),
                             scaled_logits(text_rows, text_cands, scale), offset, global_batch);
}

torch::Tensor infonce_loss(const torch::Tensor& local_video, const torch::Tensor& local_text,
                           const torch::Tensor& all_video, const torch::Tensor& all_text,
                           const torch::Tensor& scale, int64_t offset) {
  return candidates_infonce(local_video, all_text, local_text, all_video, scale, offset,
                            all_video.size(0));
}

}  // namespace lica::loss
