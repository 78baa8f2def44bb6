#include "loss/lica_fused.h"

#include <ATen/Parallel.h>

#include <algorithm>
#include <limits>

#include "common/error.h"
#include "kernels/lica_pair_math.h"
#include "loss/lica_tiles.h"

#ifdef LICA_WITH_CUDA
#include <ATen/cuda/CUDAContext.h>

#include "kernels/lica_fused_cuda.h"
#endif

namespace lica::loss {

using kernels::pair_column;

namespace {

torch::Tensor begin_offsets(const torch::Tensor& sorted_keys, int64_t rows) {
  auto counts = torch::bincount(sorted_keys, {}, rows);  // [rows]
  return torch::cat({torch::zeros({1}, counts.options()), counts.cumsum(0)});
}

}  // namespace

IndexedPairs index_pairs(const torch::Tensor& anchor, const torch::Tensor& neighbour,
                         int64_t rows) {
  IndexedPairs ip;
  ip.anchor = anchor.contiguous();
  ip.neighbour = neighbour.contiguous();
  ip.anchor_begin = begin_offsets(ip.anchor, rows);  // pairs come anchor-major
  ip.by_neighbour =
      std::get<1>(ip.neighbour.sort(/*stable=*/true, /*dim=*/0, /*descending=*/false))
          .contiguous();
  ip.neighbour_begin = begin_offsets(ip.neighbour, rows);
  return ip;
}

namespace {

// ---- CPU reference of the two tile operations (kernels/lica_fused_cuda.h says what they do) ----

// prob = exp(logp) of the tile, taken once by the caller (vectorised) rather than per pair.
template <typename T>
void pair_forward_cpu(const T* logp, const T* prob, int64_t cols, const IndexedPairs& ip,
                      bool kl, T* term, T* grad_anchor_sum) {
  const int64_t* anchor = ip.anchor.data_ptr<int64_t>();
  const int64_t* neighbour = ip.neighbour.data_ptr<int64_t>();
  at::parallel_for(0, ip.anchor.numel(), 16, [&](int64_t b, int64_t e) {
    for (int64_t p = b; p < e; ++p) {
      const int64_t a = anchor[p] * cols, n = neighbour[p] * cols;
      T t = 0, ga = 0;
      for (int64_t c = 0; c < cols; ++c) {
        const auto col = pair_column(logp[a + c], logp[n + c], prob[a + c], prob[n + c], kl);
        t += col.term;
        ga += col.grad_anchor;
      }
      term[p] += t;
      grad_anchor_sum[p] += ga;
    }
  });
}

template <typename T>
void row_gradient_cpu(const T* logp, const T* prob, int64_t rows, int64_t cols,
                      const IndexedPairs& ip, const T* weight, const T* row_sum, bool kl,
                      T* grad) {
  const int64_t* anchor = ip.anchor.data_ptr<int64_t>();
  const int64_t* neighbour = ip.neighbour.data_ptr<int64_t>();
  const int64_t* anchor_begin = ip.anchor_begin.data_ptr<int64_t>();
  const int64_t* by_neighbour = ip.by_neighbour.data_ptr<int64_t>();
  const int64_t* neighbour_begin = ip.neighbour_begin.data_ptr<int64_t>();
  at::parallel_for(0, rows, 1, [&](int64_t b, int64_t e) {
    for (int64_t r = b; r < e; ++r) {
      const int64_t own = r * cols;
      T* g = grad + own;
      std::fill(g, g + cols, T(0));
      for (int64_t p = anchor_begin[r]; p < anchor_begin[r + 1]; ++p) {
        const int64_t other = neighbour[p] * cols;
        for (int64_t c = 0; c < cols; ++c) {
          g[c] += weight[p] * pair_column(logp[own + c], logp[other + c], prob[own + c],
                                          prob[other + c], kl)
                                  .grad_anchor;
        }
      }
      for (int64_t i = neighbour_begin[r]; i < neighbour_begin[r + 1]; ++i) {
        const int64_t p = by_neighbour[i];
        const int64_t other = anchor[p] * cols;
        for (int64_t c = 0; c < cols; ++c) {
          g[c] += weight[p] * pair_column(logp[other + c], logp[own + c], prob[other + c],
                                          prob[own + c], kl)
                                  .grad_neighbour;
        }
      }
      for (int64_t c = 0; c < cols; ++c) g[c] -= prob[own + c] * row_sum[r];
    }
  });
}

#ifdef LICA_WITH_CUDA
kernels::DevicePairs device_pairs(const IndexedPairs& ip) {
  kernels::DevicePairs d;
  d.anchor = ip.anchor.data_ptr<int64_t>();
  d.neighbour = ip.neighbour.data_ptr<int64_t>();
  d.count = ip.anchor.numel();
  d.anchor_begin = ip.anchor_begin.data_ptr<int64_t>();
  d.by_neighbour = ip.by_neighbour.data_ptr<int64_t>();
  d.neighbour_begin = ip.neighbour_begin.data_ptr<int64_t>();
  return d;
}

void check_cuda(cudaError_t err, const char* what) {
  if (err != cudaSuccess) {
    throw Error(std::string("fused LICA: ") + what + " failed: " + cudaGetErrorString(err));
  }
}
#endif

[[noreturn]] void no_cuda() {
  throw Error("fused LICA: CUDA tensors need a build with CUDA (LICA_WITH_CUDA, kernels/); "
              "this build has the CPU form only");
}

}  // namespace

// term[p] += Σ_c over the tile; grad_anchor_sum likewise. logp: [B, tile] contiguous.
void pair_forward(const torch::Tensor& logp, const IndexedPairs& ip, bool kl, torch::Tensor& term,
                  torch::Tensor& grad_anchor_sum) {
  AT_DISPATCH_FLOATING_TYPES(logp.scalar_type(), "lica_pair_forward", [&] {
    if (logp.is_cuda()) {
#ifdef LICA_WITH_CUDA
      check_cuda(kernels::pair_forward<scalar_t>(
                     logp.data_ptr<scalar_t>(), logp.size(1), device_pairs(ip), kl,
                     term.data_ptr<scalar_t>(), grad_anchor_sum.data_ptr<scalar_t>(),
                     at::cuda::getCurrentCUDAStream()),
                 "pair_forward");
#else
      no_cuda();
#endif
    } else {
      const auto prob = logp.exp();
      pair_forward_cpu<scalar_t>(logp.data_ptr<scalar_t>(), prob.data_ptr<scalar_t>(),
                                 logp.size(1), ip, kl, term.data_ptr<scalar_t>(),
                                 grad_anchor_sum.data_ptr<scalar_t>());
    }
  });
}

// d loss / d logits of the tile: [B, tile].
torch::Tensor row_gradient(const torch::Tensor& logp, const IndexedPairs& ip,
                           const torch::Tensor& weight, const torch::Tensor& row_sum, bool kl) {
  auto grad = torch::empty_like(logp);
  AT_DISPATCH_FLOATING_TYPES(logp.scalar_type(), "lica_row_gradient", [&] {
    if (logp.is_cuda()) {
#ifdef LICA_WITH_CUDA
      check_cuda(kernels::row_gradient<scalar_t>(
                     logp.data_ptr<scalar_t>(), logp.size(0), logp.size(1), device_pairs(ip),
                     weight.data_ptr<scalar_t>(), row_sum.data_ptr<scalar_t>(), kl,
                     grad.data_ptr<scalar_t>(), at::cuda::getCurrentCUDAStream()),
                 "row_gradient");
#else
      no_cuda();
#endif
    } else {
      const auto prob = logp.exp();
      row_gradient_cpu<scalar_t>(logp.data_ptr<scalar_t>(), prob.data_ptr<scalar_t>(),
                                 logp.size(0), logp.size(1), ip, weight.data_ptr<scalar_t>(),
                                 row_sum.data_ptr<scalar_t>(), kl, grad.data_ptr<scalar_t>());
    }
  });
  return grad;
}

namespace {

class FusedIntraFunction : public torch::autograd::Function<FusedIntraFunction> {
 public:
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& rows,
                               const torch::Tensor& cols, const torch::Tensor& scale,
                               const torch::Tensor& anchor, const torch::Tensor& neighbour,
                               const torch::Tensor& weight, bool kl, int64_t tile_cols) {
    const int64_t batch = rows.size(0);
    const auto ip = index_pairs(anchor, neighbour, batch);
    // Pass 1: each row's log-sum-exp over all columns.
    auto lse = torch::full({batch}, -std::numeric_limits<double>::infinity(), rows.options());
    for_tiles(cols.size(0), tile_cols, [&](int64_t b, int64_t e) {
      lse = torch::logaddexp(lse, (scale * rows.matmul(cols.slice(0, b, e).t())).logsumexp(1));
    });
    // Pass 2: each pair's divergence, tile by tile.
    auto term = torch::zeros({ip.anchor.numel()}, rows.options());
    auto grad_anchor_sum = torch::zeros_like(term);
    for_tiles(cols.size(0), tile_cols, [&](int64_t b, int64_t e) {
      auto logp = (scale * rows.matmul(cols.slice(0, b, e).t()) - lse.unsqueeze(1)).contiguous();
      pair_forward(logp, ip, kl, term, grad_anchor_sum);
    });
    const auto w = weight.to(rows.scalar_type());
    ctx->save_for_backward({rows, cols, scale, lse, w, term, grad_anchor_sum, ip.anchor,
                            ip.neighbour, ip.anchor_begin, ip.by_neighbour, ip.neighbour_begin});
    ctx->saved_data["kl"] = kl;
    ctx->saved_data["tile"] = tile_cols;
    return (w * term).sum();
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grad_out) {
    const auto s = ctx->get_saved_variables();
    const auto &rows = s[0], &cols = s[1], &scale = s[2], &lse = s[3];
    const IndexedPairs ip{s[7], s[8], s[9], s[10], s[11]};
    const bool kl = ctx->saved_data["kl"].toBool();
    const int64_t batch = rows.size(0);
    auto weight = (s[4] * grad_out[0]).contiguous();  // [P]
    // Σ_c of each row's gradient with respect to its log-probabilities, from the forward's
    // per-pair sums: the anchor half, and the neighbour half (term - anchor half).
    auto row_sum = torch::zeros({batch}, rows.options());
    row_sum.index_add_(0, ip.anchor, weight * s[6]);
    row_sum.index_add_(0, ip.neighbour, weight * (s[5] - s[6]));
    auto grad_rows = torch::zeros_like(rows);
    auto grad_cols = torch::zeros_like(cols);
    auto grad_scale = torch::zeros_like(scale);
    for_tiles(cols.size(0), ctx->saved_data["tile"].toInt(), [&](int64_t b, int64_t e) {
      auto tile_cols = cols.slice(0, b, e);              // [t, D]
      auto dot = rows.matmul(tile_cols.t());             // [B, t]
      auto logp = (scale * dot - lse.unsqueeze(1)).contiguous();
      auto grad_logits = row_gradient(logp, ip, weight, row_sum, kl);  // [B, t]
      grad_rows.add_(grad_logits.matmul(tile_cols), 1);
      grad_cols.slice(0, b, e).copy_(grad_logits.t().matmul(rows));
      grad_scale += (grad_logits * dot).sum();
    });
    return {grad_rows * scale, grad_cols * scale, grad_scale, torch::Tensor(), torch::Tensor(),
            torch::Tensor(), torch::Tensor(), torch::Tensor()};
  }
};

}  // namespace

torch::Tensor fused_intra_consistency_loss(const torch::Tensor& rows, const torch::Tensor& cols,
                                           const torch::Tensor& scale, const LicaPairs& pairs,
                                           Divergence divergence, int64_t tile_cols) {
  if (rows.dim() != 2 || cols.dim() != 2 || rows.sizes() != cols.sizes() || scale.dim() != 0) {
    throw Error("fused_intra_consistency_loss: expected rows and cols [B, D] and a 0-d scale");
  }
  if (tile_cols < 1) {
    throw InputError("loss.lica.tile_cols: got " + std::to_string(tile_cols) +
                     ", expected >= 1");
  }
  const auto batch = static_cast<double>(rows.size(0));
  const auto device = rows.device();
  return FusedIntraFunction::apply(rows.contiguous(), cols.contiguous(), scale,
                                   pairs.anchor.to(device), pairs.neighbour.to(device),
                                   pairs.weight.to(device), divergence == Divergence::kKl,
                                   tile_cols) /
         batch;
}

bool fused_lica_has_cuda() {
#ifdef LICA_WITH_CUDA
  return true;
#else
  return false;
#endif
}

}  // namespace lica::loss
