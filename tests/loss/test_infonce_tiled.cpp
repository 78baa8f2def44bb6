// The tiled contrastive loss against the direct form: the same value and the same gradient
// for every input (this rank's rows, the gathered global batch, the scale), for tiles that do
// and do not divide the candidates, one-column tiles, ties, s = 100, and rank shares.
#include "loss/infonce_tiled.h"

#include <gtest/gtest.h>

#include <vector>

#include "loss/infonce.h"

namespace lica::loss {
namespace {

struct Inputs {
  torch::Tensor video, text, scale;  // [B, D], [B, D], 0-dim; all require grad
};

Inputs make_inputs(int64_t batch, int64_t dim, double scale, torch::Dtype dtype, bool ties) {
  torch::manual_seed(11);
  auto opt = torch::TensorOptions().dtype(dtype);
  auto v = torch::nn::functional::normalize(torch::randn({batch, dim}, opt));
  auto t = torch::nn::functional::normalize(torch::randn({batch, dim}, opt));
  if (ties) {  // equal logits: two identical videos and two identical captions
    v[1] = v[0].clone();
    t[batch - 1] = t[0].clone();
  }
  return {v.requires_grad_(), t.requires_grad_(), torch::tensor(scale, opt).requires_grad_()};
}

// The loss of rows [r0, r1) and its gradients w.r.t. the rows, the global batch and the scale.
// The local rows are separate leaves (as after an all-gather), so every path is compared.
std::vector<torch::Tensor> loss_and_grads(const Inputs& in, int64_t r0, int64_t r1,
                                          int64_t tile) {
  auto local_v = in.video.detach().slice(0, r0, r1).clone().requires_grad_();
  auto local_t = in.text.detach().slice(0, r0, r1).clone().requires_grad_();
  const auto loss = tile > 0 ? tiled_infonce_loss(local_v, local_t, in.video, in.text, in.scale,
                                                  r0, tile)
                             : infonce_loss(local_v, local_t, in.video, in.text, in.scale, r0);
  auto grads = torch::autograd::grad({loss}, {local_v, local_t, in.video, in.text, in.scale});
  grads.insert(grads.begin(), loss.detach());
  return grads;
}

void expect_same(const std::vector<torch::Tensor>& a, const std::vector<torch::Tensor>& b,
                 double rel) {
  const char* names[] = {"loss", "d local video", "d local text", "d all video", "d all text",
                         "d scale"};
  for (size_t i = 0; i < a.size(); ++i) {
    const double scale = std::max(1.0, b[i].abs().max().item<double>());
    const double diff = (a[i] - b[i]).abs().max().item<double>();
    EXPECT_LE(diff, rel * scale) << names[i] << ": max |tiled - direct| " << diff;
  }
}

TEST(TiledInfoNce, EqualsTheDirectFormInFloat64ForEveryTile) {
  for (const double s : {1 / 0.07, 100.0}) {
    for (const bool ties : {false, true}) {
      const auto in = make_inputs(7, 5, s, torch::kDouble, ties);
      const auto direct = loss_and_grads(in, 0, 7, 0);
      for (const int64_t tile : {1, 2, 3, 7, 16}) {
        SCOPED_TRACE("s " + std::to_string(s) + " ties " + std::to_string(ties) + " tile " +
                     std::to_string(tile));
        expect_same(loss_and_grads(in, 0, 7, tile), direct, 1e-10);
      }
    }
  }
}

TEST(TiledInfoNce, RankSharesEqualTheDirectShares) {
  // Rows [2, 5) of a global batch of 9 (a rank of W = 3): a share, not the whole loss.
  const auto in = make_inputs(9, 4, 20.0, torch::kDouble, false);
  expect_same(loss_and_grads(in, 2, 5, 4), loss_and_grads(in, 2, 5, 0), 1e-10);
}

TEST(TiledInfoNce, Float32IsWithinRounding) {
  const auto in = make_inputs(64, 16, 100.0, torch::kFloat, false);
  expect_same(loss_and_grads(in, 0, 64, 10), loss_and_grads(in, 0, 64, 0), 2e-5);
}

TEST(TiledInfoNce, CandidatesBeyondTheBatchAreNegatives) {
  // candidates_infonce with queued rows after the batch's own (the AAI terms' form).
  torch::manual_seed(3);
  auto opt = torch::TensorOptions().dtype(torch::kDouble);
  auto vr = torch::randn({3, 4}, opt), vc = torch::randn({9, 4}, opt);
  auto tr = torch::randn({3, 4}, opt), tc = torch::randn({9, 4}, opt);
  auto s = torch::tensor(3.0, opt);
  const double direct = candidates_infonce(vr, vc, tr, tc, s, 2, 6).item<double>();
  for (const int64_t tile : {1, 4, 9}) {
    EXPECT_NEAR(tiled_candidates_infonce(vr, vc, tr, tc, s, 2, 6, tile).item<double>(), direct,
                1e-12);
  }
}

}  // namespace
}  // namespace lica::loss
