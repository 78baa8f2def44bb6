#include "loss/lica.h"

#include "common/error.h"

#include <gtest/gtest.h>

#include "support/numeric_grad.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <string>
#include <utility>
#include <vector>

namespace lica::loss {
namespace {

using Rows = std::vector<std::vector<double>>;

auto f64() { return torch::TensorOptions().dtype(torch::kDouble); }

torch::Tensor normalize(const torch::Tensor& x) { return x / x.norm(2, 1, true); }

torch::Tensor to_tensor(const Rows& rows) {
  const int64_t n = static_cast<int64_t>(rows.size());
  auto t = torch::empty({n, static_cast<int64_t>(rows[0].size())}, f64());
  for (int64_t i = 0; i < n; ++i) {
    for (size_t j = 0; j < rows[i].size(); ++j) t[i][static_cast<int64_t>(j)] = rows[i][j];
  }
  return t;
}

Rows to_rows(const torch::Tensor& t) {
  auto c = t.detach().to(torch::kDouble).contiguous();
  auto a = c.accessor<double, 2>();
  Rows rows(c.size(0), std::vector<double>(c.size(1)));
  for (int64_t i = 0; i < c.size(0); ++i) {
    for (int64_t j = 0; j < c.size(1); ++j) rows[i][j] = a[i][j];
  }
  return rows;
}

// ---- Plain-double formulas on probabilities (the hand tests) ----

double kl_prob(const std::vector<double>& p, const std::vector<double>& q) {
  double s = 0.0;
  for (size_t x = 0; x < p.size(); ++x) s += p[x] * std::log(p[x] / q[x]);
  return s;
}

double js_prob(const std::vector<double>& p, const std::vector<double>& q) {
  std::vector<double> m(p.size());
  for (size_t x = 0; x < p.size(); ++x) m[x] = 0.5 * (p[x] + q[x]);
  return 0.5 * kl_prob(p, m) + 0.5 * kl_prob(q, m);
}

double div_prob(Divergence d, const std::vector<double>& p, const std::vector<double>& q) {
  return d == Divergence::kKl ? kl_prob(p, q) : js_prob(p, q);
}

// Σ_{j in js} softmax_j(A_ij / tau) · D(P_i, P_j) for a neighbour list written by hand.
double anchor_term(const Rows& probs, const Rows& aff, size_t i, const std::vector<size_t>& js,
                   double tau, Divergence d) {
  double z = 0.0;
  for (size_t j : js) z += std::exp(aff[i][j] / tau);
  double s = 0.0;
  for (size_t j : js) s += std::exp(aff[i][j] / tau) / z * div_prob(d, probs[i], probs[j]);
  return s;
}

// ---- Brute-force reference on log-probabilities: loops over anchors ----

double brute_force(const Rows& log_p, const Rows& aff, int64_t offset, int64_t count,
                   const LicaOptions& opt) {
  const size_t n = log_p.size();
  const size_t k = (opt.top_k <= 0 || opt.top_k >= static_cast<int64_t>(n) - 1)
                       ? n - 1
                       : static_cast<size_t>(opt.top_k);
  double total = 0.0;
  for (size_t i = static_cast<size_t>(offset); i < static_cast<size_t>(offset + count); ++i) {
    std::vector<std::pair<double, size_t>> order;  // (-A_ij, j): ascending = neighbour order
    for (size_t j = 0; j < n; ++j) {
      if (j != i) order.emplace_back(-aff[i][j], j);
    }
    std::sort(order.begin(), order.end());
    std::vector<size_t> kept;
    for (size_t r = 0; r < k; ++r) {
      if (aff[i][order[r].second] >= opt.min_affinity) kept.push_back(order[r].second);
    }
    if (kept.empty()) continue;
    double amax = -INFINITY;
    for (size_t j : kept) amax = std::max(amax, aff[i][j] / opt.tau_intra);
    double z = 0.0;
    for (size_t j : kept) z += std::exp(aff[i][j] / opt.tau_intra - amax);
    for (size_t j : kept) {
      const double w = std::exp(aff[i][j] / opt.tau_intra - amax) / z;
      double d = 0.0;
      for (size_t x = 0; x < n; ++x) {
        const double a = log_p[i][x], b = log_p[j][x];
        if (opt.divergence == Divergence::kKl) {
          d += std::exp(a) * (a - b);
        } else {
          const double log_m = std::max(a, b) + std::log1p(std::exp(-std::abs(a - b))) - std::log(2.0);
          d += 0.5 * std::exp(a) * (a - log_m) + 0.5 * std::exp(b) * (b - log_m);
        }
      }
      total += w * d;
    }
  }
  return total / static_cast<double>(n);
}

using testing::numeric_grad;

// The L_intra of one modality from embeddings: S = s·V·Tᵀ; videos log_softmax(S, 1), texts
// log_softmax(Sᵀ, 1).
torch::Tensor modality_loss(bool video, const torch::Tensor& v, const torch::Tensor& t,
                            double s, const torch::Tensor& aff, const LicaOptions& opt) {
  auto logits = s * normalize(v).matmul(normalize(t).t());  // [B, B]
  auto log_p = torch::log_softmax(video ? logits : logits.t(), 1);
  return intra_consistency_loss(log_p, aff, opt);
}

const Rows kProbs3 = {{0.7, 0.2, 0.1}, {0.1, 0.6, 0.3}, {0.2, 0.3, 0.5}};
// Anchor 0 has a tie (A_01 = A_02): with top_k = 1 the smaller index, 1, must win.
const Rows kAff3 = {{1.0, 0.5, 0.5}, {0.5, 1.0, 0.2}, {0.5, 0.2, 1.0}};

TEST(LicaLoss, MatchesHandComputedValuesWithATie) {
  auto log_p = to_tensor(kProbs3).log();
  auto aff = to_tensor(kAff3);
  for (Divergence d : {Divergence::kJs, Divergence::kKl}) {
    LicaOptions opt;
    opt.tau_intra = 0.1;
    opt.divergence = d;
    const auto& p = kProbs3;
    // top_k = 1: anchor 0 -> 1 (tie with 2, smaller index wins), 1 -> 0, 2 -> 0; weights 1.
    opt.top_k = 1;
    const double top1 = (div_prob(d, p[0], p[1]) + div_prob(d, p[1], p[0]) +
                         div_prob(d, p[2], p[0])) / 3.0;
    const double wrong_tie = (div_prob(d, p[0], p[2]) + div_prob(d, p[1], p[0]) +
                              div_prob(d, p[2], p[0])) / 3.0;
    ASSERT_GT(std::abs(top1 - wrong_tie), 1e-3) << "the tie must matter for the value";
    // Probabilities vs log space, different summation order: rounding ~1e-16; 1e-12.
    EXPECT_NEAR(intra_consistency_loss(log_p, aff, opt).item<double>(), top1, 1e-12);

    // All neighbours: anchor 0 weights ½, ½; anchors 1, 2: e^5 / (e^5 + e^2) on sample 0.
    opt.top_k = 0;
    const double w_hi = std::exp(5.0) / (std::exp(5.0) + std::exp(2.0));
    const double w_lo = std::exp(2.0) / (std::exp(5.0) + std::exp(2.0));
    const double all =
        (0.5 * div_prob(d, p[0], p[1]) + 0.5 * div_prob(d, p[0], p[2]) +
         w_hi * div_prob(d, p[1], p[0]) + w_lo * div_prob(d, p[1], p[2]) +
         w_hi * div_prob(d, p[2], p[0]) + w_lo * div_prob(d, p[2], p[1])) / 3.0;
    EXPECT_NEAR(intra_consistency_loss(log_p, aff, opt).item<double>(), all, 1e-12);
  }
  // Regression literal of the smallest case (JS, top_k = 1), from the formula above.
  LicaOptions opt;
  opt.top_k = 1;
  EXPECT_NEAR(intra_consistency_loss(log_p, aff, opt).item<double>(), 0.18714472338132207, 1e-12);
}

TEST(LicaLoss, GradientsMatchFiniteDifferencesInFloat64) {
  torch::manual_seed(11);
  const int64_t b = 5, d = 4;
  const double s = 3.0;
  auto v0 = torch::randn({b, d}, f64());
  auto t0 = torch::randn({b, d}, f64());
  // Source `input`: random frame/token features with some invalid positions.
  auto fv = torch::randn({b, 3, 6}, f64());
  auto ft = torch::randn({b, 4, 6}, f64());
  auto mv = torch::rand({b, 3}, f64()) > 0.3;
  auto mt = torch::rand({b, 4}, f64()) > 0.3;
  mv.select(1, 0).fill_(true);
  mt.select(1, 0).fill_(true);
  {
    auto vg = v0.clone().requires_grad_(true);
    EXPECT_FALSE(affinity_from_embeddings(vg).requires_grad());
  }
  for (bool from_input : {false, true}) {
    // The affinities are constants of the loss (embedding source: gradient stopped), so the
    // finite differences hold them fixed at their value for V0, T0.
    auto aff_v = from_input ? affinity_from_inputs(fv, mv) : affinity_from_embeddings(v0);
    auto aff_t = from_input ? affinity_from_inputs(ft, mt) : affinity_from_embeddings(t0);
    for (Divergence div : {Divergence::kJs, Divergence::kKl}) {
      for (bool video : {true, false}) {
        for (LicaForm form : {LicaForm::kDirect, LicaForm::kChunked}) {
          LicaOptions opt;
          opt.tau_intra = 0.5;
          opt.top_k = 2;
          opt.divergence = div;
          opt.form = form;
          const auto& aff = video ? aff_v : aff_t;
          auto v = v0.clone().requires_grad_(true);
          auto t = t0.clone().requires_grad_(true);
          modality_loss(video, v, t, s, aff, opt).backward();
          auto nv = numeric_grad(
              [&](auto& x) { return modality_loss(video, x, t0, s, aff, opt); }, v0);
          auto nt = numeric_grad(
              [&](auto& x) { return modality_loss(video, v0, x, s, aff, opt); }, t0);
          // Central differences, float64, h = 1e-6: error ~1e-10 here; 1e-7 leaves margin.
          SCOPED_TRACE(std::string(from_input ? "input" : "embedding") +
                       (video ? " video " : " text ") + (div == Divergence::kJs ? "js" : "kl") +
                       (form == LicaForm::kDirect ? " direct" : " chunked"));
          EXPECT_GT(v.grad().abs().max().item<double>(), 1e-4);
          EXPECT_TRUE(torch::allclose(v.grad(), nv, 1e-7, 1e-7));
          EXPECT_TRUE(torch::allclose(t.grad(), nt, 1e-7, 1e-7));
        }
      }
    }
  }
}

TEST(LicaLoss, InvariantToPermutingTheBatch) {
  torch::manual_seed(12);
  const int64_t b = 6;
  auto v = torch::randn({b, 4}, f64());
  auto t = torch::randn({b, 4}, f64());
  auto perm = torch::randperm(b, torch::kLong);
  auto pv = v.index_select(0, perm);
  auto pt = t.index_select(0, perm);
  for (Divergence div : {Divergence::kJs, Divergence::kKl}) {
    LicaOptions opt;
    opt.top_k = 2;
    opt.min_affinity = -0.2;
    opt.divergence = div;
    for (bool video : {true, false}) {
      // Random embeddings: distinct affinities, so no tie makes the order matter.
      auto a = affinity_from_embeddings(video ? v : t);
      auto pa = affinity_from_embeddings(video ? pv : pt);
      const double base = modality_loss(video, v, t, 4.0, a, opt).item<double>();
      const double permuted = modality_loss(video, pv, pt, 4.0, pa, opt).item<double>();
      // Same terms in another summation order: rounding only; 1e-12.
      EXPECT_NEAR(permuted, base, 1e-12);
    }
  }
}

TEST(LicaLoss, TopKOfBMinusOneIsAllNeighbours) {
  torch::manual_seed(13);
  const int64_t b = 6;
  auto log_p = torch::log_softmax(torch::randn({b, b}, f64()) * 3, 1);
  auto aff = affinity_from_embeddings(torch::randn({b, 5}, f64()));
  for (Divergence div : {Divergence::kJs, Divergence::kKl}) {
    LicaOptions opt;
    opt.divergence = div;
    opt.top_k = 0;
    const double all = intra_consistency_loss(log_p, aff, opt).item<double>();
    opt.top_k = b - 1;
    EXPECT_EQ(intra_consistency_loss(log_p, aff, opt).item<double>(), all);
    opt.top_k = 100;
    EXPECT_EQ(intra_consistency_loss(log_p, aff, opt).item<double>(), all);
    opt.top_k = b - 2;
    EXPECT_NE(intra_consistency_loss(log_p, aff, opt).item<double>(), all);
  }
}

TEST(LicaLoss, MinAffinityDropsPairsAndEmptyAnchorsContributeZero) {
  const Rows probs = {{0.5, 0.2, 0.2, 0.1},
                      {0.1, 0.6, 0.2, 0.1},
                      {0.25, 0.25, 0.25, 0.25},
                      {0.05, 0.05, 0.1, 0.8}};
  const Rows aff_rows = {{1.0, 0.8, 0.3, -0.2},
                         {0.8, 1.0, 0.5, 0.1},
                         {0.3, 0.5, 1.0, 0.0},
                         {-0.2, 0.1, 0.0, 1.0}};
  auto aff = to_tensor(aff_rows);
  for (Divergence div : {Divergence::kJs, Divergence::kKl}) {
    LicaOptions opt;
    opt.tau_intra = 0.2;
    opt.divergence = div;
    auto term = [&](size_t i, std::vector<size_t> js) {
      return anchor_term(probs, aff_rows, i, js, opt.tau_intra, div);
    };
    auto lp = to_tensor(probs).log().requires_grad_(true);
    const double everything = (term(0, {1, 2, 3}) + term(1, {0, 2, 3}) + term(2, {0, 1, 3}) +
                               term(3, {0, 1, 2})) / 4.0;
    EXPECT_NEAR(intra_consistency_loss(lp, aff, opt).item<double>(), everything, 1e-12);

    // min_affinity 0.2: every pair with sample 3 goes; anchor 3 has none left.
    opt.min_affinity = 0.2;
    const double dropped = (term(0, {1, 2}) + term(1, {0, 2}) + term(2, {0, 1})) / 4.0;
    auto loss = intra_consistency_loss(lp, aff, opt);
    EXPECT_NEAR(loss.item<double>(), dropped, 1e-12);
    EXPECT_GT(std::abs(dropped - everything), 1e-3);
    EXPECT_EQ(intra_consistency_loss(lp, aff, 3, 1, opt).item<double>(), 0.0);
    loss.backward();
    EXPECT_TRUE(torch::isfinite(lp.grad()).all().item<bool>());

    // With top_k = 1, the threshold applies to the one neighbour chosen: 0.6 keeps anchors
    // 0 and 1 (their neighbour at 0.8), drops anchor 2's (0.5) and anchor 3's (0.1).
    opt.top_k = 1;
    opt.min_affinity = 0.6;
    EXPECT_NEAR(intra_consistency_loss(lp, aff, opt).item<double>(),
                (term(0, {1}) + term(1, {0})) / 4.0, 1e-12);

    // Everything dropped: exactly 0, gradient exactly 0, no NaN.
    opt.top_k = 0;
    opt.min_affinity = 0.9;
    lp.mutable_grad() = torch::Tensor();
    auto none = intra_consistency_loss(lp, aff, opt);
    EXPECT_EQ(none.item<double>(), 0.0);
    none.backward();
    EXPECT_TRUE(lp.grad().eq(0).all().item<bool>());
  }
}

TEST(LicaLoss, RankSharesSumToTheWholeBatch) {
  torch::manual_seed(14);
  const int64_t b = 7;
  auto logits = (torch::randn({b, b}, f64()) * 2).requires_grad_(true);
  auto aff = affinity_from_embeddings(torch::randn({b, 3}, f64()));
  for (Divergence div : {Divergence::kJs, Divergence::kKl}) {
    LicaOptions opt;
    opt.top_k = 3;
    opt.min_affinity = -0.5;
    opt.divergence = div;
    auto log_p = torch::log_softmax(logits, 1);
    auto whole = intra_consistency_loss(log_p, aff, opt);
    auto first = intra_consistency_loss(log_p, aff, 0, 3, opt);
    auto second = intra_consistency_loss(log_p, aff, 3, 4, opt);
    // Same terms, another summation order: 1e-12.
    EXPECT_NEAR((first + second).item<double>(), whole.item<double>(), 1e-12);
    auto g_whole = torch::autograd::grad({whole}, {logits}, {}, /*retain_graph=*/true)[0];
    auto g_shares = torch::autograd::grad({first + second}, {logits})[0];
    EXPECT_TRUE(torch::allclose(g_shares, g_whole, 0, 1e-12));
  }
}

TEST(LicaLoss, MatchesABruteForceReferenceWithTies) {
  for (int seed = 0; seed < 4; ++seed) {
    torch::manual_seed(100 + seed);
    const int64_t b = 7;
    auto log_p = torch::log_softmax(torch::randn({b, b}, f64()) * 3, 1);
    // Symmetric affinities rounded to one decimal: many ties.
    auto r = torch::randn({b, b}, f64()) * 0.5;
    Rows aff_rows = to_rows((r + r.t()).clamp(-1, 1));
    for (int64_t i = 0; i < b; ++i) {
      for (int64_t j = 0; j < b; ++j) {
        aff_rows[i][j] = i == j ? 1.0 : std::round(aff_rows[i][j] * 10.0) / 10.0;
      }
    }
    auto aff = to_tensor(aff_rows);
    const Rows lp_rows = to_rows(log_p);
    for (int64_t k : {0, 1, 2, 3, 6}) {
      for (double min_aff : {-1.0, 0.0, 0.3}) {
        for (double tau : {0.1, 0.7}) {
          for (Divergence div : {Divergence::kJs, Divergence::kKl}) {
            for (LicaForm form : {LicaForm::kDirect, LicaForm::kChunked}) {
              LicaOptions opt;
              opt.top_k = k;
              opt.min_affinity = min_aff;
              opt.tau_intra = tau;
              opt.divergence = div;
              opt.form = form;
              SCOPED_TRACE("seed " + std::to_string(seed) + " k " + std::to_string(k) +
                           " min " + std::to_string(min_aff) + " tau " + std::to_string(tau) +
                           (form == LicaForm::kDirect ? " direct" : " chunked"));
              // Same formula, different summation order and logaddexp: ~1e-15; 1e-10.
              EXPECT_NEAR(intra_consistency_loss(log_p, aff, opt).item<double>(),
                          brute_force(lp_rows, aff_rows, 0, b, opt), 1e-10);
              EXPECT_NEAR(intra_consistency_loss(log_p, aff, 2, 3, opt).item<double>(),
                          brute_force(lp_rows, aff_rows, 2, 3, opt), 1e-10);
            }
          }
        }
      }
    }
  }
}

TEST(LicaLoss, ExtremeLogitsGiveFiniteLossAndGradients) {
  torch::manual_seed(15);
  const int64_t b = 6;
  for (auto dtype : {torch::kDouble, torch::kFloat}) {
    auto opts = torch::TensorOptions().dtype(dtype);
    auto v0 = torch::randn({b, 4}, opts);
    auto t0 = torch::randn({b, 4}, opts);
    for (Divergence div : {Divergence::kJs, Divergence::kKl}) {
      for (bool video : {true, false}) {
        LicaOptions opt;
        opt.divergence = div;
        auto v = v0.clone().requires_grad_(true);
        auto t = t0.clone().requires_grad_(true);
        // s = 1e4: most probabilities underflow to exactly 0.
        auto logits = 1e4 * normalize(v).matmul(normalize(t).t());
        auto log_p = torch::log_softmax(video ? logits : logits.t(), 1);
        ASSERT_TRUE(log_p.exp().eq(0).any().item<bool>());
        auto loss = intra_consistency_loss(log_p, affinity_from_embeddings(video ? v : t), opt);
        EXPECT_TRUE(std::isfinite(loss.item<double>()));
        EXPECT_GT(loss.item<double>(), 0.0);
        loss.backward();
        EXPECT_TRUE(torch::isfinite(v.grad()).all().item<bool>());
        EXPECT_TRUE(torch::isfinite(t.grad()).all().item<bool>());
      }
    }
  }
}

TEST(LicaLoss, ParsesDivergence) {
  EXPECT_EQ(parse_divergence("js"), Divergence::kJs);
  EXPECT_EQ(parse_divergence("kl"), Divergence::kKl);
  EXPECT_THROW(parse_divergence("JS"), InputError);
  EXPECT_THROW(parse_divergence(""), InputError);
}

TEST(LicaAffinity, InputSourceMeansValidFramesOnly) {
  torch::manual_seed(16);
  auto features = torch::randn({3, 4, 5}, f64());
  auto mask = torch::tensor({1, 1, 0, 0, 1, 0, 1, 0, 1, 1, 1, 1}).to(torch::kBool).view({3, 4});
  auto a = affinity_from_inputs(features, mask);
  // Hand means of the valid frames, then cosine.
  auto means = torch::stack({features[0].slice(0, 0, 2).mean(0),
                             (features[1][0] + features[1][2]) / 2, features[2].mean(0)});
  EXPECT_TRUE(torch::allclose(a, affinity_from_embeddings(means), 0, 1e-12));
  // Invalid frames do not matter, however large.
  auto noisy = features.clone();
  noisy.masked_fill_(mask.logical_not().unsqueeze(-1), 1e6);
  EXPECT_TRUE(torch::allclose(affinity_from_inputs(noisy, mask), a, 0, 1e-12));
  auto empty = mask.clone();
  empty[1].fill_(false);
  EXPECT_THROW(affinity_from_inputs(features, empty), InputError);
}

}  // namespace
}  // namespace lica::loss

