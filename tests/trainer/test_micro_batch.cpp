// Embedding-cached micro-batches (trainer/micro_batch.h): the micro-batched step's loss and
// every parameter gradient equal the one-pass step's (float64, one process; W ranks in
// tests/mpi/test_distributed.cpp), for micro-batches that do and do not divide the batch,
// one row, and more rows than the batch; with dropout the second pass replays the first
// pass's masks; and the generator is left where the one-pass step leaves it.
#include "trainer/micro_batch.h"

#include <ATen/Context.h>
#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

#include "dist/local_communicator.h"

namespace lica::trainer {
namespace {

model::DualEncoderOptions options(double dropout) {
  model::DualEncoderOptions o;
  o.video.input_dim = 6, o.video.embed_dim = 8, o.video.max_frames = 4, o.video.heads = 2;
  o.video.layers = 1;
  o.text.input_dim = 5, o.text.embed_dim = 8, o.text.max_tokens = 3, o.text.layers = 1;
  o.text.heads = 2;
  o.video.dropout = dropout;
  o.text.dropout = dropout;
  return o;
}

model::DualEncoder small_model(double dropout = 0.0) {
  torch::manual_seed(5);
  model::DualEncoder m(options(dropout));
  m->to(torch::kDouble);
  return m;
}

data::Batch small_batch(int64_t n = 11) {
  torch::manual_seed(6);
  const auto f64 = torch::TensorOptions().dtype(torch::kDouble);
  data::Batch b;
  b.video = torch::randn({n, 4, 6}, f64);
  b.text = torch::randn({n, 3, 5}, f64);
  b.video_mask = torch::arange(4).unsqueeze(0) < torch::randint(1, 5, {n, 1});
  b.text_mask = torch::arange(3).unsqueeze(0) < torch::randint(1, 4, {n, 1});
  return b;
}

std::vector<torch::Tensor> take_gradients(model::DualEncoder& m) {
  std::vector<torch::Tensor> g;
  for (auto& p : m->parameters()) {
    g.push_back(p.grad().defined() ? p.grad().clone() : torch::zeros_like(p));
    p.mutable_grad() = torch::Tensor();
  }
  return g;
}

// max over parameters of |got - expect| / max(1e-300, max |expect|) of that parameter.
double worst_relative(const std::vector<torch::Tensor>& got, const std::vector<torch::Tensor>& expect) {
  double worst = 0.0;
  for (size_t k = 0; k < got.size(); ++k) {
    const double scale = std::max(1e-300, expect[k].abs().max().item<double>());
    worst = std::max(worst, (got[k] - expect[k]).abs().max().item<double>() / scale);
  }
  return worst;
}

std::vector<std::pair<std::string, LossOptions>> settings() {
  std::vector<std::pair<std::string, LossOptions>> all;
  all.emplace_back("baseline", LossOptions{});
  LossOptions lica;
  lica.lica_weight = 0.7;
  lica.lica.top_k = 3;
  all.emplace_back("lica js top_k 3", lica);
  LossOptions fused = lica;
  fused.lica.form = loss::LicaForm::kFused;
  fused.lica.tile_cols = 4;
  fused.source = AffinitySource::kInput;
  all.emplace_back("lica fused, input affinities", fused);
  LossOptions tiled = lica;
  tiled.contrastive_form = "tiled";
  tiled.contrastive_tile = 3;
  all.emplace_back("lica, tiled contrastive", tiled);
  LossOptions one_pass = fused;
  one_pass.contrastive_form = "tiled";
  one_pass.contrastive_tile = 3;
  all.emplace_back("lica fused and tiled contrastive, one pass", one_pass);
  LossOptions queues = lica;
  queues.itc = {0.8, 0.1};
  queues.ims = {0.6, 0.2};
  all.emplace_back("lica itc ims", queues);
  return all;
}

TEST(MicroBatch, LossAndEveryGradientEqualTheOnePassStep) {
  const auto batch = small_batch();
  dist::LocalCommunicator local;
  for (const auto& [label, opt] : settings()) {
    auto model = small_model();
    model::Momentum momentum{nullptr};
    if (opt.needs_momentum()) {
      momentum = model::Momentum(options(0.0), model, 0.9, 16);
      momentum->to(torch::kDouble);
      momentum->enqueue(torch::nn::functional::normalize(torch::randn({5, 8}, torch::kDouble)),
                        torch::nn::functional::normalize(torch::randn({5, 8}, torch::kDouble)));
    }
    const auto expect = step_losses(model, momentum, local, batch, 0, opt);
    expect.total.backward();
    const auto expect_grads = take_gradients(model);
    for (const int64_t rows : {1, 3, 4, 11, 20}) {  // 3, 4 leave a short last micro-batch
      SCOPED_TRACE(label + ", micro_batch " + std::to_string(rows));
      LossOptions micro = opt;
      micro.micro_batch = rows;
      const auto got = micro_batched_step(model, momentum, local, batch, 0, micro, 0);
      EXPECT_FALSE(got.total.requires_grad());
      EXPECT_NEAR(got.total.item<double>(), expect.total.item<double>(),
                  1e-12 * std::abs(expect.total.item<double>()));
      EXPECT_NEAR(got.intra_video.item<double>(), expect.intra_video.item<double>(), 1e-12);
      EXPECT_NEAR(got.itc.item<double>(), expect.itc.item<double>(), 1e-12);
      if (opt.needs_momentum()) {
        EXPECT_LE((got.momentum_video - expect.momentum_video).abs().max().item<double>(), 1e-13);
      }
      EXPECT_LE(worst_relative(take_gradients(model), expect_grads), 1e-10);
    }
  }
}

// trainer.host_inputs: the batch in host memory and the model on the GPU, each micro-batch
// copied when it is encoded, gives the step of the batch on the GPU (float64). Runs in the
// device suite; on the CPU the inputs are on the host either way.
TEST(MicroBatch, HostInputsOnCudaEqualDeviceInputs) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device: host and device are one";
  const auto host = small_batch();
  const auto on_gpu = data::batch_to(host, torch::kCUDA);
  dist::LocalCommunicator local;
  for (auto [label, opt] : settings()) {
    SCOPED_TRACE(label);
    opt.micro_batch = 4;
    std::vector<torch::Tensor> grads[2];
    double totals[2];
    for (int k = 0; k < 2; ++k) {
      auto model = small_model();
      model->to(torch::kCUDA);
      model::Momentum momentum{nullptr};
      if (opt.needs_momentum()) {
        momentum = model::Momentum(options(0.0), model, 0.9, 16);
        momentum->to(torch::kCUDA, torch::kDouble);
      }
      const auto out = micro_batched_step(model, momentum, local, k == 0 ? host : on_gpu, 0, opt, 0);
      totals[k] = out.total.item<double>();
      grads[k] = take_gradients(model);
    }
    EXPECT_NEAR(totals[0], totals[1], 1e-12 * std::abs(totals[1]));
    EXPECT_LE(worst_relative(grads[0], grads[1]), 1e-12);
  }
}

// With dropout the gradient must be that of the function the first pass evaluated: each
// micro-batch's second pass replays its first pass's generator state. The reference encodes
// the same micro-batches in the same order with autograd, from the same generator state.
TEST(MicroBatch, DropoutMasksOfTheSecondPassAreTheFirstPasss) {
  const auto batch = small_batch();
  dist::LocalCommunicator local;
  LossOptions opt;
  opt.lica_weight = 0.5;
  opt.micro_batch = 4;
  auto model = small_model(/*dropout=*/0.3);
  model->train();
  auto generator = at::globalContext().defaultGenerator(torch::kCPU);
  torch::manual_seed(99);
  const auto start = generator.get_state();

  const auto encode = [&](bool video) {
    return in_chunks(batch.size(), opt.micro_batch, [&](int64_t r0, int64_t r1) {
      return video ? model->encode_video_sequence(batch.video.slice(0, r0, r1),
                                                  batch.video_mask.slice(0, r0, r1)).embedding
                   : model->encode_text_sequence(batch.text.slice(0, r0, r1),
                                                 batch.text_mask.slice(0, r0, r1)).embedding;
    });
  };
  const auto video = encode(true);
  const auto text = encode(false);
  const auto after_reference = generator.get_state();
  const auto expect = step_losses_from(model, nullptr, local, batch, 0, opt, 0,
                                       model::Encoded{video, {}}, model::Encoded{text, {}});
  expect.total.backward();
  const auto expect_grads = take_gradients(model);

  generator.set_state(start);
  const auto got = micro_batched_step(model, nullptr, local, batch, 0, opt, 0);
  EXPECT_NEAR(got.total.item<double>(), expect.total.item<double>(), 1e-12);
  EXPECT_LE(worst_relative(take_gradients(model), expect_grads), 1e-10);
  // The next step draws what it would have drawn after the reference's forward.
  EXPECT_TRUE(torch::equal(generator.get_state(), after_reference));

  // Without dropout's replay the masks differ: the check above can fail.
  generator.set_state(start);
  LossOptions one_pass = opt;
  one_pass.micro_batch = 0;
  step_losses(model, nullptr, local, batch, 0, one_pass).total.backward();
  EXPECT_GT(worst_relative(take_gradients(model), expect_grads), 1e-6)
      << "dropout drew the same masks for whole and micro-batched encoding; the test proves nothing";
}

TEST(MicroBatch, ReducerSumsTheAccumulatedGradients) {
  // At W = 1 reduce_accumulated leaves .grad as it was; a parameter without one gets zeros.
  auto model = small_model();
  dist::LocalCommunicator local;
  dist::GradientReducer reducer(local, model->parameters(), 0.0001);
  LossOptions opt;
  opt.micro_batch = 5;
  const auto batch = small_batch();
  const auto losses = losses_and_gradients(model, nullptr, local, batch, 0, opt, reducer);
  auto grads = take_gradients(model);
  opt.micro_batch = 0;
  losses_and_gradients(model, nullptr, local, batch, 0, opt, reducer);
  EXPECT_LE(worst_relative(grads, take_gradients(model)), 1e-10);
  EXPECT_TRUE(std::isfinite(losses.total.item<double>()));
}

}  // namespace
}  // namespace lica::trainer
