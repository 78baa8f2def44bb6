#include "trainer/step.h"

#include <gtest/gtest.h>

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

}  // namespace
}  // namespace lica::trainer
