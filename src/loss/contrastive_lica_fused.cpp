#include "loss/contrastive_lica_fused.h"

#include <limits>
#include <string>
#include <utility>

#include "common/error.h"
#include "loss/lica_tiles.h"

namespace lica::loss {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// Σ_r of each row's pair gradient with respect to its log-probabilities, from the forward's
// per-pair sums (the anchor half, and term − anchor half for the neighbour).
torch::Tensor pair_row_sums(const IndexedPairs& ip, const torch::Tensor& weight,
                            const torch::Tensor& term, const torch::Tensor& grad_anchor_sum,
                            int64_t rows) {
  auto sums = torch::zeros({rows}, term.options());
  sums.index_add_(0, ip.anchor, weight * grad_anchor_sum);
  sums.index_add_(0, ip.neighbour, weight * (term - grad_anchor_sum));
  return sums;
}

// Returns [3]: (InfoNCE, L_intra^v, L_intra^t) of this rank's share, each divided by B.
//   Forward: sweep 1 over column tiles S[:, c0:c1] gives every row's and column's
//   log-sum-exp (a column tile holds its columns whole); sweep 2 (column tiles) adds each
//   video pair's divergence, sweep 3 (row tiles, as tiles of Sᵀ) each text pair's.
//   Backward, with G the gradient with respect to S: sweep 4 (column tiles) writes the
//   InfoNCE's softmax parts, the videos' whole G (fused_intra's row_gradient) and the texts'
//   −p · row_sum part; sweep 5 (row tiles) the texts' pair part, which needs both texts'
//   columns whole. The InfoNCE's diagonal (−1 at each positive) is added after the sweeps.
struct ContrastiveLicaFunction : torch::autograd::Function<ContrastiveLicaFunction> {
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& video,
                               const torch::Tensor& text, const torch::Tensor& scale,
                               int64_t offset, int64_t count, const torch::Tensor& v_anchor,
                               const torch::Tensor& v_neighbour, const torch::Tensor& v_weight,
                               const torch::Tensor& t_anchor, const torch::Tensor& t_neighbour,
                               const torch::Tensor& t_weight, bool kl, int64_t tile) {
    const int64_t batch = video.size(0);
    const auto ipv = index_pairs(v_anchor, v_neighbour, batch);
    const auto ipt = index_pairs(t_anchor, t_neighbour, batch);
    // Sweep 1: log-sum-exp of every row (over texts) and every column (over videos).
    auto row_lse = torch::full({batch}, -std::numeric_limits<double>::infinity(), video.options());
    auto col_lse = torch::empty({batch}, video.options());
    for_tiles(batch, tile, [&](int64_t c0, int64_t c1) {
      const auto s = scale * video.matmul(text.slice(0, c0, c1).t());  // [B, t]
      row_lse = torch::logaddexp(row_lse, s.logsumexp(1));
      col_lse.slice(0, c0, c1).copy_(s.logsumexp(0));
    });
    const auto positive = scale * (video.slice(0, offset, offset + count) *
                                   text.slice(0, offset, offset + count)).sum(1);  // [b]
    const auto nce = 0.5 * ((row_lse.slice(0, offset, offset + count) - positive).sum() +
                            (col_lse.slice(0, offset, offset + count) - positive).sum());
    // Sweeps 2 and 3: each pair's divergence, tile by tile; the texts' on tiles of Sᵀ.
    const auto pair_terms = [&](const torch::Tensor& rows, const torch::Tensor& cols,
                                const torch::Tensor& lse, const IndexedPairs& ip) {
      auto term = torch::zeros({ip.anchor.numel()}, video.options());
      auto grad_anchor_sum = torch::zeros_like(term);
      for_tiles(batch, tile, [&](int64_t c0, int64_t c1) {
        const auto logp =
            (scale * rows.matmul(cols.slice(0, c0, c1).t()) - lse.unsqueeze(1)).contiguous();
        pair_forward(logp, ip, kl, term, grad_anchor_sum);
      });
      return std::make_pair(term, grad_anchor_sum);
    };
    const auto [v_term, v_ga] = pair_terms(video, text, row_lse, ipv);
    const auto [t_term, t_ga] = pair_terms(text, video, col_lse, ipt);
    const auto wv = v_weight.to(video.scalar_type());
    const auto wt = t_weight.to(video.scalar_type());
    ctx->save_for_backward({video, text, scale, row_lse, col_lse, wv, v_term, v_ga, wt, t_term,
                            t_ga, ipv.anchor, ipv.neighbour, ipv.anchor_begin, ipv.by_neighbour,
                            ipv.neighbour_begin, ipt.anchor, ipt.neighbour, ipt.anchor_begin,
                            ipt.by_neighbour, ipt.neighbour_begin});
    ctx->saved_data["offset"] = offset;
    ctx->saved_data["count"] = count;
    ctx->saved_data["kl"] = kl;
    ctx->saved_data["tile"] = tile;
    return torch::stack({nce, (wv * v_term).sum(), (wt * t_term).sum()}) /
           static_cast<double>(batch);
  }

