#include "trainer/itm_loss.h"

#include <limits>

namespace lica::trainer {

namespace F = torch::nn::functional;

HardNegatives hard_negatives(const torch::Tensor& similarity, int64_t offset, int64_t rows) {
  TORCH_CHECK(similarity.dim() == 2 && similarity.size(0) == similarity.size(1) &&
                  similarity.size(0) >= 2,
              "hard_negatives: expected a square [B, B] similarity with B >= 2, got ",
              similarity.sizes());
  torch::NoGradGuard no_grad;
  const auto own = torch::arange(offset, offset + rows,
                                 torch::TensorOptions().dtype(torch::kLong).device(similarity.device()));
  const auto exclude_own = [&](torch::Tensor block) {  // [rows, B]: row r loses column offset + r
    return block.scatter(1, own.unsqueeze(1), -std::numeric_limits<double>::infinity());
  };
  // argmax returns the first maximal index: ties go to the smaller j.
  HardNegatives out;
  out.text_for_video = exclude_own(similarity.slice(0, offset, offset + rows)).argmax(1);
  out.video_for_text = exclude_own(similarity.slice(1, offset, offset + rows).t()).argmax(1);
  return out;
}

torch::Tensor itm_loss(const torch::Tensor& positive, const torch::Tensor& video_negative,
                       const torch::Tensor& text_negative, int64_t global_batch) {
  const auto sum = F::BinaryCrossEntropyWithLogitsFuncOptions().reduction(torch::kSum);
  const auto bce = [&](const torch::Tensor& logits, double label) {
    return F::binary_cross_entropy_with_logits(logits, torch::full_like(logits, label), sum);
  };
  return (bce(positive, 1.0) + bce(video_negative, 0.0) + bce(text_negative, 0.0)) /
         static_cast<double>(3 * global_batch);
}

}  // namespace lica::trainer
