#include "model/attention.h"

#include <cmath>
#include <limits>

namespace lica::model {

torch::Tensor attend(torch::nn::MultiheadAttentionImpl& attention, const torch::Tensor& query,
                     const torch::Tensor& keys, const torch::Tensor& key_padding) {
  namespace F = torch::nn::functional;
  const int64_t tgt_len = query.size(0), bsz = query.size(1), embed_dim = query.size(2);
  const int64_t heads = attention.options.num_heads();
  const int64_t head_dim = embed_dim / heads;
  TORCH_CHECK(keys.dim() == 3 && keys.size(1) == bsz && keys.size(2) == embed_dim &&
                  head_dim * heads == embed_dim,
              "attend: expected query [L, B, E] and keys [S, B, E] with E divisible by ", heads,
              " heads, got ", query.sizes(), " and ", keys.sizes());
  TORCH_CHECK(attention.in_proj_weight.defined() && !attention.bias_k.defined() &&
                  !attention.options.add_zero_attn(),
              "attend: needs a packed in-projection, no bias_k/bias_v and no zero attention");
  const auto& w = attention.in_proj_weight;  // [3E, E]: q, k, v rows
  const auto& b = attention.in_proj_bias;
  const auto rows = [&](int64_t begin, int64_t end) {
    return std::make_pair(w.slice(0, begin, end), b.defined() ? b.slice(0, begin, end) : b);
  };
  torch::Tensor q, k, v;
  if (query.is_same(keys)) {  // self-attention: one projection, as LibTorch
    const auto chunks = F::linear(query, w, b).chunk(3, /*dim=*/-1);
    q = chunks[0], k = chunks[1], v = chunks[2];
  } else {  // cross-attention: keys and values from the same tensor
    const auto [wq, bq] = rows(0, embed_dim);
    q = F::linear(query, wq, bq);
    const auto [wkv, bkv] = rows(embed_dim, 3 * embed_dim);
    const auto chunks = F::linear(keys, wkv, bkv).chunk(2, /*dim=*/-1);
    k = chunks[0], v = chunks[1];
  }
  const auto scaling = 1 / std::sqrt(head_dim);  // double, as LibTorch
  q = q * scaling;
  q = q.contiguous().view({tgt_len, bsz * heads, head_dim}).transpose(0, 1);
  k = k.contiguous().view({-1, bsz * heads, head_dim}).transpose(0, 1);
  v = v.contiguous().view({-1, bsz * heads, head_dim}).transpose(0, 1);
  const int64_t src_len = k.size(1);
  auto weights = torch::bmm(q, k.transpose(1, 2));  // [B * H, L, S]
  if (key_padding.defined()) {
    TORCH_CHECK(key_padding.size(0) == bsz && key_padding.size(1) == src_len,
                "attend: key_padding must be [B, S] = [", bsz, ", ", src_len, "], got ",
                key_padding.sizes());
    weights = weights.view({bsz, heads, tgt_len, src_len})
                  .masked_fill(key_padding.unsqueeze(1).unsqueeze(2),
                               -std::numeric_limits<double>::infinity())
                  .view({bsz * heads, tgt_len, src_len});
  }
  weights = torch::dropout(weights.softmax(-1), attention.options.dropout(),
                           attention.is_training());
  auto out = torch::bmm(weights, v);  // [B * H, L, head_dim]
  out = out.transpose(0, 1).contiguous().view({tgt_len, bsz, embed_dim});
  return F::linear(out, attention.out_proj->weight, attention.out_proj->bias);
}

}  // namespace lica::model
