// The training step's LICA wiring against an independent formula (docs/design.md §4), in
// float64: from the step's own embeddings, P^v_i is the softmax of row i of S = s·V·Tᵀ and
// P^t_i the softmax of row i of Sᵀ; A^v, A^t are cosines of the stop-gradient embeddings
// (source embedding) or of the mean of the valid input frames/tokens (source input); the
// neighbours, weights and divergences are written out here in plain loops over probabilities.
// A step that swapped the modalities' affinities, used S where Sᵀ belongs or swapped the fused
// form's arguments differs from this reference in the terms and the gradients.
#include "trainer/step.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <utility>
#include <vector>

#include "dist/local_communicator.h"

namespace lica::trainer {
namespace {

constexpr int64_t kBatch = 7;

model::DualEncoder double_model() {
  torch::manual_seed(5);
  model::DualEncoderOptions o;
  o.video.input_dim = 6, o.video.embed_dim = 8, o.video.max_frames = 4, o.video.heads = 2;
  o.text.input_dim = 5, o.text.embed_dim = 8, o.text.max_tokens = 3;
  model::DualEncoder m(o);
  m->to(torch::kDouble);
  return m;
}

data::Batch double_batch() {
  torch::manual_seed(6);
  data::Batch b;
  b.video = torch::randn({kBatch, 4, 6}, torch::kDouble);
  b.text = torch::randn({kBatch, 3, 5}, torch::kDouble);
  b.video_mask = torch::arange(4).unsqueeze(0) < torch::randint(1, 5, {kBatch, 1});
  b.text_mask = torch::arange(3).unsqueeze(0) < torch::randint(1, 4, {kBatch, 1});
  return b;
}

// [B, B] cosines of the rows of x [B, D], written out: x_i·x_j / (|x_i| |x_j|). No gradient.
torch::Tensor cosines(const torch::Tensor& x) {
  const auto d = x.detach();
  const auto norms = d.pow(2).sum(1).sqrt();  // [B]
  return d.matmul(d.t()) / (norms.unsqueeze(1) * norms.unsqueeze(0));
}

// [B, D] mean of the valid positions of features [B, L, D] (mask [B, L]).
torch::Tensor valid_mean(const torch::Tensor& features, const torch::Tensor& mask) {
  const auto m = mask.to(torch::kDouble).unsqueeze(2);  // [B, L, 1]
  return (features * m).sum(1) / m.sum(1);
}

// Anchor i's kept neighbours and weights from its affinity row, by §4's conventions: the k
// others with the largest affinity (ties to the smaller index), then those below
// min_affinity dropped, then softmax of A / tau over those left.
std::vector<std::pair<int64_t, double>> neighbours(const torch::Tensor& affinity, int64_t i,
                                                   const loss::LicaOptions& opt) {
  const int64_t n = affinity.size(0);
  std::vector<std::pair<double, int64_t>> others;  // (A_ij, j)
  for (int64_t j = 0; j < n; ++j) {
    if (j != i) others.emplace_back(affinity[i][j].item<double>(), j);
  }
  std::sort(others.begin(), others.end(), [](const auto& a, const auto& b) {
    return a.first > b.first || (a.first == b.first && a.second < b.second);
  });
  const auto k = static_cast<size_t>(opt.top_k <= 0 ? n - 1 : std::min(opt.top_k, n - 1));
  others.resize(k);
  others.erase(std::remove_if(others.begin(), others.end(),
                              [&](const auto& o) { return o.first < opt.min_affinity; }),
               others.end());
  double sum = 0;
  for (const auto& o : others) sum += std::exp(o.first / opt.tau_intra);
  std::vector<std::pair<int64_t, double>> kept;
  for (const auto& o : others) kept.emplace_back(o.second, std::exp(o.first / opt.tau_intra) / sum);
  return kept;
}

// KL(p || q) or JS(p || q) of two probability rows [B], with gradient.
torch::Tensor divergence(const torch::Tensor& p, const torch::Tensor& q, loss::Divergence d) {
  if (d == loss::Divergence::kKl) return (p * (p / q).log()).sum();
  const auto m = 0.5 * (p + q);
  return 0.5 * (p * (p / m).log()).sum() + 0.5 * (q * (q / m).log()).sum();
}

// (1/B) Σ_i Σ_j W_ij D(P_i, P_j) of one modality: probs [B, B], row i = P_i.
torch::Tensor intra_reference(const torch::Tensor& probs, const torch::Tensor& affinity,
                              const loss::LicaOptions& opt) {
  auto total = torch::zeros({}, probs.options());
  for (int64_t i = 0; i < probs.size(0); ++i) {
    for (const auto& [j, w] : neighbours(affinity, i, opt)) {
      total = total + w * divergence(probs[i], probs[j], opt.divergence);
    }
  }
  return total / static_cast<double>(probs.size(0));
}

struct Reference {
  torch::Tensor total, intra_video, intra_text;
};

Reference reference(model::DualEncoder& model, const data::Batch& batch, const LossOptions& opt) {
  const auto v = model->encode_video(batch.video, batch.video_mask);  // [B, D]
  const auto t = model->encode_text(batch.text, batch.text_mask);     // [B, D]
  const auto s = model->scale() * v.matmul(t.t());                    // S [B, B]
  const auto p_video = s.softmax(1), p_text = s.t().softmax(1);
  const auto diag = torch::arange(kBatch);
  const auto nce = -0.5 * (p_video.index({diag, diag}).log().mean() +
                           p_text.index({diag, diag}).log().mean());
  const bool input = opt.source == AffinitySource::kInput;
  const auto a_video = cosines(input ? valid_mean(batch.video, batch.video_mask) : v);
  const auto a_text = cosines(input ? valid_mean(batch.text, batch.text_mask) : t);
  Reference r;
  r.intra_video = intra_reference(p_video, a_video, opt.lica);
  r.intra_text = intra_reference(p_text, a_text, opt.lica);
  r.total = nce + opt.lica_weight * 0.5 * (r.intra_video + r.intra_text);
  return r;
}

std::vector<torch::Tensor> gradients(model::DualEncoder& m, const torch::Tensor& loss) {
  for (auto& p : m->parameters()) p.mutable_grad() = torch::Tensor();
  loss.backward();
  std::vector<torch::Tensor> g;
  for (const auto& p : m->parameters()) g.push_back(p.grad().clone());
  return g;
}

// Float64 with the same terms summed in another order: each element within 1e-9 of its own
// size, plus 1e-13 for elements near 0 (their size is then set by cancellation).
void expect_close(const torch::Tensor& got, const torch::Tensor& want, const std::string& what) {
  const auto bound = 1e-9 * want.abs() + 1e-13;
  EXPECT_TRUE(((got - want).abs() <= bound).all().item<bool>())
      << what << ": worst excess " << ((got - want).abs() - bound).max().item<double>();
}

TEST(StepLica, BothTermsAndGradientsEqualTheIndependentFormula) {
  auto model = double_model();
  const auto batch = double_batch();
  const auto names = model->named_parameters().keys();
  dist::LocalCommunicator local;
  for (auto form : {loss::LicaForm::kDirect, loss::LicaForm::kChunked, loss::LicaForm::kFused}) {
    for (auto source : {AffinitySource::kEmbedding, AffinitySource::kInput}) {
      for (auto divergence : {loss::Divergence::kJs, loss::Divergence::kKl}) {
        for (auto [top_k, min_affinity] : {std::pair{0L, -1.0}, std::pair{2L, 0.0}}) {
          const std::string what = "form " + std::to_string(static_cast<int>(form)) + " source " +
                                   std::to_string(static_cast<int>(source)) + " divergence " +
                                   std::to_string(static_cast<int>(divergence)) + " top_k " +
                                   std::to_string(top_k);
          SCOPED_TRACE(what);
          LossOptions opt;
          opt.lica_weight = 0.7;
          opt.source = source;
          opt.lica.form = form;
          opt.lica.divergence = divergence;
          opt.lica.top_k = top_k;
          opt.lica.min_affinity = min_affinity;
          opt.lica.tau_intra = 0.2;
          opt.lica.chunk_rows = 3;  // several chunks of pairs (chunked), anchors (fused)
          opt.lica.tile_cols = 3;   // several column tiles (fused)
          const auto got = step_losses(model, nullptr, local, batch, 0, opt);
          const auto got_grads = gradients(model, got.total);
          const auto want = reference(model, batch, opt);
          const auto want_grads = gradients(model, want.total);
          expect_close(got.intra_video, want.intra_video.detach(), "L_intra^v");
          expect_close(got.intra_text, want.intra_text.detach(), "L_intra^t");
          expect_close(got.total.detach(), want.total.detach(), "total");
          for (size_t i = 0; i < got_grads.size(); ++i) {
            expect_close(got_grads[i], want_grads[i], "d " + names[i]);
          }
        }
      }
    }
  }
}

}  // namespace
}  // namespace lica::trainer
