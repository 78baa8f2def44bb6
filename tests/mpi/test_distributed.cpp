// Distributed exactness, run by ctest under `mpirun -np N` for N = 1, 2, 3, 4. Each test
// computes the single-process reference on the global batch on every rank (a
// LocalCommunicator) and compares the data-parallel result with it.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <limits>
#include <string>

#include "common/error.h"
#include "data/feature_file.h"
#include "data/synthetic.h"
#include "dist/all_gather.h"
#include "dist/gradient_reducer.h"
#include "dist/local_communicator.h"
#include "dist/shard.h"
#include "mpi/mpi_env.h"
#include "support/synthetic_file.h"
#include "eval/encode_split.h"
#include "eval/evaluate.h"
#include "trainer/schedule.h"
#include "run/model_options.h"
#include "trainer/micro_batch.h"
#include "trainer/step.h"

namespace lica {
namespace {

using testing::comm;

constexpr int64_t kGlobalBatch = 12;  // divisible by 1, 2, 3 and 4

// A random global batch, identical on every rank (same seed), in float64.
data::Batch random_batch(uint64_t seed) {
  torch::manual_seed(seed);
  auto f64 = torch::TensorOptions().dtype(torch::kDouble);
  data::Batch b;
  b.video = torch::randn({kGlobalBatch, 6, 10}, f64);
  b.text = torch::randn({kGlobalBatch, 5, 8}, f64);
  auto frames = torch::randint(1, 7, {kGlobalBatch}, torch::kLong);
  auto tokens = torch::randint(1, 6, {kGlobalBatch}, torch::kLong);
  b.video_mask = torch::arange(6).unsqueeze(0) < frames.unsqueeze(1);
  b.text_mask = torch::arange(5).unsqueeze(0) < tokens.unsqueeze(1);
  return b;
}

data::Batch rows(const data::Batch& b, int64_t begin, int64_t end) {
  data::Batch s;
  s.video = b.video.slice(0, begin, end);
  s.text = b.text.slice(0, begin, end);
  s.video_mask = b.video_mask.slice(0, begin, end);
  s.text_mask = b.text_mask.slice(0, begin, end);
  return s;
}

model::DualEncoderOptions model_options(const trainer::LossOptions& loss = {}) {
  model::DualEncoderOptions o;
  o.video.input_dim = 10;
  o.video.embed_dim = 8;
  o.video.max_frames = 6;
  o.video.layers = 1;
  o.video.heads = 2;
  o.text.input_dim = 8;
  o.text.embed_dim = 8;
  o.text.max_tokens = 5;
  o.text.layers = 1;
  o.text.heads = 2;
  o.local_heads = loss.needs_local_heads();
  if (loss.itm_weight > 0) o.fusion = model::FusionOptions{8, 1, 2, 0.0};
  return o;
}

model::DualEncoder make_model(const trainer::LossOptions& loss = {}) {
  torch::manual_seed(7);
  model::DualEncoder m(model_options(loss));
  m->to(torch::kDouble);
  return m;
}

// Momentum towers for the settings that need them (else null), their queues holding
// `queued` rows of earlier random batches.
model::Momentum make_momentum(model::DualEncoder& model, const trainer::LossOptions& loss,
                              int64_t queue_size, int64_t queued) {
  if (!loss.needs_momentum()) return model::Momentum(nullptr);
  model::Momentum m(model_options(loss), model, 0.9, queue_size);
  m->to(torch::kDouble);
  torch::manual_seed(11);
  for (int64_t left = queued; left > 0; left -= 5) {
    const int64_t n = std::min<int64_t>(5, left);
    m->enqueue(torch::nn::functional::normalize(torch::randn({n, 8}, torch::kDouble)),
               torch::nn::functional::normalize(torch::randn({n, 8}, torch::kDouble)));
  }
  return m;
}

std::vector<torch::Tensor> grads(model::DualEncoder& m) {
  std::vector<torch::Tensor> g;
  for (const auto& p : m->parameters()) g.push_back(p.grad().clone());
  return g;
}

TEST(AllGather, ForwardConcatenatesAndBackwardSumsOverRanks) {
  const int r = comm().rank(), w = comm().world_size();
  // Rank r holds r + 1 rows of value r + 1: ranks hold different numbers of rows.
  auto x = torch::full({r + 1, 3}, static_cast<double>(r + 1), torch::kDouble).requires_grad_(true);
  auto y = dist::all_gather_with_grad(comm(), x);
  const int64_t total = w * (w + 1) / 2;
  ASSERT_EQ(y.size(0), total);
  int64_t row = 0;
  for (int q = 0; q < w; ++q) {
    for (int k = 0; k <= q; ++k, ++row) EXPECT_EQ(y[row][0].item<double>(), q + 1.0);
  }
  // Every rank's loss is Σ c ⊙ y with the same c, so the total is W · Σ c ⊙ y and its
  // gradient with respect to rank r's rows is W · c[rows of r].
  auto c = torch::arange(total * 3, torch::kDouble).view({total, 3});
  (c * y).sum().backward();
  const int64_t offset = r * (r + 1) / 2;
  EXPECT_TRUE(torch::equal(x.grad(), w * c.slice(0, offset, offset + r + 1)));
}

TEST(AllGather, RanksWithoutRowsTakePart) {
  // Evaluation shards can be empty on some ranks (fewer batches than ranks).
  const int r = comm().rank(), w = comm().world_size();
  const int64_t mine = r % 2 == 1 ? 0 : 2;
  auto x = torch::full({mine, 3}, static_cast<float>(r));
  auto y = comm().all_gather(x);
  int64_t expect = 0;
  for (int q = 0; q < w; ++q) expect += q % 2 == 1 ? 0 : 2;
  ASSERT_EQ(y.sizes(), (std::vector<int64_t>{expect, 3}));
  int64_t row = 0;
  for (int q = 0; q < w; q += 2, row += 2) EXPECT_EQ(y[row][2].item<float>(), static_cast<float>(q));
}

// One step: the distributed loss and every parameter gradient equal one process on the
// global batch. Float64, so the only differences are summation order (~1e-16 relative);
// 1e-12 is far below the 1/W error of an unsummed all-gather backward.
// The loss configurations every exactness test runs: the baseline and LICA with both
// sources and divergences, top-k and a min_affinity that drops some pairs.
std::vector<std::pair<std::string, trainer::LossOptions>> loss_settings() {
  std::vector<std::pair<std::string, trainer::LossOptions>> all;
  all.emplace_back("baseline", trainer::LossOptions{});
  trainer::LossOptions js;
  js.lica_weight = 0.7;
  js.lica.top_k = 3;
  all.emplace_back("lica js embedding top_k 3", js);
  trainer::LossOptions kl;
  kl.lica_weight = 1.3;
  kl.lica.divergence = loss::Divergence::kKl;
  kl.lica.min_affinity = 0.0;
  kl.lica.tau_intra = 0.5;
  kl.source = trainer::AffinitySource::kInput;
  all.emplace_back("lica kl input min_affinity 0", kl);
  // The fused form: pairs anywhere in the global batch, gradients through the all-gather.
  trainer::LossOptions fused_js = js;
  fused_js.lica.form = loss::LicaForm::kFused;
  fused_js.lica.tile_cols = 5;
  fused_js.lica.chunk_rows = 2;
  all.emplace_back("lica js fused tiles of 5", fused_js);
  trainer::LossOptions fused_kl = kl;
  fused_kl.lica.form = loss::LicaForm::kFused;
  fused_kl.lica.tile_cols = 3;
  all.emplace_back("lica kl input fused tiles of 3", fused_kl);
  trainer::LossOptions one_pass = fused_js;  // the tiled InfoNCE and fused LICA in one pass
  one_pass.contrastive_form = "tiled";
  one_pass.contrastive_tile = 4;
  all.emplace_back("lica js fused and tiled InfoNCE, one pass", one_pass);
  // AAI: ITC and IMS against momentum targets and queues, LMIM, and all with LICA.
  trainer::LossOptions queues;
  queues.itc = {0.8, 0.1};
  queues.ims = {0.6, 0.2};
  all.emplace_back("itc ims", queues);
  trainer::LossOptions lmim;
  lmim.lmim = {0.9, 0.15};
  all.emplace_back("lmim", lmim);
  trainer::LossOptions itm;
  itm.itm_weight = 1.2;  // hard negatives from anywhere in the global batch
  all.emplace_back("itm", itm);
  trainer::LossOptions every = js;
  every.itc = queues.itc;
  every.ims = queues.ims;
  every.lmim = lmim.lmim;
  every.itm_weight = itm.itm_weight;
  all.emplace_back("lica itc ims lmim itm", every);
  return all;
}

class DistributedLoss : public ::testing::TestWithParam<int> {};

TEST_P(DistributedLoss, OneStepLossAndGradientsEqualSingleProcess) {
  const auto [label, loss_opt] = loss_settings()[static_cast<size_t>(GetParam())];
  SCOPED_TRACE(label);
  auto model = make_model(loss_opt);
  auto momentum = make_momentum(model, loss_opt, 16, 7);
  const auto batch = random_batch(11);
  dist::LocalCommunicator local;
  auto ref_loss = trainer::step_losses(model, momentum, local, batch, 0, loss_opt).total;
  ref_loss.backward();
  const auto ref = grads(model);
  for (auto& p : model->parameters()) p.mutable_grad().zero_();

  dist::GradientReducer reducer(comm(), model->parameters(), /*bucket_mb=*/0.001);
  if (comm().world_size() > 1) {
    ASSERT_GT(reducer.num_buckets(), 2);  // several buckets, launched from hooks
  } else {
    ASSERT_EQ(reducer.num_buckets(), 0);  // one rank: .grad is the sum, nothing is copied
  }
  const auto [r0, r1] = dist::shard_range(kGlobalBatch, comm().rank(), comm().world_size());
  auto share = trainer::step_losses(model, momentum, comm(), rows(batch, r0, r1), r0, loss_opt).total;
  reducer.prepare();
  share.backward();
  reducer.finish();
  EXPECT_NEAR(dist::all_reduce_sum(comm(), share.item<double>()), ref_loss.item<double>(), 1e-12);
  const auto got = grads(model);
  auto names = model->named_parameters().keys();
  double worst = 0.0;
  for (size_t i = 0; i < ref.size(); ++i) {
    worst = std::max(worst, (got[i] - ref[i]).abs().max().item<double>() /
                                std::max(1e-300, ref[i].abs().max().item<double>()));
  }
  if (comm().rank() == 0) std::printf("W=%d %s: max |grad - single-process grad| / max |grad| = %.3g\n", comm().world_size(), label.c_str(), worst);
  for (size_t i = 0; i < ref.size(); ++i) {
    EXPECT_TRUE(torch::allclose(got[i], ref[i], 1e-10, 1e-12))
        << names[i] << " max diff " << (got[i] - ref[i]).abs().max().item<double>();
  }
}
INSTANTIATE_TEST_SUITE_P(Settings, DistributedLoss, ::testing::Range(0, 9));

// 20 AdamW steps with the trainer's pieces (all-gather, reducer, clipping, schedule,
// logit-scale clamp, momentum update) on `c`; the parameters after them, with the momentum
// towers and queues.
std::vector<torch::Tensor> twenty_steps(dist::Communicator& c, const trainer::LossOptions& loss_opt) {
  auto model = make_model(loss_opt);
  dist::broadcast_parameters(c, model->parameters());
  // A queue of 20 wraps around within the 20 steps of 12 samples.
  auto momentum = make_momentum(model, loss_opt, 20, 0);
  dist::GradientReducer reducer(c, model->parameters(), 0.001);
  auto opt = trainer::make_adamw(*model, 1e-2, 0.2);
  const trainer::ScheduleOptions sched{1e-2, 20, 3, 0.1};
  for (int step = 0; step < 20; ++step) {
    const auto batch = random_batch(100 + static_cast<uint64_t>(step));
    const auto [r0, r1] = dist::shard_range(kGlobalBatch, c.rank(), c.world_size());
    opt->zero_grad();
    const auto losses = trainer::losses_and_gradients(model, momentum, c, rows(batch, r0, r1),
                                                      r0, loss_opt, reducer);
    torch::nn::utils::clip_grad_norm_(model->parameters(), 1.0);
    trainer::set_learning_rate(*opt, trainer::learning_rate(sched, step));
    opt->step();
    model->clamp_logit_scale();
    if (momentum) {
      momentum->update(model);
      momentum->enqueue(losses.momentum_video, losses.momentum_text);
    }
  }
  std::vector<torch::Tensor> params;
  for (const auto& p : model->parameters()) params.push_back(p.detach().clone());
  if (momentum) {  // the EMA towers and the queues too
    for (const auto& b : momentum->buffers()) params.push_back(b.detach().to(torch::kDouble));
    for (const auto& p : momentum->parameters()) params.push_back(p.detach().clone());
  }
  return params;
}

// 20 steps at W ranks track one process on the same global batches within 1e-9 (float64;
// the issue asks for 1e-5).
TEST_P(DistributedLoss, TwentyStepsTrackSingleProcess) {
  const auto [label, loss_opt] = loss_settings()[static_cast<size_t>(GetParam())];
  dist::LocalCommunicator local;
  const auto ref = twenty_steps(local, loss_opt);
  const auto got = twenty_steps(comm(), loss_opt);
  double worst = 0.0;
  for (size_t i = 0; i < ref.size(); ++i) {
    worst = std::max(worst, (got[i] - ref[i]).abs().max().item<double>());
  }
  EXPECT_LT(worst, 1e-9);
  if (comm().rank() == 0) std::printf("W=%d %s: max |param - single-process param| = %.3g\n", comm().world_size(), label.c_str(), worst);
}

// trainer.micro_batch: 20 steps at W ranks, each rank encoding its rows in micro-batches
// (5 + 5 + 2 at W = 1, 5 + 1 at 2, 2 + 2 at 3, 2 + 1 at 4), equal one process without
// micro-batches within 1e-10 of each tensor's largest value (float64, dropout 0). LMIM and
// ITM refuse micro-batches.
TEST_P(DistributedLoss, TwentyMicroBatchedStepsTrackSingleProcessWithout) {
  const auto [label, loss_opt] = loss_settings()[static_cast<size_t>(GetParam())];
  if (loss_opt.needs_local_heads() || loss_opt.itm_weight > 0) GTEST_SKIP() << label;
  auto micro = loss_opt;
  micro.micro_batch = kGlobalBatch / comm().world_size() > 5 ? 5 : 2;
  dist::LocalCommunicator local;
  const auto ref = twenty_steps(local, loss_opt);
  const auto got = twenty_steps(comm(), micro);
  double worst = 0.0;
  for (size_t i = 0; i < ref.size(); ++i) {
    const double scale = std::max(1e-300, ref[i].abs().max().item<double>());
    worst = std::max(worst, (got[i] - ref[i]).abs().max().item<double>() / scale);
  }
  EXPECT_LT(worst, 1e-10);
  if (comm().rank() == 0) std::printf("W=%d %s, micro_batch %lld: max |param - single-process param| / max |param| = %.3g\n", comm().world_size(), label.c_str(), static_cast<long long>(micro.micro_batch), worst);
}

// Sharded evaluation gives exactly the metrics of one process, with a test split whose
// size is not divisible by W (37 videos; eval batches of 5).
TEST(Distributed, ShardedEvaluationEqualsSingleProcess) {
  namespace fs = std::filesystem;
  const auto dir = fs::temp_directory_path() / ("lica_mpi_eval_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  auto so = testing::synthetic_options(185, 10, 8, /*seed=*/3);
  so.test_fraction = 0.2;  // 37 test videos
  so.frames = 6;
  so.min_frames = 2;
  so.tokens = 5;
  so.min_tokens = 2;
  const auto file = testing::write_and_open((dir / "s.h5").string(), so);
  const auto& split = file.split("test");
  ASSERT_EQ(split.videos.size(), 37u);
  trainer::LossOptions with_fusion;
  with_fusion.itm_weight = 1.0;
  auto model = make_model(with_fusion);
  model->to(torch::kFloat);
  dist::LocalCommunicator local;
  // Plain, with dual-softmax re-normalisation (its column norm spans every rank's queries),
  // and with fusion re-ranking of each query's top 4 (candidates' frames from every rank).
  for (auto [dsl, rerank] : {std::pair{false, 0}, std::pair{true, 0}, std::pair{false, 4},
                             std::pair{true, 4}}) {
    SCOPED_TRACE("dsl " + std::to_string(dsl) + " rerank " + std::to_string(rerank));
    const eval::EvalOptions opt{5, 3, dsl, 0.05, rerank};
    const auto ref = eval::evaluate_split(model, file, split, opt, local);
    const auto got = eval::evaluate_split(model, file, split, opt, comm());
    for (auto [a, b] : {std::pair{ref.t2v, got.t2v}, std::pair{ref.v2t, got.v2t}}) {
      EXPECT_EQ(a.count, b.count);
      EXPECT_EQ(a.r1, b.r1) << "dsl " << dsl;
      EXPECT_EQ(a.r5, b.r5);
      EXPECT_EQ(a.r10, b.r10);
      EXPECT_EQ(a.mdr, b.mdr);
      EXPECT_EQ(a.mnr, b.mnr) << "dsl " << dsl;
    }
  }
  // Re-ranking does change the ranks (the random fusion encoder reorders the top 4).
  const auto plain = eval::evaluate_split(model, file, split, {5, 3, false, 0.05, 0}, local);
  const auto reranked = eval::evaluate_split(model, file, split, {5, 3, false, 0.05, 4}, local);
  EXPECT_NE(plain.t2v.mnr, reranked.t2v.mnr);
  EXPECT_NE(plain.v2t.mnr, reranked.v2t.mnr);
  fs::remove_all(dir);
}

// A non-finite score is an error naming the query of the split on every rank, not its row on
// the rank (each rank's message names its own first caption, which is 0 only on rank 0).
TEST(Distributed, ShardedEvaluationNamesTheGlobalQueryOfANonFiniteScore) {
  namespace fs = std::filesystem;
  const auto dir = fs::temp_directory_path() / ("lica_mpi_nan_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  auto so = testing::synthetic_options(60, 10, 8, /*seed=*/3);  // the widths of make_model()
  so.test_fraction = 0.5;  // 30 test videos: every rank of up to 4 holds some
  so.frames = 6;
  so.min_frames = 2;
  so.tokens = 5;
  so.min_tokens = 2;
  const auto file = testing::write_and_open((dir / "s.h5").string(), so);
  const auto& split = file.split("test");
  auto model = make_model();
  model->to(torch::kFloat);
  {
    torch::NoGradGuard no_grad;
    for (auto& p : model->named_parameters()) {
      if (p.key().rfind("text.", 0) == 0) p.value().fill_(std::numeric_limits<float>::quiet_NaN());
    }
  }
  // Where this rank's captions start in the split: the dealing evaluate_split uses.
  const auto texts = eval::encode_texts(model, file, split.texts, 5, comm());
  ASSERT_GT(texts.mine.size(0), 0);
  try {
    eval::evaluate_split(model, file, split, {5, 3, false, 0.05, 0}, comm());
    ADD_FAILURE() << "no error for NaN text embeddings";
  } catch (const Error& e) {
    const std::string want = "t2v_ranks: query " + std::to_string(texts.first) + " has a non-finite";
    EXPECT_NE(std::string(e.what()).find(want), std::string::npos) << e.what();
  }
  fs::remove_all(dir);
}

}  // namespace
}  // namespace lica
