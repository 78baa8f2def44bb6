#include "loss/infonce_tiled.h"

#include <limits>
#include <string>

#include "common/error.h"

namespace lica::loss {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// Forward: lse_r = logsumexp_k(s·rows_r·cands_k) tile by tile; loss = Σ_r (lse_r - positive_r)
// / global. Backward, with p = softmax over the candidates (recomputed per tile from lse):
// d logits = (p - onehot(offset + r)) / global, so d rows = s·p·C - s·C_pos,
// d cands = s·pᵀ·R - s·R at the positives, d s = Σ p·(R·Cᵀ) - Σ R·C_pos.
struct TiledCrossEntropy : torch::autograd::Function<TiledCrossEntropy> {
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& rows,
                               const torch::Tensor& cands, const torch::Tensor& scale,
                               int64_t offset, int64_t global_batch, int64_t tile) {
    const int64_t b = rows.size(0), n = cands.size(0);
    auto lse = torch::full({b}, -std::numeric_limits<double>::infinity(), rows.options());
    for (int64_t c0 = 0; c0 < n; c0 += tile) {
      const auto logits = scale * rows.matmul(cands.slice(0, c0, std::min(n, c0 + tile)).t());
      lse = torch::logaddexp(lse, logits.logsumexp(1));
    }
    const auto positive = scale * (rows * cands.slice(0, offset, offset + b)).sum(1);
    ctx->save_for_backward({rows, cands, scale, lse});
    ctx->saved_data["offset"] = offset;
    ctx->saved_data["global_batch"] = global_batch;
    ctx->saved_data["tile"] = tile;
    return (lse - positive).sum() / static_cast<double>(global_batch);
  }

  static variable_list backward(AutogradContext* ctx, variable_list grad_outputs) {
    const auto saved = ctx->get_saved_variables();
    const auto &rows = saved[0], &cands = saved[1], &scale = saved[2], &lse = saved[3];
    const int64_t offset = ctx->saved_data["offset"].toInt();
    const int64_t tile = ctx->saved_data["tile"].toInt();
    const auto g = grad_outputs[0] / static_cast<double>(ctx->saved_data["global_batch"].toInt());
    const int64_t b = rows.size(0), n = cands.size(0);
    auto d_rows = torch::zeros_like(rows);
    auto d_cands = torch::zeros_like(cands);
    auto d_scale = torch::zeros({}, scale.options());
    for (int64_t c0 = 0; c0 < n; c0 += tile) {
      const auto c = cands.slice(0, c0, std::min(n, c0 + tile));
      const auto dot = rows.matmul(c.t());                      // [b, t]
      const auto p = (scale * dot - lse.unsqueeze(1)).exp_();  // softmax, this tile
      d_rows.add_(p.matmul(c));
      d_cands.slice(0, c0, std::min(n, c0 + tile)).add_(p.t().matmul(rows));
      d_scale.add_((p * dot).sum());
    }
    const auto positive_cands = cands.slice(0, offset, offset + b);
    d_rows.sub_(positive_cands);
    d_cands.slice(0, offset, offset + b).sub_(rows);
    d_scale.sub_((rows * positive_cands).sum());
    return {d_rows.mul_(scale * g), d_cands.mul_(scale * g), (d_scale * g).reshape(scale.sizes()),
            torch::Tensor(), torch::Tensor(), torch::Tensor()};
  }
};

}  // namespace

torch::Tensor tiled_cross_entropy(const torch::Tensor& rows, const torch::Tensor& cands,
                                  const torch::Tensor& scale, int64_t offset,
                                  int64_t global_batch, int64_t tile) {
  if (tile < 1) throw Error("tiled_cross_entropy: tile " + std::to_string(tile) + " < 1");
  if (offset < 0 || offset + rows.size(0) > cands.size(0)) {
    throw Error("tiled_cross_entropy: rows [" + std::to_string(offset) + ", " +
                std::to_string(offset + rows.size(0)) + ") have no positives among " +
                std::to_string(cands.size(0)) + " candidates");
  }
  return TiledCrossEntropy::apply(rows, cands, scale.reshape({}), offset, global_batch, tile)
      .reshape({});
}

torch::Tensor tiled_candidates_infonce(const torch::Tensor& video_rows,
                                       const torch::Tensor& video_cands,
                                       const torch::Tensor& text_rows,
                                       const torch::Tensor& text_cands, const torch::Tensor& scale,
                                       int64_t offset, int64_t global_batch, int64_t tile) {
  return 0.5 * (tiled_cross_entropy(video_rows, video_cands, scale, offset, global_batch, tile) +
                tiled_cross_entropy(text_rows, text_cands, scale, offset, global_batch, tile));
}

torch::Tensor tiled_infonce_loss(const torch::Tensor& local_video, const torch::Tensor& local_text,
                                 const torch::Tensor& all_video, const torch::Tensor& all_text,
                                 const torch::Tensor& scale, int64_t offset, int64_t tile) {
  return tiled_candidates_infonce(local_video, all_text, local_text, all_video, scale, offset,
                                  all_video.size(0), tile);
}

}  // namespace lica::loss
