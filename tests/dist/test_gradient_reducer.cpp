#include "dist/gradient_reducer.h"

#include <gtest/gtest.h>

#include "dist/local_communicator.h"

namespace lica::dist {
namespace {

// One rank: .grad already is the sum. The reducer keeps no buckets and no hooks, so backward
// leaves the gradients where autograd put them (same storage, same values), and a parameter
// that took no part gets its zeros, as with several ranks.
TEST(GradientReducer, OneRankCopiesNothingAndZeroesMissingGradients) {
  LocalCommunicator local;
  auto used = torch::randn({3, 4}, torch::requires_grad());
  auto unused = torch::randn({5}, torch::requires_grad());
  GradientReducer reducer(local, {used, unused}, /*bucket_mb=*/0.0001);
  EXPECT_EQ(reducer.num_buckets(), 0);
  for (int step = 0; step < 2; ++step) {
    used.mutable_grad() = torch::Tensor();
    reducer.prepare();
    (used * used).sum().backward();
    const auto* storage = used.grad().data_ptr<float>();
    const auto before = used.grad().clone();
    reducer.finish();
    EXPECT_EQ(used.grad().data_ptr<float>(), storage);
    EXPECT_TRUE(torch::equal(used.grad(), before));
    EXPECT_TRUE(torch::equal(used.grad(), 2 * used.detach()));
    ASSERT_TRUE(unused.grad().defined());
    EXPECT_TRUE(torch::equal(unused.grad(), torch::zeros({5})));
  }
  unused.mutable_grad() = torch::Tensor();
  reducer.reduce_accumulated();
  EXPECT_TRUE(torch::equal(unused.grad(), torch::zeros({5})));
}

}  // namespace
}  // namespace lica::dist
