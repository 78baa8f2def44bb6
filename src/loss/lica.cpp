#include "loss/lica.h"

#include "common/error.h"
#include "loss/top_k.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <sstream>
#include <vector>

namespace lica::loss {

namespace F = torch::nn::functional;

namespace {

std::string shape_of(const torch::Tensor& t) {
  std::ostringstream os;
  os << t.sizes();
  return os.str();
}

// Number of neighbours per anchor: top_k, where 0 or >= B-1 means all B-1 others.
int64_t neighbour_count(int64_t top_k, int64_t batch) {
  const int64_t others = std::max<int64_t>(batch - 1, 0);
  return (top_k <= 0 || top_k >= others) ? others : top_k;
}

// Σ_last p (log p - log q) with p = exp(log p); broadcasting shapes -> shape without the
// last dimension. An underflowed p is exactly 0 and its (finite) log difference adds 0.
torch::Tensor kl_from_logs(const torch::Tensor& log_p, const torch::Tensor& log_q) {
  return (log_p.exp() * (log_p - log_q)).sum(-1);
}

// JS(p || q) = ½ KL(p || m) + ½ KL(q || m), log m = logaddexp(log p, log q) - log 2.
torch::Tensor js_from_logs(const torch::Tensor& log_p, const torch::Tensor& log_q) {
  auto log_m = torch::logaddexp(log_p, log_q) - std::log(2.0);
  return 0.5 * (kl_from_logs(log_p, log_m) + kl_from_logs(log_q, log_m));
}


// kAuto streams on the CPU, where the chunked form was faster than the direct one at every
// B measured (256 ... 4096, docs/lica.md), and elsewhere above this many elements of the
// direct form's [count, k, B] temporaries.
constexpr int64_t kDirectFormMaxElements = int64_t{1} << 24;

// W_ij of the selected neighbours' affinities top_aff [c, k] (best first), by docs/design.md
// §4: those below min_affinity dropped, a softmax at tau_intra over the rest; 0 for dropped.
torch::Tensor neighbour_weights(const torch::Tensor& top_aff, const LicaOptions& opt) {
  auto kept = top_aff >= opt.min_affinity;  // [c, k]
  auto logits = (top_aff / opt.tau_intra)
                    .masked_fill(kept.logical_not(), -std::numeric_limits<double>::infinity());
  // An anchor with nothing kept has an all -inf row whose softmax is NaN: zero it.
  return torch::where(kept, logits.softmax(1), torch::zeros_like(logits));
}

// Puts -inf on the anchors' own columns in `block`, the affinities of the anchors
// [offset, offset + c) with the columns [c0, c0 + t): each anchor's own column goes after
// every real neighbour.
void exclude_anchors(torch::Tensor& block, int64_t offset, int64_t c0) {
  const int64_t lo = std::max(offset, c0);
  const int64_t hi = std::min(offset + block.size(0), c0 + block.size(1));
  if (lo >= hi) return;
  auto at = torch::arange(lo, hi, torch::TensorOptions().dtype(torch::kLong).device(block.device()));
  block.index_put_({at - offset, at - c0}, -std::numeric_limits<double>::infinity());
}

// Neighbours N_k(i) and weights W_ij of the anchors [offset, offset + c) from their affinity
// rows [c, B], no gradient: [c, k] global indices and [c, k] weights (0 for dropped pairs),
// by docs/design.md §4's conventions.
std::pair<torch::Tensor, torch::Tensor> select_neighbours(const torch::Tensor& affinity_rows,
                                                          int64_t offset, int64_t k,
                                                          const LicaOptions& opt) {
  torch::NoGradGuard no_grad;
  auto aff = affinity_rows.detach().clone();  // [c, B]
  exclude_anchors(aff, offset, 0);
  auto [top_aff, neighbour] = top_k_stable(aff, k);  // [c, k] each
  return {neighbour, neighbour_weights(top_aff, opt)};
}

// The [c, k] selection flattened to the pairs of weight > 0, anchor-major.
LicaPairs kept_pairs(const torch::Tensor& neighbour, const torch::Tensor& weight,
                     int64_t offset) {
  const int64_t count = neighbour.size(0), k = neighbour.size(1);
  auto anchors = torch::arange(offset, offset + count, neighbour.options())
                     .unsqueeze(1)
                     .expand({count, k});
  auto kept = weight > 0;
  return {anchors.masked_select(kept), neighbour.masked_select(kept), weight.masked_select(kept)};
}

void check_options(const LicaOptions& opt) {
  if (!(opt.tau_intra > 0.0) || !std::isfinite(opt.tau_intra)) {
    throw InputError("loss.lica.tau_intra: got " + std::to_string(opt.tau_intra) +
                     ", expected a finite value > 0");
  }
  if (opt.top_k < 0) {
    throw InputError("loss.lica.top_k: got " + std::to_string(opt.top_k) +
                     ", expected >= 0 (0 = all)");
  }
}

// Σ_pairs w · D(P_a || P_n) over flat pair lists, streamed in chunks of `chunk_rows` pairs so
// that no more than O(chunk_rows · B) is held at once; backward recomputes each chunk and
// applies the analytic gradients (with p = exp(log p), m = ½(p + q)):
//   JS: ∂/∂log p = ½ p (log p − log m),  ∂/∂log q = ½ q (log q − log m)
//   KL(p||q): ∂/∂log p = p (log p − log q) + p,  ∂/∂log q = −p
class ChunkedIntraFunction : public torch::autograd::Function<ChunkedIntraFunction> {
 public:
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& log_p,
                               const torch::Tensor& anchors, const torch::Tensor& neighbours,
                               const torch::Tensor& weights, bool kl, int64_t chunk_rows) {
    ctx->save_for_backward({log_p, anchors, neighbours, weights});
    ctx->saved_data["kl"] = kl;
    ctx->saved_data["chunk"] = chunk_rows;
    auto total = torch::zeros({}, log_p.options());
    for_chunks(anchors.size(0), chunk_rows, [&](int64_t b, int64_t e) {
      auto lp = log_p.index_select(0, anchors.slice(0, b, e));     // [c, B]
      auto lq = log_p.index_select(0, neighbours.slice(0, b, e));  // [c, B]
      auto div = kl ? kl_from_logs(lp, lq) : js_from_logs(lp, lq);  // [c]
      total += (weights.slice(0, b, e).to(div.scalar_type()) * div).sum();
    });
    return total;
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grad_out) {
    const auto saved = ctx->get_saved_variables();
    const auto& log_p = saved[0];
    const auto& anchors = saved[1];
    const auto& neighbours = saved[2];
    const bool kl = ctx->saved_data["kl"].toBool();
    auto grad = torch::zeros_like(log_p);  // [B, B]
    auto scaled = saved[3].to(log_p.scalar_type()) * grad_out[0];  // [P]
    for_chunks(anchors.size(0), ctx->saved_data["chunk"].toInt(), [&](int64_t b, int64_t e) {
      auto ia = anchors.slice(0, b, e), in = neighbours.slice(0, b, e);
      auto lp = log_p.index_select(0, ia), lq = log_p.index_select(0, in);  // [c, B]
      auto p = lp.exp();
      auto w = scaled.slice(0, b, e).unsqueeze(1);  // [c, 1]
      torch::Tensor ga, gn;
      if (kl) {
        ga = p * (lp - lq) + p;
        gn = -p;
      } else {
        auto lm = torch::logaddexp(lp, lq) - std::log(2.0);
        ga = 0.5 * p * (lp - lm);
        gn = 0.5 * lq.exp() * (lq - lm);
      }
      grad.index_add_(0, ia, w * ga);
      grad.index_add_(0, in, w * gn);
    });
    return {grad, torch::Tensor(), torch::Tensor(), torch::Tensor(), torch::Tensor(),
            torch::Tensor()};
  }

