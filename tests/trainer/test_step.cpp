#include "trainer/step.h"

#include <gtest/gtest.h>

#include <limits>
#include <string>
#include <utility>

#include "common/error.h"
#include "dist/local_communicator.h"
#include "loss/infonce.h"

namespace lica::trainer {
namespace {

model::DualEncoder small_model() {
  torch::manual_seed(5);
  model::DualEncoderOptions o;
  o.video.input_dim = 6, o.video.embed_dim = 8, o.video.max_frames = 4, o.video.heads = 2;
  o.text.input_dim = 5, o.text.embed_dim = 8, o.text.max_tokens = 3;
  return model::DualEncoder(o);
}

data::Batch small_batch() {
  torch::manual_seed(6);
  data::Batch b;
  b.video = torch::randn({7, 4, 6});
  b.text = torch::randn({7, 3, 5});
  b.video_mask = torch::arange(4).unsqueeze(0) < torch::randint(1, 5, {7, 1});
  b.text_mask = torch::arange(3).unsqueeze(0) < torch::randint(1, 4, {7, 1});
  return b;
}

std::vector<torch::Tensor> gradients(model::DualEncoder& m, const torch::Tensor& loss) {
  for (auto& p : m->parameters()) {
    if (p.grad().defined()) p.mutable_grad().zero_();
  }
  loss.backward();
  std::vector<torch::Tensor> g;
  for (const auto& p : m->parameters()) g.push_back(p.grad().clone());
  return g;
}

TEST(StepLosses, ZeroWeightIsBitwiseTheBaseline) {
  auto model = small_model();
  const auto batch = small_batch();
  dist::LocalCommunicator local;
  auto v = model->encode_video(batch.video, batch.video_mask);
  auto t = model->encode_text(batch.text, batch.text_mask);
  auto baseline = loss::infonce_loss(v, t, model->scale());
  const auto expect = gradients(model, baseline);

  LossOptions off;
  off.lica_weight = 0.0;
  off.lica.top_k = 2;  // every other LICA setting is irrelevant at λ = 0
  off.lica.divergence = loss::Divergence::kKl;
  auto losses = step_losses(model, nullptr, local, batch, 0, off);
  EXPECT_TRUE(torch::equal(losses.total, baseline));
  EXPECT_EQ(losses.intra_video.item<double>(), 0.0);
  const auto got = gradients(model, losses.total);
  for (size_t i = 0; i < got.size(); ++i) EXPECT_TRUE(torch::equal(got[i], expect[i])) << i;
}

// λ = 0 skips the term, not multiplies it by 0 (which the test above cannot tell apart): with
// a poisoned LICA setting (tau_intra NaN, which the term rejects with an InputError when it
// runs, on every form and source) the step still runs and equals the baseline bitwise.
TEST(StepLosses, ZeroWeightRunsNoLicaForwardOrBackward) {
  auto model = small_model();
  const auto batch = small_batch();
  dist::LocalCommunicator local;
  LossOptions baseline_opt;
  const auto baseline = step_losses(model, nullptr, local, batch, 0, baseline_opt);
  const auto expect = gradients(model, baseline.total);
  for (auto form : {loss::LicaForm::kDirect, loss::LicaForm::kChunked, loss::LicaForm::kFused}) {
    for (auto source : {AffinitySource::kEmbedding, AffinitySource::kInput}) {
      SCOPED_TRACE("form " + std::to_string(static_cast<int>(form)) + " source " +
                   std::to_string(static_cast<int>(source)));
      LossOptions poisoned;
      poisoned.lica.tau_intra = std::numeric_limits<double>::quiet_NaN();
      poisoned.lica.form = form;
      poisoned.source = source;
      poisoned.lica_weight = 1.0;  // the poison is live: running the term throws
      EXPECT_THROW(step_losses(model, nullptr, local, batch, 0, poisoned), InputError);
      poisoned.lica_weight = 0.0;
      const auto losses = step_losses(model, nullptr, local, batch, 0, poisoned);
      EXPECT_TRUE(torch::equal(losses.total, baseline.total));
      const auto got = gradients(model, losses.total);
      for (size_t i = 0; i < got.size(); ++i) EXPECT_TRUE(torch::equal(got[i], expect[i])) << i;
    }
  }
}

TEST(StepLosses, TotalIsNcePlusHalfLambdaTimesBothIntraTerms) {
  auto model = small_model();
  const auto batch = small_batch();
  dist::LocalCommunicator local;
  LossOptions on;
  on.lica_weight = 0.8;
  auto losses = step_losses(model, nullptr, local, batch, 0, on);
  EXPECT_GT(losses.intra_video.item<double>(), 0.0);
  EXPECT_GT(losses.intra_text.item<double>(), 0.0);
  const double expect = losses.nce.item<double>() +
                        0.4 * (losses.intra_video.item<double>() + losses.intra_text.item<double>());
  EXPECT_NEAR(losses.total.item<double>(), expect, 1e-6);
}

// loss.contrastive.form: tiled (tiles of 3 over a batch of 7, and auto above its tile) gives
// the direct step's loss and every parameter gradient, in float64, with LICA on; with the
// fused LICA form too, the one pass of both (loss/contrastive_lica_fused.h).
TEST(StepLosses, TiledContrastiveFormEqualsTheDirectOne) {
  auto model = small_model();
  model->to(torch::kDouble);
  auto batch = small_batch();
  batch.video = batch.video.to(torch::kDouble);
  batch.text = batch.text.to(torch::kDouble);
  dist::LocalCommunicator local;
  LossOptions direct;
  direct.lica_weight = 0.5;
  const auto expect_losses = step_losses(model, nullptr, local, batch, 0, direct);
  const auto expect = gradients(model, expect_losses.total);
  for (const auto& [form, lica_form] :
       {std::pair<const char*, loss::LicaForm>{"tiled", loss::LicaForm::kAuto},
        {"auto", loss::LicaForm::kAuto},
        {"tiled", loss::LicaForm::kFused}}) {
    SCOPED_TRACE(std::string(form) + (lica_form == loss::LicaForm::kFused ? ", one pass" : ""));
    LossOptions tiled = direct;
    tiled.contrastive_form = form;
    tiled.contrastive_tile = 3;
    tiled.lica.form = lica_form;
    tiled.lica.tile_cols = 2;
    ASSERT_TRUE(tiled.contrastive_tiled(7));
    const auto losses = step_losses(model, nullptr, local, batch, 0, tiled);
    EXPECT_NEAR(losses.nce.item<double>(), expect_losses.nce.item<double>(), 1e-12);
    EXPECT_NEAR(losses.intra_video.item<double>(), expect_losses.intra_video.item<double>(), 1e-12);
    EXPECT_NEAR(losses.intra_text.item<double>(), expect_losses.intra_text.item<double>(), 1e-12);
    const auto got = gradients(model, losses.total);
    for (size_t k = 0; k < got.size(); ++k) {
      EXPECT_LE((got[k] - expect[k]).abs().max().item<double>(),
                1e-10 * std::max(1.0, expect[k].abs().max().item<double>()));
    }
  }
  LossOptions small_batch_auto = direct;
  small_batch_auto.contrastive_form = "auto";
  EXPECT_FALSE(small_batch_auto.contrastive_tiled(7));  // 7 <= 4096: one tile, direct
}

}  // namespace
}  // namespace lica::trainer
