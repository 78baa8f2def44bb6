#include "trainer/optimizer_step.h"

#include <gtest/gtest.h>

#include "trainer/schedule.h"

namespace lica::trainer {
namespace {

// A small net with parameters in both AdamW groups (decayed matrices; biases and gains).
torch::nn::Sequential small_net() {
  torch::manual_seed(3);
  return torch::nn::Sequential(torch::nn::Linear(5, 7), torch::nn::LayerNorm(torch::nn::LayerNormOptions({7})),
                               torch::nn::Linear(7, 3));
}

// Random gradients of step `step`, the same for every net given the same step.
void set_gradients(torch::nn::Module& net, int64_t step, double size = 1.0) {
  auto gen = torch::make_generator<at::CPUGeneratorImpl>(100 + step);
  for (auto& p : net.parameters()) {
    p.mutable_grad() = torch::randn(p.sizes(), gen) * size;
  }
}

void expect_same_parameters(torch::nn::Module& a, torch::nn::Module& b) {
  const auto pa = a.parameters(), pb = b.parameters();
  ASSERT_EQ(pa.size(), pb.size());
  for (size_t i = 0; i < pa.size(); ++i) {
    EXPECT_TRUE(torch::equal(pa[i], pb[i])) << "parameter " << i << " differs by "
                                           << (pa[i] - pb[i]).abs().max().item<double>();
  }
}

// Bit for bit: the multi-tensor update does LibTorch's operations in LibTorch's order, and on
// the CPU a _foreach_ operation is the per-tensor operation.
TEST(OptimizerStep, AdamWEqualsLibTorchBitForBit) {
  auto ours = small_net(), theirs = small_net();
  auto opt_ours = make_adamw(*ours, 1e-2, 0.2);
  auto opt_theirs = make_adamw(*theirs, 1e-2, 0.2);
  for (int64_t step = 0; step < 6; ++step) {
    set_learning_rate(*opt_ours, 1e-2 / static_cast<double>(step + 1));
    set_learning_rate(*opt_theirs, 1e-2 / static_cast<double>(step + 1));
    set_gradients(*ours, step);
    set_gradients(*theirs, step);
    adamw_step(*opt_ours);
    opt_theirs->step();
    expect_same_parameters(*ours, *theirs);
  }
  // The state is LibTorch's own: the step counts and moments a checkpoint saves.
  for (auto& item : opt_ours->state()) {
    EXPECT_EQ(static_cast<torch::optim::AdamWParamState&>(*item.second).step(), 6);
  }
}

// A parameter without a gradient keeps LibTorch's rule (it is skipped, its step count falls
// behind); from then on the update is LibTorch's loop, still equal.
TEST(OptimizerStep, AParameterWithoutGradientFallsBackToLibTorch) {
  auto ours = small_net(), theirs = small_net();
  auto opt_ours = make_adamw(*ours, 1e-2, 0.1);
  auto opt_theirs = make_adamw(*theirs, 1e-2, 0.1);
  for (int64_t step = 0; step < 4; ++step) {
    set_gradients(*ours, step);
    set_gradients(*theirs, step);
    if (step == 1) {
      ours->parameters()[1].mutable_grad() = torch::Tensor();
      theirs->parameters()[1].mutable_grad() = torch::Tensor();
    }
    adamw_step(*opt_ours);
    opt_theirs->step();
    expect_same_parameters(*ours, *theirs);
  }
}

TEST(OptimizerStep, ClipEqualsLibTorchAndLeavesSmallGradients) {
  for (const double size : {10.0, 1e-3}) {  // clipped, and left as it is (coefficient 1)
    auto ours = small_net(), theirs = small_net();
    set_gradients(*ours, 0, size);
    set_gradients(*theirs, 0, size);
    const auto before = ours->parameters()[0].grad().clone();
    clip_grad_norm(ours->parameters(), 1.0);
    torch::nn::utils::clip_grad_norm_(theirs->parameters(), 1.0);
    double norm = 0;
    for (size_t i = 0; i < ours->parameters().size(); ++i) {
      const auto& g = ours->parameters()[i].grad();
      EXPECT_TRUE(torch::allclose(g, theirs->parameters()[i].grad(), 1e-6, 0)) << "size " << size;
      norm += g.pow(2).sum().item<double>();
    }
    if (size > 1) {
      EXPECT_NEAR(std::sqrt(norm), 1.0, 1e-5);
    } else {
      EXPECT_TRUE(torch::equal(ours->parameters()[0].grad(), before));
    }
  }
}

}  // namespace
}  // namespace lica::trainer
