#include "model/self_attention.h"

#include <ATen/Parallel.h>
#include <torch/version.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

// at::scaled_dot_product_attention with its `scale` argument: LibTorch 2.1 and later.
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 1)
#define LICA_HAVE_SDPA 1
#endif

namespace lica::model {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// a · b over n elements, in eight running sums the compiler can keep in vector registers.
template <typename T>
T dot(const T* a, const T* b, int64_t n) {
  T acc[8] = {};
  int64_t d = 0;
  for (; d + 8 <= n; d += 8) {
    for (int u = 0; u < 8; ++u) acc[u] += a[d + u] * b[d + u];
  }
  T sum = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
  for (; d < n; ++d) sum += a[d] * b[d];
  return sum;
}

// out[0:n] += w · x[0:n]
template <typename T>
void axpy(T w, const T* x, T* out, int64_t n) {
  for (int64_t d = 0; d < n; ++d) out[d] += w * x[d];
}

// The shape of one call: B samples of L positions, `heads` heads of width hd; row stride
// 3E in qkv (q, k, v blocks of E = heads · hd columns), E in the output.
struct Shape {
  int64_t batch, len, heads, hd;
  int64_t width() const { return heads * hd; }
};

// Forward for the (sample, head) pairs [begin, end): probabilities into probs [B, H, L, L],
// outputs into out [B, L, E].
template <typename T>
void forward_pairs(const Shape& s, const T* qkv, const bool* pad, T scale, T* probs, T* out,
                   int64_t begin, int64_t end) {
  const int64_t E = s.width(), L = s.len, row = 3 * E;
  for (int64_t pair = begin; pair < end; ++pair) {
    const int64_t b = pair / s.heads, h = pair % s.heads;
    const T* base = qkv + b * L * row + h * s.hd;
    T* p = probs + pair * L * L;
    for (int64_t i = 0; i < L; ++i) {
      T* pi = p + i * L;
      T top = -std::numeric_limits<T>::infinity();
      for (int64_t j = 0; j < L; ++j) {
        pi[j] = (pad != nullptr && pad[b * L + j])
                    ? -std::numeric_limits<T>::infinity()
                    : scale * dot(base + i * row, base + j * row + E, s.hd);
        top = std::max(top, pi[j]);
      }
      T sum = 0;
      for (int64_t j = 0; j < L; ++j) sum += (pi[j] = std::exp(pi[j] - top));
      T* o = out + (b * L + i) * E + h * s.hd;
      std::fill(o, o + s.hd, T(0));
      for (int64_t j = 0; j < L; ++j) {
        pi[j] /= sum;
        axpy(pi[j], base + j * row + 2 * E, o, s.hd);
      }
    }
  }
}

// Backward for the pairs [begin, end): d out [B, L, E] -> d qkv [B, L, 3E] (each pair
// writes only its head's columns).
template <typename T>
void backward_pairs(const Shape& s, const T* qkv, const T* probs, const T* grad_out, T scale,
                    T* grad_qkv, int64_t begin, int64_t end) {
  const int64_t E = s.width(), L = s.len, row = 3 * E;
  std::vector<T> ds(static_cast<size_t>(L * L));
  for (int64_t pair = begin; pair < end; ++pair) {
    const int64_t b = pair / s.heads, h = pair % s.heads;
    const T* base = qkv + b * L * row + h * s.hd;
    T* gbase = grad_qkv + b * L * row + h * s.hd;
    const T* go = grad_out + b * L * E + h * s.hd;
    const T* p = probs + pair * L * L;
    for (int64_t i = 0; i < L; ++i) {
      // dP = dO vᵀ, dS = P ∘ (dP - rowsum(P ∘ dP)); dV += Pᵀ dO.
      T inner = 0;
      for (int64_t j = 0; j < L; ++j) {
        ds[i * L + j] = dot(go + i * E, base + j * row + 2 * E, s.hd);
        inner += p[i * L + j] * ds[i * L + j];
        axpy(p[i * L + j], go + i * E, gbase + j * row + 2 * E, s.hd);
      }
      for (int64_t j = 0; j < L; ++j) ds[i * L + j] = p[i * L + j] * (ds[i * L + j] - inner);
    }
    for (int64_t i = 0; i < L; ++i) {
      for (int64_t j = 0; j < L; ++j) {
        const T w = scale * ds[i * L + j];
        axpy(w, base + j * row + E, gbase + i * row, s.hd);  // dQ_i += scale dS_ij K_j
        axpy(w, base + i * row, gbase + j * row + E, s.hd);  // dK_j += scale dS_ij Q_i
      }
    }
  }
}

// Pairs per task: enough work per task that the thread pool's overhead stays small.
int64_t grain(const Shape& s) { return std::max<int64_t>(1, 4096 / (s.len * s.len * s.hd)); }

struct FusedAttention : public torch::autograd::Function<FusedAttention> {
  // pad: [B, L] bool, or empty for no padding.
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& qkv,
                               const torch::Tensor& pad, int64_t heads, double scale) {
    const Shape s{qkv.size(0), qkv.size(1), heads, qkv.size(2) / 3 / heads};
    auto out = torch::empty({s.batch, s.len, s.width()}, qkv.options());
    auto probs = torch::empty({s.batch, heads, s.len, s.len}, qkv.options());
    AT_DISPATCH_FLOATING_TYPES(qkv.scalar_type(), "fused_attention_forward", [&] {
      const scalar_t* in = qkv.data_ptr<scalar_t>();
      const bool* mask = pad.numel() > 0 ? pad.data_ptr<bool>() : nullptr;
      at::parallel_for(0, s.batch * heads, grain(s), [&](int64_t begin, int64_t end) {
        forward_pairs<scalar_t>(s, in, mask, static_cast<scalar_t>(scale),
                                probs.data_ptr<scalar_t>(), out.data_ptr<scalar_t>(), begin, end);
      });
    });
    ctx->save_for_backward({qkv, probs});
    ctx->saved_data["heads"] = heads;
    ctx->saved_data["scale"] = scale;
    return out;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const auto& qkv = saved[0];
    const auto& probs = saved[1];
    const int64_t heads = ctx->saved_data["heads"].toInt();
    const double scale = ctx->saved_data["scale"].toDouble();
    const Shape s{qkv.size(0), qkv.size(1), heads, qkv.size(2) / 3 / heads};
    const auto grad_out = grads[0].contiguous();
    auto grad_qkv = torch::zeros_like(qkv);
    AT_DISPATCH_FLOATING_TYPES(qkv.scalar_type(), "fused_attention_backward", [&] {
      at::parallel_for(0, s.batch * heads, grain(s), [&](int64_t begin, int64_t end) {
        backward_pairs<scalar_t>(s, qkv.data_ptr<scalar_t>(), probs.data_ptr<scalar_t>(),
                                 grad_out.data_ptr<scalar_t>(), static_cast<scalar_t>(scale),
                                 grad_qkv.data_ptr<scalar_t>(), begin, end);
      });
    });
    return {grad_qkv, torch::Tensor(), torch::Tensor(), torch::Tensor()};
  }
};