 private:
  template <typename Body>
  static void for_chunks(int64_t n, int64_t chunk, Body body) {
    for (int64_t b = 0; b < n; b += chunk) body(b, std::min(n, b + chunk));
  }
};

}  // namespace

Divergence parse_divergence(const std::string& s) {
  if (s == "js") return Divergence::kJs;
  if (s == "kl") return Divergence::kKl;
  throw InputError("loss.lica.divergence: got '" + s + "', expected 'js' or 'kl'");
}

LicaForm parse_lica_form(const std::string& s) {
  if (s == "auto") return LicaForm::kAuto;
  if (s == "direct") return LicaForm::kDirect;
  if (s == "chunked") return LicaForm::kChunked;
  if (s == "fused") return LicaForm::kFused;
  throw InputError("loss.lica.form: got '" + s +
                   "', expected 'auto', 'direct', 'chunked' or 'fused'");
}

torch::Tensor unit_rows(const torch::Tensor& emb) {
  if (emb.dim() != 2) {
    throw Error("unit_rows: expected embeddings [B, D], got " + shape_of(emb));
  }
  torch::NoGradGuard no_grad;
  return F::normalize(emb.detach(), F::NormalizeFuncOptions().p(2).dim(1));  // [B, D]
}

torch::Tensor affinity_from_embeddings(const torch::Tensor& emb) {
  auto unit = unit_rows(emb);    // [B, D]
  return unit.matmul(unit.t());  // [B, B]
}

