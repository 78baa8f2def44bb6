// The one-pass contrastive + LICA form against the separate tiled InfoNCE and two fused LICA
// terms (each checked against its direct form in test_infonce_tiled.cpp and
// test_lica_fused.cpp): every value and every gradient, with the three terms weighted apart
// so that each one's gradient is checked on its own.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "common/error.h"
#include "loss/contrastive_lica_fused.h"
#include "loss/infonce_tiled.h"
#include "loss/lica_fused.h"

namespace lica::loss {
namespace {

struct Case {
  int64_t batch = 13, dim = 5, offset = 0, count = 13, top_k = 3, tile = 4;
  double scale = 10.0, min_affinity = -1.0;
  Divergence divergence = Divergence::kJs;
  int64_t groups = 0;  // > 0: samples i and i + groups share their affinity source (ties)
  std::string name() const {
    return "B " + std::to_string(batch) + " rows [" + std::to_string(offset) + ", " +
           std::to_string(offset + count) + ") k " + std::to_string(top_k) + " tile " +
           std::to_string(tile) + " s " + std::to_string(scale) +
           (divergence == Divergence::kKl ? " kl" : " js") + " min_aff " +
           std::to_string(min_affinity) + " groups " + std::to_string(groups);
  }
};

struct Grads {
  std::vector<double> values;  // nce, intra_v, intra_t
  torch::Tensor video, text, scale;
};

// Weights that tell the three terms' gradients apart.
constexpr double kNce = 0.7, kVideo = 1.9, kText = -0.45;

Grads run(const Case& c, bool fused, torch::Dtype dtype = torch::kDouble) {
  torch::manual_seed(11);
  auto f64 = torch::TensorOptions().dtype(torch::kDouble);
  auto unit = [&](int64_t n) {
    auto x = torch::randn({n, c.dim}, f64);
    return x / x.norm(2, 1, true);
  };
  auto video = unit(c.batch).to(dtype).requires_grad_(true);
  auto text = unit(c.batch).to(dtype).requires_grad_(true);
  auto scale = torch::scalar_tensor(c.scale, f64).to(dtype).requires_grad_(true);
  auto source_v = unit(c.batch), source_t = unit(c.batch);
  if (c.groups > 0) {
    const auto repeat = [&](const torch::Tensor& s) {
      return s.slice(0, 0, c.groups).repeat({(c.batch + c.groups - 1) / c.groups, 1}).slice(0, 0, c.batch);
    };
    source_v = repeat(source_v);
    source_t = repeat(source_t);
  }
  LicaOptions opt;
  opt.top_k = c.top_k;
  opt.min_affinity = c.min_affinity;
  opt.tau_intra = 0.2;
  opt.divergence = c.divergence;
  opt.tile_cols = c.tile;
  const auto pairs_v = lica_pairs(unit_rows(source_v.to(dtype)), c.offset, c.count, opt);
  const auto pairs_t = lica_pairs(unit_rows(source_t.to(dtype)), c.offset, c.count, opt);
  torch::Tensor nce, iv, it;
  if (fused) {
    const auto terms = fused_contrastive_lica(video, text, scale, c.offset, c.count, pairs_v,
                                              pairs_t, c.divergence, c.tile);
    nce = terms.nce, iv = terms.intra_video, it = terms.intra_text;
  } else {
    nce = tiled_infonce_loss(video.slice(0, c.offset, c.offset + c.count),
                             text.slice(0, c.offset, c.offset + c.count), video, text, scale,
                             c.offset, c.tile);
    iv = fused_intra_consistency_loss(video, text, scale, pairs_v, c.divergence, c.tile);
    it = fused_intra_consistency_loss(text, video, scale, pairs_t, c.divergence, c.tile);
  }
  (kNce * nce + kVideo * iv + kText * it).backward();
  const auto cpu = [](const torch::Tensor& t) { return t.detach().to(torch::kDouble).clone(); };
  return {{nce.item<double>(), iv.item<double>(), it.item<double>()},
          cpu(video.grad()),
          cpu(text.grad()),
          cpu(scale.grad())};
}

// |got - want| / max |want| of one tensor.
double relative(const torch::Tensor& got, const torch::Tensor& want) {
  return (got - want).abs().max().item<double>() /
         std::max(1e-300, want.abs().max().item<double>());
}

void expect_equal(const Case& c, double tol, torch::Dtype dtype = torch::kDouble) {
  SCOPED_TRACE(c.name());
  const auto want = run(c, false, dtype), got = run(c, true, dtype);
  for (int k = 0; k < 3; ++k) {
    EXPECT_NEAR(got.values[k], want.values[k], tol * std::max(1.0, std::abs(want.values[k])))
        << "term " << k;
  }
  EXPECT_LE(relative(got.video, want.video), tol);
  EXPECT_LE(relative(got.text, want.text), tol);
  EXPECT_LE(relative(got.scale, want.scale), tol);
}

TEST(ContrastiveLicaFused, EqualsTheSeparateTermsInFloat64) {
  std::vector<Case> cases;
  Case base;
  cases.push_back(base);
  for (int64_t tile : {1, 5, 13, 40}) {  // one-column tiles, tiles that do not divide B, one tile
    Case c = base;
    c.tile = tile;
    cases.push_back(c);
  }
  for (auto [offset, count] : {std::pair<int64_t, int64_t>{0, 4}, {4, 5}, {9, 4}}) {  // ranks
    Case c = base;
    c.offset = offset, c.count = count;
    cases.push_back(c);
  }
  Case kl = base;
  kl.divergence = Divergence::kKl;
  cases.push_back(kl);
  Case sharp = base;  // s = 100: probabilities underflow
  sharp.scale = 100.0;
  cases.push_back(sharp);
  Case all = base;  // k = B - 1
  all.top_k = 0;
  cases.push_back(all);
  Case dropped = base;  // pairs below min_affinity dropped, some anchors with none
  dropped.min_affinity = 0.3;
  cases.push_back(dropped);
  Case ties = base;
  ties.groups = 4;
  ties.offset = 3, ties.count = 6;
  cases.push_back(ties);
  for (const auto& c : cases) expect_equal(c, 1e-10);
}

TEST(ContrastiveLicaFused, Float32IsWithinRounding) {
  Case c;
  c.batch = 40, c.dim = 16, c.tile = 7, c.offset = 10, c.count = 20;
  expect_equal(c, 2e-5, torch::kFloat);
}

TEST(ContrastiveLicaFused, RejectsBadInput) {
  auto v = torch::randn({4, 3}), t = torch::randn({4, 3});
  const auto s = torch::scalar_tensor(1.0);
  LicaPairs none{torch::zeros({0}, torch::kLong), torch::zeros({0}, torch::kLong),
                 torch::zeros({0})};
  EXPECT_THROW(fused_contrastive_lica(v, t, s, 2, 3, none, none, Divergence::kJs, 2), Error);
  EXPECT_THROW(fused_contrastive_lica(v, t, s, 0, 4, none, none, Divergence::kJs, 0), InputError);
  EXPECT_THROW(fused_contrastive_lica(v, torch::randn({3, 3}), s, 0, 3, none, none,
                                      Divergence::kJs, 2),
               Error);
}

}  // namespace
}  // namespace lica::loss