// The same core from matmul and softmax: any device and dtype, dropout.
torch::Tensor unfused_core(const torch::Tensor& qkv, const torch::Tensor& key_padding,
                           int64_t heads, double scale, double dropout, bool training) {
  const int64_t B = qkv.size(0), L = qkv.size(1), E = qkv.size(2) / 3;
  const auto parts = qkv.view({B, L, 3, heads, E / heads}).permute({2, 0, 3, 1, 4});
  const auto q = parts[0], k = parts[1], v = parts[2];  // [B, H, L, hd]
  auto scores = torch::matmul(q, k.transpose(-1, -2)) * scale;  // [B, H, L, L]
  if (key_padding.defined()) {
    scores = scores.masked_fill(key_padding.view({B, 1, 1, L}),
                                -std::numeric_limits<double>::infinity());
  }
  const auto weights = torch::dropout(scores.softmax(-1), dropout, training);
  return torch::matmul(weights, v).transpose(1, 2).reshape({B, L, E});
}

#ifdef LICA_HAVE_SDPA
// The same core by ATen's scaled_dot_product_attention: on CUDA its flash or memory-efficient
// kernels (issue 17), one kernel for the scores, the softmax and the product, nothing
// [B, H, L, L] kept for backward. Its boolean mask is true where a key takes part.
torch::Tensor sdpa_core(const torch::Tensor& qkv, const torch::Tensor& key_padding, int64_t heads,
                        double scale, double dropout, bool training) {
  const int64_t B = qkv.size(0), L = qkv.size(1), E = qkv.size(2) / 3;
  const auto parts = qkv.view({B, L, 3, heads, E / heads}).permute({2, 0, 3, 1, 4});
  const double p = training ? dropout : 0.0;
  // No mask is an empty optional ({}): an undefined tensor in it would be taken for a mask.
  const auto out = key_padding.defined()
                       ? at::scaled_dot_product_attention(
                             parts[0], parts[1], parts[2], key_padding.logical_not().view({B, 1, 1, L}),
                             p, /*is_causal=*/false, scale)
                       : at::scaled_dot_product_attention(parts[0], parts[1], parts[2], {}, p,
                                                          /*is_causal=*/false, scale);
  return out.transpose(1, 2).reshape({B, L, E});
}
#endif

}  // namespace

