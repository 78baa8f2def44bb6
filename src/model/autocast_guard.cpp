#include "model/autocast_guard.h"

#include <ATen/autocast_mode.h>
#include <torch/version.h>

#include "common/error.h"

// LibTorch 2.4 replaced the per-backend autocast switches (set_enabled for CUDA,
// set_cpu_enabled, set_autocast_cpu_dtype, ...) by ones taking the device type; the old
// ones are deprecated there. One adapter for both.
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
#define LICA_AUTOCAST_BY_DEVICE_TYPE 1
#endif

namespace lica::model {
namespace {

bool is_enabled(c10::DeviceType type) {
#ifdef LICA_AUTOCAST_BY_DEVICE_TYPE
  return at::autocast::is_autocast_enabled(type);
#else
  return type == c10::DeviceType::CUDA ? at::autocast::is_enabled()
                                       : at::autocast::is_cpu_enabled();
#endif
}

void set_enabled(c10::DeviceType type, bool on) {
#ifdef LICA_AUTOCAST_BY_DEVICE_TYPE
  at::autocast::set_autocast_enabled(type, on);
#else
  if (type == c10::DeviceType::CUDA) {
    at::autocast::set_enabled(on);
  } else {
    at::autocast::set_cpu_enabled(on);
  }
#endif
}

at::ScalarType get_dtype(c10::DeviceType type) {
#ifdef LICA_AUTOCAST_BY_DEVICE_TYPE
  return at::autocast::get_autocast_dtype(type);
#else
  return type == c10::DeviceType::CUDA ? at::autocast::get_autocast_gpu_dtype()
                                       : at::autocast::get_autocast_cpu_dtype();
#endif
}

void set_dtype(c10::DeviceType type, at::ScalarType dtype) {
#ifdef LICA_AUTOCAST_BY_DEVICE_TYPE
  at::autocast::set_autocast_dtype(type, dtype);
#else
  if (type == c10::DeviceType::CUDA) {
    at::autocast::set_autocast_gpu_dtype(dtype);
  } else {
    at::autocast::set_autocast_cpu_dtype(dtype);
  }
#endif
}

}  // namespace

torch::Tensor widened(const torch::Tensor& t) {
  const auto type = t.scalar_type();
  return type == torch::kBFloat16 || type == torch::kHalf ? t.to(torch::kFloat) : t;
}

Precision parse_precision(const std::string& name) {
  if (name == "fp32") return Precision::kFp32;
  if (name == "bf16") return Precision::kBf16;
  throw InputError("trainer.precision: unknown precision '" + name + "', expected fp32 or bf16");
}

AutocastGuard::AutocastGuard(const torch::Device& device, Precision precision) {
  if (precision == Precision::kFp32) return;
  if (!device.is_cuda() && !device.is_cpu()) {
    throw InputError("trainer.precision: bf16 autocast needs a cpu or cuda device, got " +
                     device.str());
  }
  type_ = device.type();
  previous_enabled_ = is_enabled(type_);
  previous_dtype_ = get_dtype(type_);
  set_dtype(type_, at::kBFloat16);
  set_enabled(type_, true);
  at::autocast::increment_nesting();
  active_ = true;
}

AutocastGuard::~AutocastGuard() {
  if (!active_) return;
  if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
  set_enabled(type_, previous_enabled_);
  set_dtype(type_, previous_dtype_);
}

bool AutocastGuard::enabled(c10::DeviceType type) { return is_enabled(type); }

}  // namespace lica::model
