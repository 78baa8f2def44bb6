// GPO, the generalised pooling operator of VSE-infinity (docs/design.md §3): each feature dimension is
// sorted over the valid positions in descending order and summed with weights over the sorted
// positions. The weights depend only on the number of valid positions n: a bidirectional GRU
// reads the sinusoidal encodings of positions 0..n-1, a linear layer scores each position, and
// a softmax with temperature 0.1 turns the scores into weights. Uniform weights make it the
// mean; one-hot weights on the first position make it max pooling.
#pragma once

#include <torch/torch.h>

namespace lica::model {

// x: [B, L, D]; mask: [B, L] bool (true = valid); weights: [B, L], the weight of sorted
// position p for row b (0 past the row's valid count). Returns [B, D]:
// out[b, d] = sum_p weights[b, p] * (the p-th largest of x[b, valid, d]).
torch::Tensor sorted_weighted_sum(const torch::Tensor& x, const torch::Tensor& mask,
                                  const torch::Tensor& weights);

// [n, dim] sinusoidal encodings of positions 0..n-1 (sin on even, cos on odd features).
torch::Tensor sinusoidal_positions(int64_t n, int64_t dim);

struct GpoOptions {
  int64_t position_dim = 32;  // sinusoidal encoding size
  int64_t hidden = 32;        // GRU hidden size per direction
  double temperature = 0.1;   // softmax temperature of the position scores
};

class GpoImpl : public torch::nn::Module {
 public:
  explicit GpoImpl(const GpoOptions& opt = {});
  // [B, L] weights for the rows' valid counts (mask.sum(1)); rows of equal count share one GRU
  // run. Each row sums to 1 over its first n positions and is 0 after.
  torch::Tensor weights(const torch::Tensor& mask);
  // x: [B, L, D], mask: [B, L]. Returns [B, D].
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& mask);
  torch::nn::Linear& score() { return score_; }

 private:
  GpoOptions opt_;
  torch::nn::GRU gru_{nullptr};
  torch::nn::Linear score_{nullptr};
};
TORCH_MODULE(Gpo);

}  // namespace lica::model