torch::Tensor attention_core(const torch::Tensor& qkv, const torch::Tensor& key_padding,
                             int64_t heads, double scale, double dropout, bool training,
                             bool fused) {
  TORCH_CHECK(qkv.dim() == 3 && qkv.size(2) % (3 * heads) == 0,
              "attention_core: expected qkv [B, L, 3E] with E divisible by ", heads,
              " heads, got ", qkv.sizes());
  TORCH_CHECK(!key_padding.defined() ||
                  (key_padding.dim() == 2 && key_padding.size(0) == qkv.size(0) &&
                   key_padding.size(1) == qkv.size(1)),
              "attention_core: key_padding must be [B, L] = [", qkv.size(0), ", ", qkv.size(1),
              "], got ", key_padding.sizes());
#ifdef LICA_HAVE_SDPA
  if (fused && qkv.is_cuda()) return sdpa_core(qkv, key_padding, heads, scale, dropout, training);
#endif
  const auto type = qkv.scalar_type();
  const bool cpu_kernel = fused && qkv.device().is_cpu() &&
                          (type == torch::kFloat || type == torch::kDouble) &&
                          !(training && dropout > 0.0);
  if (!cpu_kernel) return unfused_core(qkv, key_padding, heads, scale, dropout, training);
  // No padding is an empty mask: autograd functions take defined tensors.
  const auto pad = key_padding.defined() ? key_padding.to(torch::kBool).contiguous()
                                         : torch::empty({0}, torch::kBool);
  return FusedAttention::apply(qkv.contiguous(), pad, heads, scale);
}

torch::Tensor self_attend(torch::nn::MultiheadAttentionImpl& attention, const torch::Tensor& x,
                          const torch::Tensor& key_padding) {
  namespace F = torch::nn::functional;
  const int64_t heads = attention.options.num_heads();
  const int64_t embed_dim = x.size(-1);
  TORCH_CHECK(x.dim() == 3 && embed_dim % heads == 0,
              "self_attend: expected x [B, L, E] with E divisible by ", heads, " heads, got ",
              x.sizes());
  TORCH_CHECK(attention.in_proj_weight.defined() && !attention.bias_k.defined() &&
                  !attention.options.add_zero_attn(),
              "self_attend: needs a packed in-projection, no bias_k/bias_v and no zero attention");
  const auto qkv = F::linear(x, attention.in_proj_weight, attention.in_proj_bias);  // [B, L, 3E]
  const double scale = 1.0 / std::sqrt(static_cast<double>(embed_dim / heads));
  const auto out = attention_core(qkv, key_padding, heads, scale, attention.options.dropout(),
                                  attention.is_training());
  return F::linear(out, attention.out_proj->weight, attention.out_proj->bias);
}

}  // namespace lica::model
