#include "model/autocast_guard.h"

#include <gtest/gtest.h>

#include "common/error.h"
#include "model/dual_encoder.h"

namespace lica::model {
namespace {

// True when every value of `t` is a bfloat16 number: a bf16 tensor, or an fp32 one that a
// round trip through bf16 leaves unchanged. Random fp32 activations almost never are.
bool bf16_rounded(const torch::Tensor& t) {
  if (t.scalar_type() == torch::kBFloat16) return true;
  return torch::equal(t.to(torch::kBFloat16).to(t.scalar_type()), t);
}

// Every forward path the trainer autocasts: seqTransf with GPO pooling over frames, text
// layers with GPO, LMIM's local heads and the fusion encoder. Input dims differ from D so
// every tower starts with a matmul.
DualEncoderOptions every_path() {
  DualEncoderOptions o;
  o.video.input_dim = 12, o.video.embed_dim = 16, o.video.max_frames = 5, o.video.heads = 2;
  o.video.pooling = VideoPooling::kGpo;
  o.text.input_dim = 10, o.text.embed_dim = 16, o.text.max_tokens = 6, o.text.layers = 1;
  o.text.heads = 2;
  o.text.pooling = TextPooling::kGpo;
  o.local_heads = true;
  o.fusion = {16, 1, 2, 0.0};
  return o;
}

struct Inputs {
  torch::Tensor video, video_mask, text, text_mask;
};

Inputs inputs() {
  torch::manual_seed(11);
  Inputs in;
  in.video = torch::randn({6, 5, 12});
  in.text = torch::randn({6, 6, 10});
  in.video_mask = torch::arange(5).unsqueeze(0) < torch::tensor({5, 1, 3, 2, 5, 4}).unsqueeze(1);
  in.text_mask = torch::arange(6).unsqueeze(0) < torch::tensor({2, 6, 1, 3, 6, 4}).unsqueeze(1);
  return in;
}

TEST(AutocastGuard, Fp32ChangesNothing) {
  torch::manual_seed(1);
  torch::nn::Linear linear(8, 4);
  const auto x = torch::randn({3, 8});
  const auto expect = linear->forward(x);
  {
    AutocastGuard guard(torch::kCPU, Precision::kFp32);
    EXPECT_FALSE(AutocastGuard::enabled(c10::DeviceType::CPU));
    const auto y = linear->forward(x);
    EXPECT_EQ(y.scalar_type(), torch::kFloat);
    EXPECT_TRUE(torch::equal(y, expect));
  }
}

// The guard really turns autocast on: a matmul inside gives bf16, the same one after it fp32
// again; guards nest and only the outermost one turns autocast off.
TEST(AutocastGuard, Bf16TurnsCpuAutocastOnForItsScopeAndNests) {
  torch::manual_seed(1);
  torch::nn::Linear linear(8, 4);
  const auto x = torch::randn({3, 8});
  ASSERT_FALSE(AutocastGuard::enabled(c10::DeviceType::CPU));
  {
    AutocastGuard outer(torch::kCPU, Precision::kBf16);
    EXPECT_TRUE(AutocastGuard::enabled(c10::DeviceType::CPU));
    EXPECT_EQ(linear->forward(x).scalar_type(), torch::kBFloat16);
    {
      AutocastGuard inner(torch::kCPU, Precision::kBf16);
      EXPECT_EQ(linear->forward(x).scalar_type(), torch::kBFloat16);
    }
    EXPECT_TRUE(AutocastGuard::enabled(c10::DeviceType::CPU));
    EXPECT_EQ(linear->forward(x).scalar_type(), torch::kBFloat16);
  }
  EXPECT_FALSE(AutocastGuard::enabled(c10::DeviceType::CPU));
  EXPECT_EQ(linear->forward(x).scalar_type(), torch::kFloat);
  // The weights themselves never change dtype: autocast casts copies.
  EXPECT_EQ(linear->weight.scalar_type(), torch::kFloat);
}

// The encoders run in bf16 inside the guard and in fp32 outside it. bf16 keeps 8
// significant bits (relative rounding 2^-9 ~ 0.2% per op); a dozen ops from the inputs to a
// unit-norm embedding stay well inside 0.05 per component.
TEST(AutocastGuard, EncodersRunInBf16InsideTheGuardOnly) {
  torch::manual_seed(2);
  DualEncoder model(every_path());
  model->eval();
  const auto in = inputs();
  torch::NoGradGuard no_grad;
  const auto video32 = model->encode_video_sequence(in.video, in.video_mask);
  const auto text32 = model->encode_text_sequence(in.text, in.text_mask);
  const auto match32 =
      model->match_logits(video32.sequence, in.video_mask, text32.sequence, in.text_mask);
  Encoded video16, text16;
  torch::Tensor local16, match16;
  {
    AutocastGuard guard(torch::kCPU, Precision::kBf16);
    video16 = model->encode_video_sequence(in.video, in.video_mask);
    text16 = model->encode_text_sequence(in.text, in.text_mask);
    local16 = model->local_video(video16.sequence);
    match16 = model->match_logits(video16.sequence, in.video_mask, text16.sequence, in.text_mask);
  }
  // What a matmul gives out is bf16: LMIM's head and the matching head end in one.
  EXPECT_FALSE(bf16_rounded(video32.sequence));  // the check can tell fp32 from bf16
  EXPECT_TRUE(bf16_rounded(local16));
  EXPECT_TRUE(bf16_rounded(match16));
  // Sums with fp32 parameters (position tables, residuals) promote back to fp32, so the
  // sequences and embeddings are fp32 tensors; they carry the bf16 rounding of the matmuls
  // inside: further from the fp32 forward than fp32 rounding (~1e-6) goes, within 0.05.
  const auto bf16_off = [](const char* what, const torch::Tensor& a, const torch::Tensor& b) {
    const double d = (a.to(torch::kFloat) - b).abs().max().item<double>();
    std::cout << what << ": max |bf16 - fp32| " << d << "\n";
    return d > 1e-4 && d < 0.05;
  };
  EXPECT_TRUE(bf16_off("video sequence", video16.sequence, video32.sequence));
  EXPECT_TRUE(bf16_off("video embedding", video16.embedding, video32.embedding));
  EXPECT_TRUE(bf16_off("text sequence", text16.sequence, text32.sequence));
  EXPECT_TRUE(bf16_off("text embedding", text16.embedding, text32.embedding));
  EXPECT_TRUE(bf16_off("match logits", match16, match32));
  EXPECT_TRUE(torch::isfinite(video16.embedding.to(torch::kFloat)).all().item<bool>());
}

TEST(AutocastGuard, ParsePrecisionNamesTheKey) {
  EXPECT_EQ(parse_precision("fp32"), Precision::kFp32);
  EXPECT_EQ(parse_precision("bf16"), Precision::kBf16);
  try {
    parse_precision("fp16");
    FAIL() << "expected InputError";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("trainer.precision: unknown precision 'fp16'"),
              std::string::npos)
        << e.what();
  }
}

}  // namespace
}  // namespace lica::model