  static variable_list backward(AutogradContext* ctx, variable_list grad_outputs) {
    const auto s = ctx->get_saved_variables();
    const auto &video = s[0], &text = s[1], &scale = s[2], &row_lse = s[3], &col_lse = s[4];
    const IndexedPairs ipv{s[11], s[12], s[13], s[14], s[15]};
    const IndexedPairs ipt{s[16], s[17], s[18], s[19], s[20]};
    const int64_t offset = ctx->saved_data["offset"].toInt();
    const int64_t count = ctx->saved_data["count"].toInt();
    const bool kl = ctx->saved_data["kl"].toBool();
    const int64_t tile = ctx->saved_data["tile"].toInt();
    const int64_t batch = video.size(0);
    const auto g = grad_outputs[0] / static_cast<double>(batch);  // [3]
    const auto nce_coef = 0.5 * g[0];
    const auto wv = (s[5] * g[1]).contiguous();
    const auto wt = (s[8] * g[2]).contiguous();
    const auto v_sum = pair_row_sums(ipv, wv, s[6], s[7], batch);
    const auto t_sum = pair_row_sums(ipt, wt, s[9], s[10], batch);
    auto d_video = torch::zeros_like(video);
    auto d_text = torch::zeros_like(text);
    auto d_scale = torch::zeros({}, video.options());
    // Sweep 4: column tiles of S.
    for_tiles(batch, tile, [&](int64_t c0, int64_t c1) {
      const auto cols = text.slice(0, c0, c1);
      const auto dot = video.matmul(cols.t());  // [B, t]
      const auto logits = scale * dot;
      const auto logp = (logits - row_lse.unsqueeze(1)).contiguous();
      auto grad = row_gradient(logp, ipv, wv, v_sum, kl);  // the videos' term, whole
      const auto p_col = (logits - col_lse.slice(0, c0, c1).unsqueeze(0)).exp_();
      grad.sub_(p_col * t_sum.slice(0, c0, c1).unsqueeze(0));  // the texts' softmax part
      grad.slice(0, offset, offset + count)
          .add_(logp.slice(0, offset, offset + count).exp() * nce_coef);  // videos' InfoNCE
      const int64_t j0 = std::max(offset, c0), j1 = std::min(offset + count, c1);
      if (j0 < j1) grad.slice(1, j0 - c0, j1 - c0).add_(p_col.slice(1, j0 - c0, j1 - c0) * nce_coef);
      d_video.add_(grad.matmul(cols));
      d_text.slice(0, c0, c1).add_(grad.t().matmul(video));
      d_scale.add_((grad * dot).sum());
    });
    // Sweep 5: row tiles of S, as column tiles of Sᵀ (texts as rows): the texts' pair part.
    const auto no_sum = torch::zeros({batch}, video.options());
    for_tiles(batch, tile, [&](int64_t c0, int64_t c1) {
      const auto rows = video.slice(0, c0, c1);
      const auto dot = text.matmul(rows.t());  // [B, t]
      const auto logp = (scale * dot - col_lse.unsqueeze(1)).contiguous();
      const auto grad = row_gradient(logp, ipt, wt, no_sum, kl);
      d_text.add_(grad.matmul(rows));
      d_video.slice(0, c0, c1).add_(grad.t().matmul(text));
      d_scale.add_((grad * dot).sum());
    });
    // The InfoNCE's positives: −1 at (i, i) in both directions.
    const auto v_local = video.slice(0, offset, offset + count);
    const auto t_local = text.slice(0, offset, offset + count);
    d_video.slice(0, offset, offset + count).sub_(t_local * (2.0 * nce_coef));
    d_text.slice(0, offset, offset + count).sub_(v_local * (2.0 * nce_coef));
    d_scale.sub_((v_local * t_local).sum() * (2.0 * nce_coef));
    variable_list out(13);  // one per forward input; the pairs and options have none
    out[0] = d_video.mul_(scale);
    out[1] = d_text.mul_(scale);
    out[2] = d_scale.reshape(scale.sizes());
    return out;
  }
};

}  // namespace

ContrastiveLica fused_contrastive_lica(const torch::Tensor& all_video, const torch::Tensor& all_text,
                                       const torch::Tensor& scale, int64_t offset, int64_t count,
                                       const LicaPairs& video_pairs, const LicaPairs& text_pairs,
                                       Divergence divergence, int64_t tile_cols) {
  if (all_video.dim() != 2 || all_video.sizes() != all_text.sizes() || scale.numel() != 1) {
    throw Error("fused_contrastive_lica: expected video and text [B, D] and a scalar scale");
  }
  if (offset < 0 || count < 0 || offset + count > all_video.size(0)) {
    throw Error("fused_contrastive_lica: rows [" + std::to_string(offset) + ", " +
                std::to_string(offset + count) + ") outside the batch of " +
                std::to_string(all_video.size(0)));
  }
  if (tile_cols < 1) {
    throw InputError("loss.lica.tile_cols: got " + std::to_string(tile_cols) + ", expected >= 1");
  }
  const auto device = all_video.device();
  const auto terms = ContrastiveLicaFunction::apply(
      all_video.contiguous(), all_text.contiguous(), scale.reshape({}), offset, count,
      video_pairs.anchor.to(device), video_pairs.neighbour.to(device),
      video_pairs.weight.to(device), text_pairs.anchor.to(device),
      text_pairs.neighbour.to(device), text_pairs.weight.to(device),
      divergence == Divergence::kKl, tile_cols);
  return {terms[0], terms[1], terms[2]};
}

}  // namespace lica::loss
