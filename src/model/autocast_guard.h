// Mixed precision of the forward passes (trainer.precision): an RAII guard that turns autocast
// on for one device type, in bf16, and restores the previous state when it ends. Weights stay
// fp32 (autocast casts a weight per op and caches the cast for the scope), so the optimizer
// keeps fp32 master weights and moments; only the activations inside the scope are bf16.
#pragma once

#include <torch/torch.h>

#include <string>

namespace lica::model {

enum class Precision { kFp32, kBf16 };

// "fp32" | "bf16"; an InputError naming trainer.precision otherwise.
Precision parse_precision(const std::string& name);

class AutocastGuard {
 public:
  // kFp32: does nothing. kBf16: autocast on `device`'s type (cuda, or cpu) in bf16 until the
  // guard ends. Nests; the outermost guard clears the cast cache when it ends, as
  // torch.autocast does, so no bf16 copy of a weight outlives the step that made it.
  AutocastGuard(const torch::Device& device, Precision precision);
  ~AutocastGuard();
  AutocastGuard(const AutocastGuard&) = delete;
  AutocastGuard& operator=(const AutocastGuard&) = delete;

  // Whether autocast is on for `type` now (tests, logs).
  static bool enabled(c10::DeviceType type);

 private:
  bool active_ = false;
  c10::DeviceType type_ = c10::DeviceType::CPU;
  bool previous_enabled_ = false;
  at::ScalarType previous_dtype_ = at::kFloat;
};

// What a forward pass under autocast gave out, in fp32: bf16 and fp16 tensors are cast up,
// fp32 and fp64 ones (the gradient tests) returned as they are. The losses never see bf16.
torch::Tensor widened(const torch::Tensor& t);

}  // namespace lica::model
