#include "loss/itm.h"

#include <limits>

namespace lica::loss {

namespace F = torch::nn::functional;

HardNegatives hard_negatives(const torch::Tensor& similarity, int64_t offset, int64_t rows,
                             uint64_t seed) {
  TORCH_CHECK(similarity.dim() == 2 && similarity.size(0) == similarity.size(1) &&
                  similarity.size(0) >= 2,
              "hard_negatives: expected a square [B, B] similarity with B >= 2, got ",
              similarity.sizes());
  torch::NoGradGuard no_grad;
  const int64_t batch = similarity.size(0);
  const auto diagonal = torch::eye(batch, torch::TensorOptions().dtype(torch::kBool).device(similarity.device()));
  auto generator = at::detail::createCPUGenerator(seed);
  // [B] one draw per row of `logits` from softmax over its off-diagonal entries, in double
  // so the probabilities are the same whatever the input's dtype.
  const auto draw = [&](const torch::Tensor& logits) {
    const auto probs = torch::softmax(
        logits.to(torch::kDouble).masked_fill(diagonal, -std::numeric_limits<double>::infinity()), 1);
    return torch::multinomial(probs.cpu(), 1, false, generator).squeeze(1).to(similarity.device());
  };
  HardNegatives out;
  out.text_for_video = draw(similarity).slice(0, offset, offset + rows);
  out.video_for_text = draw(similarity.t()).slice(0, offset, offset + rows);
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

}  // namespace lica::loss
