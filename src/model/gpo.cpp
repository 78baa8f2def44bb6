#include "model/gpo.h"

#include <cmath>
#include <limits>
#include <algorithm>
#include <functional>
#include <vector>

namespace lica::model {

torch::Tensor sorted_weighted_sum(const torch::Tensor& x, const torch::Tensor& mask,
                                  const torch::Tensor& weights) {
  // Invalid positions sort last (the lowest finite value, not -inf: 0 * -inf is NaN) and
  // meet zero weights there.
  const double lowest = std::numeric_limits<float>::lowest();
  auto filled = x.masked_fill(mask.logical_not().unsqueeze(-1), lowest);      // [B, L, D]
  auto sorted = std::get<0>(filled.sort(/*dim=*/1, /*descending=*/true));    // [B, L, D]
  const auto n = mask.sum(1, /*keepdim=*/true);                              // [B, 1]
  const auto first_n = torch::arange(x.size(1), mask.options().dtype(torch::kLong)).unsqueeze(0) < n;
  sorted = sorted.masked_fill(first_n.logical_not().unsqueeze(-1), 0.0);
  return (sorted * weights.to(x.scalar_type()).unsqueeze(-1)).sum(1);       // [B, D]
}

torch::Tensor sinusoidal_positions(int64_t n, int64_t dim) {
  auto position = torch::arange(n, torch::kDouble).unsqueeze(1);                     // [n, 1]
  auto rate = torch::exp(torch::arange(0, dim, 2, torch::kDouble) * (-std::log(10000.0) / dim));
  auto pe = torch::zeros({n, dim}, torch::kDouble);
  pe.index_put_({torch::indexing::Slice(), torch::indexing::Slice(0, torch::indexing::None, 2)},
                torch::sin(position * rate));
  pe.index_put_({torch::indexing::Slice(), torch::indexing::Slice(1, torch::indexing::None, 2)},
                torch::cos(position * rate).narrow(1, 0, dim / 2));
  return pe.to(torch::kFloat);
}

GpoImpl::GpoImpl(const GpoOptions& opt) : opt_(opt) {
  gru_ = register_module(
      "gru", torch::nn::GRU(torch::nn::GRUOptions(opt.position_dim, opt.hidden)
                                .batch_first(true)
                                .bidirectional(true)));
  score_ = register_module("score", torch::nn::Linear(opt.hidden, 1));
}

torch::Tensor GpoImpl::weights(const torch::Tensor& mask) {
  const int64_t B = mask.size(0), L = mask.size(1);
  const auto counts = mask.sum(1).to(torch::kCPU, torch::kLong).contiguous();  // [B]
  const int64_t* count = counts.data_ptr<int64_t>();
  // One GRU call over the distinct counts (longest first, as packing wants), each a sequence
  // of its own length: the backward direction starts at each sequence's own last position.
  std::vector<int64_t> lengths(count, count + B);
  std::sort(lengths.begin(), lengths.end(), std::greater<>());
  lengths.erase(std::unique(lengths.begin(), lengths.end()), lengths.end());
  if (!lengths.empty() && lengths.back() == 0) lengths.pop_back();  // no valid position: weights 0
  auto out = torch::zeros({B, L}, score_->weight.options());
  if (lengths.empty()) return out;
  const int64_t K = static_cast<int64_t>(lengths.size()), longest = lengths.front();
  auto pe = sinusoidal_positions(longest, opt_.position_dim)
                .to(score_->weight.device(), score_->weight.scalar_type())
                .unsqueeze(0)
                .expand({K, longest, opt_.position_dim});                      // [K, n, E]
  const auto length_tensor = torch::tensor(lengths, torch::kLong);
  namespace rnn = torch::nn::utils::rnn;
  auto packed = rnn::pack_padded_sequence(pe, length_tensor, /*batch_first=*/true);
  auto h = std::get<0>(rnn::pad_packed_sequence(
      std::get<0>(gru_->forward_with_packed_input(packed)), /*batch_first=*/true));  // [K, n, 2H]
  auto both = h.view({K, longest, 2, opt_.hidden}).mean(2);  // forward and backward averaged
  auto scores = score_->forward(both).squeeze(-1) / opt_.temperature;            // [K, n]
  auto valid = torch::arange(longest).unsqueeze(0) < length_tensor.unsqueeze(1);  // [K, n]
  auto w = torch::softmax(scores.masked_fill(valid.logical_not().to(scores.device()),
                                             -std::numeric_limits<double>::infinity()),
                          1);                                                   // [K, n]
  // Row b takes the weights of its count.
  std::vector<int64_t> which(static_cast<size_t>(B), 0), rows;
  for (int64_t b = 0; b < B; ++b) {
    if (count[b] == 0) continue;
    which[static_cast<size_t>(rows.size())] = std::lower_bound(lengths.begin(), lengths.end(), count[b],
                                                               std::greater<>()) - lengths.begin();
    rows.push_back(b);
  }
  which.resize(rows.size());
  auto gathered = w.index_select(0, torch::tensor(which, torch::kLong).to(w.device()));  // [R, n]
  if (longest < L) {
    gathered = torch::nn::functional::pad(gathered, torch::nn::functional::PadFuncOptions({0, L - longest}));
  }
  // Under autocast the score head ran in bf16; the weights are returned in the weights' dtype.
  return out.index_copy(0, torch::tensor(rows, torch::kLong).to(out.device()),
                        gathered.to(out.scalar_type()));
}

torch::Tensor GpoImpl::forward(const torch::Tensor& x, const torch::Tensor& mask) {
  return sorted_weighted_sum(x, mask, weights(mask));
}

}  // namespace lica::model
