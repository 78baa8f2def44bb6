// The AAI terms of the training step (docs/design.md §4): ITC and IMS against momentum targets and
// queues, LMIM against local features. Formulas by hand and float64 gradient checks.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "dist/local_communicator.h"
#include "model/pooling.h"
#include "loss/infonce.h"
#include "trainer/step_gradients.h"
#include "trainer/step.h"

namespace lica::trainer {
namespace {

// -(1/B) Σ_r log softmax_c(rows[r] · cands[c] / tau)[offset + r], one modality, by loops.
double nce_by_hand(const torch::Tensor& rows, const torch::Tensor& cands, double tau,
                   int64_t offset, int64_t global) {
  double sum = 0;
  for (int64_t r = 0; r < rows.size(0); ++r) {
    double norm = 0, positive = 0;
    for (int64_t c = 0; c < cands.size(0); ++c) {
      const double logit = rows[r].dot(cands[c]).item<double>() / tau;
      norm += std::exp(logit);
      if (c == offset + r) positive = logit;
    }
    sum += std::log(norm) - positive;
  }
  return sum / static_cast<double>(global);
}

TEST(CandidatesInfonce, IsHalfTheSumOfBothModalitiesCrossEntropies) {
  torch::manual_seed(3);
  auto f64 = torch::kDouble;
  auto vr = torch::randn({3, 4}, f64), vc = torch::randn({9, 4}, f64);
  auto tr = torch::randn({3, 4}, f64), tc = torch::randn({9, 4}, f64);
  const double tau = 0.3;
  // Rows 2..4 of a global batch of 6, candidates = batch + 3 queued.
  const auto got = loss::candidates_infonce(vr, vc, tr, tc, torch::scalar_tensor(1 / tau, f64), 2, 6);
  const double expect = 0.5 * (nce_by_hand(vr, vc, tau, 2, 6) + nce_by_hand(tr, tc, tau, 2, 6));
  EXPECT_NEAR(got.item<double>(), expect, 1e-12);
}

model::DualEncoder tiny_model(bool local_heads) {
  torch::manual_seed(5);
  model::DualEncoderOptions o;
  o.video.input_dim = 5, o.video.embed_dim = 4, o.video.max_frames = 3, o.video.heads = 2;
  o.text.input_dim = 3, o.text.embed_dim = 4, o.text.max_tokens = 3;
  o.local_heads = local_heads;
  model::DualEncoder m(o);
  m->to(torch::kDouble);
  return m;
}

data::Batch tiny_batch() {
  torch::manual_seed(6);
  data::Batch b;
  b.video = torch::randn({5, 3, 5}, torch::kDouble);
  b.text = torch::randn({5, 3, 3}, torch::kDouble);
  b.video_mask = torch::arange(3).unsqueeze(0) < torch::tensor({1, 3, 2, 3, 1}).unsqueeze(1);
  b.text_mask = torch::arange(3).unsqueeze(0) < torch::tensor({2, 1, 3, 3, 2}).unsqueeze(1);
  return b;
}

model::Momentum queued_momentum(model::DualEncoder& model, int64_t queued) {
  model::DualEncoderOptions o;  // the same towers as tiny_model
  o.video.input_dim = 5, o.video.embed_dim = 4, o.video.max_frames = 3, o.video.heads = 2;
  o.text.input_dim = 3, o.text.embed_dim = 4, o.text.max_tokens = 3;
  model::Momentum m(o, model, 0.9, 6);
  m->to(torch::kDouble);
  torch::manual_seed(8);
  m->enqueue(torch::nn::functional::normalize(torch::randn({queued, 4}, torch::kDouble)),
             torch::nn::functional::normalize(torch::randn({queued, 4}, torch::kDouble)));
  {  // targets that differ from the online towers
    torch::NoGradGuard no_grad;
    for (auto& p : m->parameters()) p.add_(0.05 * torch::randn_like(p));
  }
  return m;
}

TEST(AaiTerms, ItcAndImsFollowTheirFormulasWithTheQueues) {
  auto model = tiny_model(false);
  auto momentum = queued_momentum(model, 4);
  const auto batch = tiny_batch();
  dist::LocalCommunicator local;
  LossOptions opt;
  opt.itc = {0.5, 0.2};
  opt.ims = {0.25, 0.1};
  const auto losses = step_losses(model, momentum, local, batch, 0, opt);
  torch::NoGradGuard no_grad;
  const auto v = model->encode_video(batch.video, batch.video_mask);
  const auto t = model->encode_text(batch.text, batch.text_mask);
  const auto mv = torch::cat({momentum->encode_video(batch.video, batch.video_mask), momentum->video_queue()});
  const auto mt = torch::cat({momentum->encode_text(batch.text, batch.text_mask), momentum->text_queue()});
  ASSERT_EQ(mv.size(0), 9);
  const double itc = 0.5 * (nce_by_hand(v, mt, 0.2, 0, 5) + nce_by_hand(t, mv, 0.2, 0, 5));
  const double ims = 0.5 * (nce_by_hand(v, mv, 0.1, 0, 5) + nce_by_hand(t, mt, 0.1, 0, 5));
  EXPECT_NEAR(losses.itc.item<double>(), itc, 1e-12);
  EXPECT_NEAR(losses.ims.item<double>(), ims, 1e-12);
  EXPECT_NEAR(losses.total.item<double>(), losses.nce.item<double>() + 0.5 * itc + 0.25 * ims, 1e-12);
  EXPECT_TRUE(torch::equal(losses.momentum_video, mv.slice(0, 0, 5)));
}

TEST(AaiTerms, LmimScoresGlobalEmbeddingsAgainstMeanLocalFeatures) {
  auto model = tiny_model(true);
  const auto batch = tiny_batch();
  dist::LocalCommunicator local;
  LossOptions opt;
  opt.lmim = {2.0, 0.3};
  const auto losses = step_losses(model, nullptr, local, batch, 0, opt);
  torch::NoGradGuard no_grad;
  const auto vs = model->encode_video_sequence(batch.video, batch.video_mask);
  const auto ts = model->encode_text_sequence(batch.text, batch.text_mask);
  // Mean over valid frames of each frame's projected, normalised feature, by loops.
  const auto local_means = [](const torch::Tensor& projected, const torch::Tensor& mask) {
    auto out = torch::zeros({projected.size(0), projected.size(2)}, projected.options());
    for (int64_t i = 0; i < projected.size(0); ++i) {
      int64_t n = 0;
      for (int64_t f = 0; f < projected.size(1); ++f) {
        if (mask[i][f].item<bool>()) out[i] += projected[i][f], ++n;
      }
      out[i] /= static_cast<double>(n);
    }
    return out;
  };
  const auto lv = local_means(model->local_video(vs.sequence), batch.video_mask);
  const auto lt = local_means(model->local_text(ts.sequence), batch.text_mask);
  const double lmim = 0.5 * (nce_by_hand(vs.embedding, lv, 0.3, 0, 5) +
                             nce_by_hand(ts.embedding, lt, 0.3, 0, 5));
  EXPECT_NEAR(losses.lmim.item<double>(), lmim, 1e-12);
  EXPECT_NEAR(losses.total.item<double>(), losses.nce.item<double>() + 2.0 * lmim, 1e-12);
}

// d total / d parameter against central differences in float64, for parameters each term
// reaches: the video projection (every term) and LMIM's text head (LMIM only).
TEST(AaiTerms, GradientsMatchFiniteDifferencesInFloat64) {
  auto model = tiny_model(true);
  auto momentum = queued_momentum(model, 6);
  const auto batch = tiny_batch();
  LossOptions opt;  // not LICA: its affinities are stop-gradient, finite differences are not
  opt.itc = {0.7, 0.2};
  opt.ims = {0.4, 0.15};
  opt.lmim = {0.9, 0.25};
  for (const char* name : {"video.proj.weight", "local_text.weight", "logit_scale"}) {
    SCOPED_TRACE(name);
    const auto [analytic, numeric] = testing::step_gradients(model, momentum, batch, opt, name);
    // Central differences with h = 1e-6 in float64 are accurate to ~1e-9 here.
    EXPECT_TRUE(torch::allclose(analytic, numeric, 1e-6, 1e-8))
        << "max diff " << (analytic - numeric).abs().max().item<double>();
    EXPECT_GT(analytic.abs().max().item<double>(), 1e-4);  // the term reaches it
  }
}

// With loss.contrastive.form tiled, ITC, IMS and LMIM are tiled too (their [b, B + queue]
// logits are as large as the InfoNCE's): the same losses and gradients as the direct step.
TEST(AaiTerms, TiledFormEqualsTheDirectOne) {
  auto model = tiny_model(true);
  auto momentum = queued_momentum(model, 4);
  const auto batch = tiny_batch();
  dist::LocalCommunicator local;
  LossOptions direct;
  direct.itc = {0.7, 0.2};
  direct.ims = {0.4, 0.15};
  direct.lmim = {0.9, 0.25};
  LossOptions tiled = direct;
  tiled.contrastive_form = "tiled";
  tiled.contrastive_tile = 2;  // over 5 + 4 candidates: tiles that do not divide them
  const auto grads_of = [&](const LossOptions& opt, StepLosses* out) {
    for (auto& p : model->parameters()) p.mutable_grad() = torch::Tensor();
    *out = step_losses(model, momentum, local, batch, 0, opt);
    out->total.backward();
    std::vector<torch::Tensor> g;
    for (auto& p : model->parameters()) {
      g.push_back(p.grad().defined() ? p.grad().clone() : torch::zeros_like(p));
    }
    return g;
  };
  StepLosses want, got;
  const auto want_grads = grads_of(direct, &want);
  const auto got_grads = grads_of(tiled, &got);
  EXPECT_NEAR(got.itc.item<double>(), want.itc.item<double>(), 1e-12);
  EXPECT_NEAR(got.ims.item<double>(), want.ims.item<double>(), 1e-12);
  EXPECT_NEAR(got.lmim.item<double>(), want.lmim.item<double>(), 1e-12);
  EXPECT_NEAR(got.total.item<double>(), want.total.item<double>(), 1e-12);
  bool rounded_apart = false;  // the tiled path was taken: its sums round differently
  for (size_t k = 0; k < want_grads.size(); ++k) {
    EXPECT_LE((got_grads[k] - want_grads[k]).abs().max().item<double>(),
              1e-10 * std::max(1.0, want_grads[k].abs().max().item<double>()));
    rounded_apart |= !torch::equal(got_grads[k], want_grads[k]);
  }
  EXPECT_TRUE(rounded_apart) << "bitwise the direct form: was the tiled one used at all?";
}

TEST(AaiTerms, ZeroWeightsAreBitwiseTheBaseline) {
  auto model = tiny_model(true);
  auto momentum = queued_momentum(model, 3);
  const auto batch = tiny_batch();
  dist::LocalCommunicator local;
  LossOptions off;
  off.itc.temperature = 0.3;  // temperatures of switched-off terms change nothing
  const auto base = step_losses(model, nullptr, local, batch, 0, LossOptions{});
  const auto same = step_losses(model, momentum, local, batch, 0, off);
  EXPECT_TRUE(torch::equal(base.total, same.total));
  EXPECT_FALSE(same.momentum_video.defined());  // no momentum forward either
}

// ITM through the training step: d total / d parameter against central differences in
// float64, for a fusion-encoder weight and a video-tower weight (reached through the frames).
TEST(ItmLoss, StepGradientsMatchFiniteDifferencesInFloat64) {
  torch::manual_seed(5);
  model::DualEncoderOptions o;
  o.video.input_dim = 5, o.video.embed_dim = 4, o.video.max_frames = 3, o.video.heads = 2;
  o.text.input_dim = 3, o.text.embed_dim = 4, o.text.max_tokens = 3;
  o.fusion = {4, 1, 2, 0.0};
  model::DualEncoder model(o);
  model->to(torch::kDouble);
  torch::manual_seed(6);
  data::Batch b;
  b.video = torch::randn({4, 3, 5}, torch::kDouble);
  b.text = torch::randn({4, 3, 3}, torch::kDouble);
  b.video_mask = torch::arange(3).unsqueeze(0) < torch::tensor({1, 3, 2, 3}).unsqueeze(1);
  b.text_mask = torch::arange(3).unsqueeze(0) < torch::tensor({2, 1, 3, 3}).unsqueeze(1);
  LossOptions opt;
  opt.itm_weight = 1.5;
  for (const char* name : {"fusion.head.weight", "video.proj.weight"}) {
    SCOPED_TRACE(name);
    dist::LocalCommunicator local;
    EXPECT_GT(step_losses(model, nullptr, local, b, 0, opt).itm.item<double>(), 0.0);
    // The hard negatives are picked by argmax: a step of 1e-6 does not change them here.
    const auto [analytic, numeric] = testing::step_gradients(model, nullptr, b, opt, name);
    EXPECT_TRUE(torch::allclose(analytic, numeric, 1e-6, 1e-8))
        << "max diff " << (analytic - numeric).abs().max().item<double>();
    EXPECT_GT(analytic.abs().max().item<double>(), 1e-4);
  }
}

}  // namespace
}  // namespace lica::trainer
