#include "model/momentum.h"

#include <gtest/gtest.h>

namespace lica::model {
namespace {

DualEncoderOptions small_options() {
  DualEncoderOptions o;
  o.video.input_dim = 6, o.video.embed_dim = 4, o.video.max_frames = 3, o.video.heads = 2;
  o.text.input_dim = 5, o.text.embed_dim = 4, o.text.max_tokens = 3;
  return o;
}

TEST(EmaUpdate, IsTheExponentialMovingAverageAndZeroCopies) {
  torch::manual_seed(1);
  torch::nn::Linear target(3, 2), source(3, 2);
  const auto before = target->weight.detach().clone();
  ema_update(*target, *source, 0.9);
  // Float rounding of m·a + (1-m)·b: a few ulp.
  EXPECT_TRUE(torch::allclose(target->weight, 0.9 * before + 0.1 * source->weight, 1e-6, 1e-7));
  EXPECT_FALSE(torch::equal(target->weight, source->weight));
  ema_update(*target, *source, 0.0);
  EXPECT_TRUE(torch::equal(target->weight, source->weight));
  EXPECT_TRUE(torch::equal(target->bias, source->bias));
}

TEST(EmaUpdate, NamesTheParameterTheSourceLacks) {
  torch::nn::Linear target(3, 2);
  torch::nn::Linear no_bias(torch::nn::LinearOptions(3, 2).bias(false));
  try {
    ema_update(*target, *no_bias, 0.5);
    FAIL() << "no error";
  } catch (const c10::Error& e) {
    EXPECT_NE(std::string(e.what()).find("no parameter bias"), std::string::npos) << e.what();
  }
}

TEST(Momentum, StartsAsACopyWithoutGradientsAndFollowsTheEma) {
  torch::manual_seed(2);
  auto opt = small_options();
  opt.local_heads = true;  // the targets leave LMIM's heads out
  DualEncoder online(opt);
  online->eval();
  Momentum momentum(opt, online, 0.5, 8);
  for (const auto& p : momentum->parameters()) EXPECT_FALSE(p.requires_grad());
  for (const auto& p : momentum->named_parameters()) {
    EXPECT_EQ(p.key().find("local_"), std::string::npos) << p.key();
  }
  auto frames = torch::randn({3, 3, 6});
  auto mask = torch::ones({3, 3}, torch::kBool);
  EXPECT_TRUE(torch::equal(momentum->encode_video(frames, mask), online->encode_video(frames, mask)));
  EXPECT_FALSE(momentum->encode_video(frames, mask).requires_grad());
  {
    torch::NoGradGuard no_grad;
    for (auto& p : online->parameters()) p.add_(1.0);
  }
  momentum->update(online);
  // Halfway to the moved weights: neither the old nor the new outputs.
  const auto moved = momentum->encode_video(frames, mask);
  EXPECT_FALSE(torch::allclose(moved, online->encode_video(frames, mask)));
}

TEST(Momentum, QueueIsAFifoOfTheNewestRows) {
  auto opt = small_options();
  DualEncoder online(opt);
  Momentum momentum(opt, online, 0.9, 5);
  const auto rows = [](int64_t first, int64_t n) {  // row i is filled with the value i
    return torch::arange(first, first + n, torch::kFloat).unsqueeze(1).expand({n, 4}).contiguous();
  };
  EXPECT_EQ(momentum->filled(), 0);
  EXPECT_EQ(momentum->video_queue().size(0), 0);
  momentum->enqueue(rows(0, 3), rows(100, 3));
  EXPECT_EQ(momentum->filled(), 3);
  EXPECT_TRUE(torch::equal(momentum->video_queue().select(1, 0), torch::tensor({0.f, 1.f, 2.f})));
  momentum->enqueue(rows(3, 4), rows(103, 4));  // wraps: slots 3, 4, then 0, 1
  EXPECT_EQ(momentum->filled(), 5);
  EXPECT_TRUE(torch::equal(momentum->video_queue().select(1, 0),
                           torch::tensor({5.f, 6.f, 2.f, 3.f, 4.f})));
  EXPECT_TRUE(torch::equal(momentum->text_queue().select(1, 0),
                           torch::tensor({105.f, 106.f, 102.f, 103.f, 104.f})));
  momentum->enqueue(rows(10, 7), rows(110, 7));  // more than fit: the newest 5, from slot 2
  EXPECT_TRUE(torch::equal(momentum->video_queue().select(1, 0),
                           torch::tensor({15.f, 16.f, 12.f, 13.f, 14.f})));
  Momentum none(opt, online, 0.9, 0);
  none->enqueue(rows(0, 3), rows(0, 3));
  EXPECT_EQ(none->filled(), 0);
}

// On a GPU the queues live there, their fill counters on the host: reading them (every step)
// does not wait for the device.
TEST(Momentum, FillCountersStayOnTheHost) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "needs a GPU (device suite)";
  auto opt = small_options();
  DualEncoder online(opt);
  online->to(torch::kCUDA);
  Momentum momentum(opt, online, 0.9, 5);
  for (const auto& buffer : momentum->named_buffers()) {
    if (buffer.key() == "queue_fill") {
      EXPECT_TRUE(buffer.value().is_cpu());
    } else if (buffer.key() == "video_queue") {
      EXPECT_TRUE(buffer.value().is_cuda());
    }
  }
  momentum->enqueue(torch::ones({2, 4}, torch::kCUDA), torch::ones({2, 4}, torch::kCUDA));
  EXPECT_EQ(momentum->filled(), 2);
  EXPECT_TRUE(momentum->video_queue().is_cuda());
}

}  // namespace
}  // namespace lica::model