LicaPairs lica_pairs(const torch::Tensor& unit, int64_t offset, int64_t count,
                     const LicaOptions& opt) {
  check_options(opt);
  const int64_t batch = unit.size(0);
  if (offset < 0 || count < 0 || offset + count > batch) {
    throw Error("lica_pairs: anchors [" + std::to_string(offset) + ", " +
                std::to_string(offset + count) + ") outside the batch of " +
                std::to_string(batch));
  }
  if (opt.tile_cols < 1) {
    throw InputError("loss.lica.tile_cols: got " + std::to_string(opt.tile_cols) +
                     ", expected >= 1");
  }
  torch::NoGradGuard no_grad;
  const int64_t k = neighbour_count(opt.top_k, batch);
  const int64_t chunk = std::max<int64_t>(opt.chunk_rows, 1);
  std::vector<torch::Tensor> anchor, neighbour, weight;
  for (int64_t b = offset; b < offset + count; b += chunk) {
    const int64_t e = std::min(offset + count, b + chunk);
    const auto anchors = unit.slice(0, b, e);
    // The anchors' affinity rows [c, B], streamed tile_cols columns at a time.
    auto [top_aff, n] = top_k_streamed(batch, k, opt.tile_cols, [&](int64_t c0, int64_t c1) {
      auto block = anchors.matmul(unit.slice(0, c0, c1).t());  // [c, t]
      exclude_anchors(block, b, c0);
      return block;
    });
    auto pairs = kept_pairs(n, neighbour_weights(top_aff, opt), b);
    anchor.push_back(pairs.anchor);
    neighbour.push_back(pairs.neighbour);
    weight.push_back(pairs.weight);
  }
  if (anchor.empty()) {
    auto none = torch::zeros({0}, torch::TensorOptions().dtype(torch::kLong).device(unit.device()));
    return {none, none, torch::zeros({0}, unit.options())};
  }
  return {torch::cat(anchor), torch::cat(neighbour), torch::cat(weight)};
}

torch::Tensor affinity_from_inputs(const torch::Tensor& features, const torch::Tensor& mask) {
  if (features.dim() != 3 || mask.dim() != 2 || mask.size(0) != features.size(0) ||
      mask.size(1) != features.size(1) || mask.scalar_type() != torch::kBool) {
    throw Error("affinity_from_inputs: expected features [B, L, D] and a bool mask [B, L], got " +
                shape_of(features) + " and " + shape_of(mask));
  }
  torch::NoGradGuard no_grad;
  auto valid = mask.to(features.scalar_type()).unsqueeze(-1);  // [B, L, 1]
  auto counts = valid.sum(1);                                  // [B, 1]
  auto empty = (counts.squeeze(1) == 0).nonzero();             // [n, 1]
  if (empty.size(0) > 0) {
    throw InputError("affinity_from_inputs: sample " +
                     std::to_string(empty[0][0].item<int64_t>()) +
                     " of the batch has no valid frame/token (its mask row is all false)");
  }
  auto mean = (features.detach() * valid).sum(1) / counts;  // [B, D]
  return affinity_from_embeddings(mean);
}

torch::Tensor intra_consistency_loss(const torch::Tensor& log_p, const torch::Tensor& affinity,
                                     int64_t offset, int64_t count, const LicaOptions& opt) {
  if (log_p.dim() != 2 || log_p.size(0) != log_p.size(1) ||
      affinity.sizes() != log_p.sizes()) {
    throw Error("intra_consistency_loss: expected log_p and affinity [B, B], got " +
                shape_of(log_p) + " and " + shape_of(affinity));
  }
  const int64_t batch = log_p.size(0);
  if (offset < 0 || count < 0 || offset + count > batch) {
    throw Error("intra_consistency_loss: anchors [" + std::to_string(offset) + ", " +
                std::to_string(offset + count) + ") outside the batch of " +
                std::to_string(batch));
  }
  check_options(opt);
  if (opt.form == LicaForm::kFused) {
    throw Error("intra_consistency_loss: the fused form takes embeddings, not log_p: call "
                "fused_intra_consistency_loss (lica_fused.h)");
  }
  const int64_t k = neighbour_count(opt.top_k, batch);
  const auto [neighbour, weight] =
      select_neighbours(affinity.slice(0, offset, offset + count), offset, k, opt);
  const bool chunked =
      opt.form == LicaForm::kChunked ||
      (opt.form == LicaForm::kAuto &&
       (log_p.is_cpu() || count * k * batch > kDirectFormMaxElements));
  if (chunked) {
    // Only the pairs that carry weight: dropped neighbours cost nothing.
    const auto pairs = kept_pairs(neighbour, weight, offset);
    return ChunkedIntraFunction::apply(log_p, pairs.anchor, pairs.neighbour, pairs.weight,
                                       opt.divergence == Divergence::kKl, opt.chunk_rows) /
           static_cast<double>(batch);
  }
  auto anchor = log_p.slice(0, offset, offset + count).unsqueeze(1);  // [c, 1, B]
  auto others = log_p.index_select(0, neighbour.reshape({-1}))
                    .view({count, k, batch});                         // [c, k, B]
  auto div = opt.divergence == Divergence::kKl ? kl_from_logs(anchor, others)
                                               : js_from_logs(anchor, others);  // [c, k]
  return (weight.to(log_p.scalar_type()) * div).sum() / static_cast<double>(batch);
}

}  // namespace lica::loss