namespace lica::loss {
namespace {

// The chunked form (streamed pairs, analytic backward) equals the direct form (autograd
// throughout): 1e-12 in float64 (same sums in another order), 1e-6 in float32.
TEST(LicaChunked, EqualsTheDirectFormInValueAndGradient) {
  for (auto dtype : {torch::kDouble, torch::kFloat}) {
    const double tol = dtype == torch::kDouble ? 1e-12 : 1e-6;
    for (auto divergence : {Divergence::kJs, Divergence::kKl}) {
      for (int64_t top_k : {0, 3}) {
        torch::manual_seed(21);
        auto logits = (torch::randn({9, 9}) * 4).to(dtype);
        auto affinity = torch::randn({9, 9}).to(dtype);
        affinity = (affinity + affinity.t()) / 4;
        LicaOptions o;
        o.divergence = divergence;
        o.top_k = top_k;
        o.min_affinity = -0.3;  // drops some pairs
        auto run = [&](LicaForm form, int64_t chunk_rows) {
          o.form = form;
          o.chunk_rows = chunk_rows;
          auto x = logits.clone().requires_grad_(true);
          auto loss = intra_consistency_loss(torch::log_softmax(x, 1), affinity, 2, 5, o);
          loss.backward();
          return std::make_pair(loss.detach(), x.grad());
        };
        const auto direct = run(LicaForm::kDirect, 0);
        for (int64_t chunk : {1, 4, 1000}) {
          const auto chunked = run(LicaForm::kChunked, chunk);
          EXPECT_NEAR(chunked.first.item<double>(), direct.first.item<double>(), tol);
          EXPECT_TRUE(torch::allclose(chunked.second, direct.second, tol, tol))
              << "chunk " << chunk << " max diff "
              << (chunked.second - direct.second).abs().max().item<double>();
        }
      }
    }
  }
}

}  // namespace
}  // namespace lica::loss
