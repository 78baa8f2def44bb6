// Where a module lives, so code that feeds it (a batch, a fresh buffer) follows it there.
#pragma once

#include <torch/torch.h>

namespace lica::model {

// The device of the module's first parameter, else of its first buffer; cpu when it has none.
inline torch::Device module_device(const torch::nn::Module& module) {
  for (const auto& p : module.parameters()) return p.device();
  for (const auto& b : module.buffers()) return b.device();
  return torch::kCPU;
}

}  // namespace lica::model
