// The fused form of the LICA term against the direct (ATen autograd) form, which the tests
// of test_lica_loss.cpp check against hand values, brute-force loops and finite differences.
// On the CPU the fused form runs the reference loops of the kernels; on a GPU (CUDA builds)
// the kernels themselves.
#include "loss/lica_fused.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "common/error.h"

namespace lica::loss {
namespace {

struct Inputs {
  torch::Tensor rows, cols, scale;  // leaves
  torch::Tensor unit;               // [B, D'] affinity rows (unit_rows of some source)
};

// Random unit embeddings; `groups` > 0 makes samples i and i + groups share their affinity
// source, so affinities tie exactly and the smaller-index rule decides.
Inputs random_inputs(int64_t batch, int64_t dim, double scale, torch::Dtype dtype,
                     torch::Device device, int64_t groups = 0, uint64_t seed = 7) {
  torch::manual_seed(seed);
  auto opts = torch::TensorOptions().dtype(torch::kDouble);
  auto normal = [&](int64_t n) {
    auto x = torch::randn({n, dim}, opts);
    return x / x.norm(2, 1, true);
  };
  Inputs in;
  in.rows = normal(batch).to(device, dtype).requires_grad_(true);
  in.cols = normal(batch).to(device, dtype).requires_grad_(true);
  in.scale = torch::scalar_tensor(scale, opts).to(device, dtype).requires_grad_(true);
  auto source = normal(batch);
  if (groups > 0) source = source.slice(0, 0, groups).repeat({(batch + groups - 1) / groups, 1})
                               .slice(0, 0, batch);
  in.unit = unit_rows(source.to(device, dtype));
  return in;
}

struct Result {
  torch::Tensor loss, grad_rows, grad_cols, grad_scale;  // on the CPU, float64
};

Result gradients(const Inputs& in, const torch::Tensor& loss) {
  for (const auto& t : {in.rows, in.cols, in.scale}) {
    if (t.grad().defined()) t.grad().zero_();
  }
  loss.backward();
  // A copy: .to() of a CPU float64 tensor is the tensor itself, which the next call zeroes.
  auto cpu = [](const torch::Tensor& t) {
    return t.detach().to(torch::kCPU, torch::kDouble).clone();
  };
  return {cpu(loss), cpu(in.rows.grad()), cpu(in.cols.grad()), cpu(in.scale.grad())};
}

// The direct form on log_softmax(s · rows · colsᵀ): the ATen reference.
Result direct(const Inputs& in, int64_t offset, int64_t count, LicaOptions opt) {
  opt.form = LicaForm::kDirect;
  auto log_p = torch::log_softmax(in.scale * in.rows.matmul(in.cols.t()), 1);
  return gradients(in, intra_consistency_loss(log_p, in.unit.matmul(in.unit.t()), offset,
                                              count, opt));
}

Result fused(const Inputs& in, int64_t offset, int64_t count, const LicaOptions& opt) {
  return gradients(in, fused_intra_consistency_loss(in.rows, in.cols, in.scale,
                                                    lica_pairs(in.unit, offset, count, opt),
                                                    opt.divergence, opt.tile_cols));
}

// Within tol relative to the size of the reference (gradients reach ~1e4 at s = 100, where
// float32's rounding alone is ~1e-3 absolute), and tol absolute near 0.
void expect_close(const Result& got, const Result& want, double tol, const std::string& what) {
  SCOPED_TRACE(what);
  const auto near = [&](const torch::Tensor& g, const torch::Tensor& w, const char* name) {
    EXPECT_TRUE(torch::isfinite(g).all().item<bool>()) << name;
    const double bound = tol * (1.0 + w.abs().max().item<double>());
    EXPECT_LE((g - w).abs().max().item<double>(), bound) << name;
  };
  near(got.loss, want.loss, "loss");
  near(got.grad_rows, want.grad_rows, "d rows");
  near(got.grad_cols, want.grad_cols, "d cols");
  near(got.grad_scale, want.grad_scale, "d scale");
}

struct Case {
  std::string name;
  int64_t batch, dim;
  double scale;
  int64_t groups;  // tied affinities
  LicaOptions opt;
  int64_t offset, count;
};

LicaOptions options(Divergence d, int64_t top_k, double min_affinity, int64_t tile_cols,
                    int64_t chunk_rows = 1024) {
  LicaOptions o;
  o.divergence = d;
  o.top_k = top_k;
  o.min_affinity = min_affinity;
  o.tile_cols = tile_cols;
  o.chunk_rows = chunk_rows;
  o.tau_intra = 0.2;
  return o;
}

// Random and adversarial cases: tiles that do and do not divide B, one-column tiles, k = B-1,
// dropped pairs, tied affinities, a rank's share of the anchors, and large logits (s = 100
// with near-one-hot distributions whose small probabilities underflow in float32).
std::vector<Case> cases() {
  const auto js = Divergence::kJs, kl = Divergence::kKl;
  return {
      {"js all, tile 5", 13, 8, 14.0, 0, options(js, 0, -1, 5), 0, 13},
      {"kl all, tile 1", 13, 8, 14.0, 0, options(kl, 0, -1, 1), 0, 13},
      {"js k=B-1, tile B", 13, 8, 20.0, 0, options(js, 12, -1, 13), 0, 13},
      {"js k=3, one tile larger than B", 17, 6, 10.0, 0, options(js, 3, -1, 100), 0, 17},
      {"kl k=4, anchors 5..11, chunked selection", 17, 6, 10.0, 0,
       options(kl, 4, -1, 4, /*chunk_rows=*/3), 5, 7},
      {"js min_affinity drops pairs", 16, 4, 10.0, 0, options(js, 6, 0.3, 7), 0, 16},
      {"js tied affinities", 18, 5, 12.0, 6, options(js, 4, -1, 8, 5), 0, 18},
      {"kl tied affinities, share", 18, 5, 12.0, 6, options(kl, 5, -1, 8), 9, 9},
      {"js large logits", 24, 3, 100.0, 0, options(js, 5, -1, 7), 0, 24},
      {"kl large logits k=B-1", 24, 3, 100.0, 0, options(kl, 23, -1, 16), 0, 24},
  };
}

TEST(LicaFused, EqualsTheDirectFormInFloat64) {
  for (const auto& c : cases()) {
    auto in = random_inputs(c.batch, c.dim, c.scale, torch::kDouble, torch::kCPU, c.groups);
    // Both forms in float64: the same sums in another order, so 1e-10 is rounding.
    expect_close(fused(in, c.offset, c.count, c.opt), direct(in, c.offset, c.count, c.opt),
                 1e-10, c.name);
  }
}

TEST(LicaFused, Float32IsWithinRoundingOfFloat64) {
  for (const auto& c : cases()) {
    auto in32 = random_inputs(c.batch, c.dim, c.scale, torch::kFloat, torch::kCPU, c.groups);
    auto in64 = random_inputs(c.batch, c.dim, c.scale, torch::kDouble, torch::kCPU, c.groups);
    // float32 sums of at most a few hundred terms of size <= ~s: 1e-4 absolute.
    expect_close(fused(in32, c.offset, c.count, c.opt), direct(in64, c.offset, c.count, c.opt),
                 1e-4, c.name);
  }
}

TEST(LicaFused, PairsFollowTheDirectSelection) {
  // lica_pairs builds affinity rows chunk by chunk; its pairs (ties included) must be the
  // ones the direct form weighs: the same loss whatever the chunk.
  auto in = random_inputs(15, 4, 10.0, torch::kDouble, torch::kCPU, /*groups=*/5);
  for (int64_t chunk : {1, 4, 15}) {
    auto opt = options(Divergence::kJs, 3, -1, 6, chunk);
    auto pairs = lica_pairs(in.unit, 0, 15, opt);
    EXPECT_EQ(pairs.anchor.numel(), 15 * 3);
    EXPECT_TRUE(torch::all(pairs.weight > 0).item<bool>());
    expect_close(fused(in, 0, 15, opt), direct(in, 0, 15, opt), 1e-10,
                 "chunk " + std::to_string(chunk));
  }
}

TEST(LicaFused, RejectsBadInput) {
  auto in = random_inputs(6, 4, 10.0, torch::kDouble, torch::kCPU);
  auto opt = options(Divergence::kJs, 0, -1, 0);
  EXPECT_THROW(fused(in, 0, 6, opt), InputError);  // tile_cols 0
  opt.tile_cols = 4;
  EXPECT_THROW(lica_pairs(in.unit, 4, 3, opt), Error);  // anchors past the batch
  EXPECT_THROW(parse_lica_form("tiled"), InputError);
  EXPECT_EQ(parse_lica_form("fused"), LicaForm::kFused);
  auto log_p = torch::log_softmax(in.rows.matmul(in.cols.t()), 1);
  opt.form = LicaForm::kFused;  // the log_p entry point cannot run the fused form
  EXPECT_THROW(intra_consistency_loss(log_p, in.unit.matmul(in.unit.t()), opt), Error);
}

// The CUDA kernels against the ATen reference on the GPU (issue 9: within 1e-4 in fp32).
TEST(LicaFusedCuda, KernelsEqualTheAtenReference) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device: the kernels are not run";
  ASSERT_TRUE(fused_lica_has_cuda()) << "a CUDA device but a build without kernels/";
  for (const auto& c : cases()) {
    auto in = random_inputs(c.batch, c.dim, c.scale, torch::kFloat, torch::kCUDA, c.groups);
    expect_close(fused(in, c.offset, c.count, c.opt), direct(in, c.offset, c.count, c.opt),
                 1e-4, c.name);
  }
  // A size where the pair kernel's warps and the row kernel's column blocks are many.
  auto in = random_inputs(1024, 64, 30.0, torch::kFloat, torch::kCUDA, 0);
  auto opt = options(Divergence::kJs, 16, -1, 300);
  expect_close(fused(in, 0, 1024, opt), direct(in, 0, 1024, opt), 1e-4, "B=1024 k=16");
}

}  // namespace
}  // namespace lica::loss
