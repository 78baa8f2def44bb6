// The fused form of the LICA term against the direct (ATen autograd) form, which the tests
// of test_lica_loss.cpp check against hand values, brute-force loops and finite differences.
// On the CPU the fused form runs the reference loops of the kernels; on a GPU (CUDA builds)
// the kernels themselves.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "common/error.h"
#include "loss/lica_fused.h"

namespace lica::loss {
namespace {

// Errors relative to each element's terms (see conditions()): float32 is within ~5e-6 of
// them at s = 100 (eps·s is 6e-6) and float64 within 1e-14; the tolerances leave 20x and 100x.
constexpr double kFloat32Tol = 1e-4;
constexpr double kFloat64Tol = 1e-12;

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
  if (groups > 0)
    source =
        source.slice(0, 0, groups).repeat({(batch + groups - 1) / groups, 1}).slice(0, 0, batch);
  in.unit = unit_rows(source.to(device, dtype));
  return in;
}

struct Result {
  torch::Tensor loss, grad_rows, grad_cols, grad_scale;  // on the CPU, float64
};

// The same values in float64 (leaves again): a reference without the inputs' rounding, so
// only the arithmetic's rounding separates a float32 result from it.
Inputs widened(const Inputs& in) {
  const auto leaf = [](const torch::Tensor& t) {
    return t.detach().to(torch::kCPU, torch::kDouble).requires_grad_(true);
  };
  return {leaf(in.rows), leaf(in.cols), leaf(in.scale), in.unit.to(torch::kCPU, torch::kDouble)};
}

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

torch::Tensor direct_loss(const torch::Tensor& log_p, const Inputs& in, int64_t offset,
                          int64_t count, LicaOptions opt) {
  opt.form = LicaForm::kDirect;
  return intra_consistency_loss(log_p, in.unit.matmul(in.unit.t()), offset, count, opt);
}

// The direct form on log_softmax(s · rows · colsᵀ): the ATen reference.
Result direct(const Inputs& in, int64_t offset, int64_t count, const LicaOptions& opt) {
  auto log_p = torch::log_softmax(in.scale * in.rows.matmul(in.cols.t()), 1);
  return gradients(in, direct_loss(log_p, in, offset, count, opt));
}

Result fused(const Inputs& in, int64_t offset, int64_t count, const LicaOptions& opt) {
  return gradients(in, fused_intra_consistency_loss(in.rows, in.cols, in.scale,
                                                    lica_pairs(in.unit, offset, count, opt),
                                                    opt.divergence, opt.tile_cols));
}

// What each result's rounding is relative to. Every gradient is a sum over the logits'
// gradient G = dL/d(s·cos): d rows = s·G·cols, d cols = s·Gᵀ·rows, d s = Σ G∘cos, and G is
// itself the softmax's backward of H = dL/d(log p), G = H - p·ΣH per row, whose terms may
// cancel. A sum's rounding error is a multiple of the sum of its terms' magnitudes: the same
// products with |H| + p·Σ|H|, |cols|, |rows| and |cos|, computed in float64. So each element
// is bounded by its own terms: none is measured against the largest value of the tensor (at
// s = 100 some rows' gradients reach ~1e4 and others ~1e-2), and d s, whose terms cancel to
// a small total, is not measured against that total.
struct Conditions {
  torch::Tensor loss, rows, cols, scale;
};

Conditions conditions(const Inputs& any, int64_t offset, int64_t count, const LicaOptions& opt) {
  const auto in = widened(any);
  const auto cos = in.rows.detach().matmul(in.cols.detach().t());
  const auto s = in.scale.detach();
  auto log_p = torch::log_softmax(s * cos, 1).requires_grad_(true);
  auto loss = direct_loss(log_p, in, offset, count, opt);
  const auto h = torch::autograd::grad({loss}, {log_p})[0].abs();
  const auto g = h + log_p.detach().exp() * h.sum(1, /*keepdim=*/true);
  // The loss is a weighted mean of divergences, each >= 0: its own size is its terms' size.
  return {loss.detach().abs(), s * g.matmul(in.cols.detach().abs()),
          s * g.t().matmul(in.rows.detach().abs()), (g * cos.abs()).sum()};
}

// The largest error beyond tol · (|want| + condition), elementwise (<= 0: within).
double excess(const torch::Tensor& got, const torch::Tensor& want, const torch::Tensor& cond,
              double tol) {
  return ((got - want).abs() - tol * (want.abs() + cond)).max().item<double>();
}

void expect_close(const Result& got, const Result& want, const Conditions& cond, double tol,
                  const std::string& what) {
  SCOPED_TRACE(what);
  const auto near = [&](const torch::Tensor& g, const torch::Tensor& w, const torch::Tensor& c,
                        const char* name) {
    EXPECT_TRUE(torch::isfinite(g).all().item<bool>()) << name;
    EXPECT_LE(excess(g, w, c, tol), 0.0) << name;
  };
  near(got.loss, want.loss, cond.loss, "loss");
  near(got.grad_rows, want.grad_rows, cond.rows, "d rows");
  near(got.grad_cols, want.grad_cols, cond.cols, "d cols");
  near(got.grad_scale, want.grad_scale, cond.scale, "d scale");
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
    // Both forms in float64: the same sums in another order, so kFloat64Tol is rounding.
    expect_close(fused(in, c.offset, c.count, c.opt), direct(in, c.offset, c.count, c.opt),
                 conditions(in, c.offset, c.count, c.opt), kFloat64Tol, c.name);
  }
}

