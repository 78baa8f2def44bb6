#include "trainer/schedule.h"

#include <gtest/gtest.h>

#include <cmath>

namespace lica::trainer {
namespace {

TEST(Schedule, LinearWarmupThenCosineToTheFloor) {
  ScheduleOptions o{1.0, 110, 10, 0.1};
  EXPECT_DOUBLE_EQ(learning_rate(o, 0), 0.1);
  EXPECT_DOUBLE_EQ(learning_rate(o, 9), 1.0);
  EXPECT_DOUBLE_EQ(learning_rate(o, 10), 1.0);
  // Halfway through the cosine: the midpoint between base and floor.
  EXPECT_NEAR(learning_rate(o, 60), 0.55, 1e-12);
  EXPECT_NEAR(learning_rate(o, 110), 0.1, 1e-12);
}

TEST(Schedule, NoWarmupStartsAtTheBase) {
  ScheduleOptions o{2e-3, 4, 0, 0.0};
  EXPECT_DOUBLE_EQ(learning_rate(o, 0), 2e-3);
  EXPECT_NEAR(learning_rate(o, 2), 1e-3, 1e-15);
}

TEST(Schedule, AdamWDecaysOnlyMatricesAndSetsTheRate) {
  torch::nn::Sequential net(torch::nn::Linear(3, 4), torch::nn::LayerNorm(torch::nn::LayerNormOptions({4})));
  auto opt = make_adamw(*net, 1e-3, 0.2);
  ASSERT_EQ(opt->param_groups().size(), 2u);
  EXPECT_EQ(opt->param_groups()[0].params().size(), 1u);  // the Linear weight
  EXPECT_EQ(opt->param_groups()[1].params().size(), 3u);  // bias, LayerNorm weight and bias
  set_learning_rate(*opt, 0.5);
  for (auto& g : opt->param_groups()) {
    EXPECT_DOUBLE_EQ(static_cast<torch::optim::AdamWOptions&>(g.options()).lr(), 0.5);
  }
}

}  // namespace
}  // namespace lica::trainer