TEST(LicaFused, Float32IsWithinRoundingOfFloat64) {
  for (const auto& c : cases()) {
    auto in32 = random_inputs(c.batch, c.dim, c.scale, torch::kFloat, torch::kCPU, c.groups);
    // The same float32 values in float64: only the arithmetic's rounding differs. A logit's
    // rounding is eps·s (~6e-6 at s = 100), and so is the relative error it carries into G.
    expect_close(fused(in32, c.offset, c.count, c.opt),
                 direct(widened(in32), c.offset, c.count, c.opt),
                 conditions(in32, c.offset, c.count, c.opt), kFloat32Tol, c.name);
  }
}

// The bound is tight enough to matter: an error of 1e-3 relative on one element of a row
// whose gradients are small is caught, where the old bound, tol·(1 + the tensor's largest
// |value|), accepted an absolute error of ~1 anywhere at s = 100.
TEST(LicaFused, BoundCatchesAPlantedSmallError) {
  const auto c = cases()[8];  // js, s = 100
  ASSERT_EQ(c.scale, 100.0);
  auto in32 = random_inputs(c.batch, c.dim, c.scale, torch::kFloat, torch::kCPU, c.groups);
  const auto want = direct(widened(in32), c.offset, c.count, c.opt);
  const auto cond = conditions(in32, c.offset, c.count, c.opt);
  auto got = fused(in32, c.offset, c.count, c.opt);
  ASSERT_LE(excess(got.grad_rows, want.grad_rows, cond.rows, kFloat32Tol), 0.0);

  // The element of the row with the smallest gradients, among elements not near 0.
  const auto row = want.grad_rows.abs().amax(1).argmin().item<int64_t>();
  const auto col = want.grad_rows[row].abs().argmax().item<int64_t>();
  const double value = want.grad_rows[row][col].item<double>();
  const double largest = want.grad_rows.abs().max().item<double>();
  ASSERT_GT(largest, 1e3 * std::abs(value)) << "the case no longer spans scales";
  got.grad_rows[row][col] +=
      1e-3 * std::abs(value) + 10 * kFloat32Tol * cond.rows[row][col].item<double>();
  const double planted = (got.grad_rows - want.grad_rows).abs().max().item<double>();
  EXPECT_GT(excess(got.grad_rows, want.grad_rows, cond.rows, kFloat32Tol), 0.0);
  EXPECT_LE(planted, kFloat32Tol * (1.0 + largest)) << "the old bound would have caught it";
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
    expect_close(fused(in, 0, 15, opt), direct(in, 0, 15, opt), conditions(in, 0, 15, opt),
                 kFloat64Tol, "chunk " + std::to_string(chunk));
  }
}

TEST(LicaFused, StreamedSelectionKeepsThePairsOfWholeRows) {
  // The neighbour selection streams affinity columns in tiles of max(tile_cols, 2k): the
  // pairs must be those of whole rows (tile_cols >= B), ties (groups of 5 equal sources)
  // included, whatever the tile, the chunk of anchors and the rank's share.
  auto in = random_inputs(23, 4, 10.0, torch::kDouble, torch::kCPU, /*groups=*/5);
  for (int64_t k : {1, 2, 3, 9}) {
    for (int64_t tile : {1, 3, 4, 7, 22}) {
      for (int64_t chunk : {2, 23}) {
        SCOPED_TRACE("k " + std::to_string(k) + " tile " + std::to_string(tile) + " chunk " +
                     std::to_string(chunk));
        auto opt = options(Divergence::kJs, k, 0.0, tile, chunk);
        auto whole_opt = options(Divergence::kJs, k, 0.0, 23, 23);
        for (auto [offset, count] : {std::pair<int64_t, int64_t>{0, 23}, {9, 7}}) {
          const auto streamed = lica_pairs(in.unit, offset, count, opt);
          const auto whole = lica_pairs(in.unit, offset, count, whole_opt);
          ASSERT_TRUE(torch::equal(streamed.anchor, whole.anchor));
          ASSERT_TRUE(torch::equal(streamed.neighbour, whole.neighbour));
          ASSERT_TRUE(torch::allclose(streamed.weight, whole.weight, 0, 1e-15));
        }
      }
    }
  }
  // The tie rule itself: anchor 0 (group 0) has its equals 5, 10, 15, 20 as its best four.
  const auto pairs = lica_pairs(in.unit, 0, 1, options(Divergence::kJs, 4, -1, 1, 1));
  EXPECT_TRUE(torch::equal(pairs.neighbour, torch::tensor({5, 10, 15, 20}, torch::kLong)));
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
    expect_close(fused(in, c.offset, c.count, c.opt), direct(widened(in), c.offset, c.count, c.opt),
                 conditions(in, c.offset, c.count, c.opt), kFloat32Tol, c.name);
  }
  // A size where the pair kernel's warps and the row kernel's column blocks are many.
  auto in = random_inputs(1024, 64, 30.0, torch::kFloat, torch::kCUDA, 0);
  auto opt = options(Divergence::kJs, 16, -1, 300);
  expect_close(fused(in, 0, 1024, opt), direct(widened(in), 0, 1024, opt),
               conditions(in, 0, 1024, opt), kFloat32Tol, "B=1024 k=16");
}

}  // namespace
}  // namespace lica::loss
