// Optimiser and learning-rate schedule: AdamW, linear warmup then cosine decay.
#pragma once

#include <torch/torch.h>

#include <memory>

namespace lica::trainer {

struct ScheduleOptions {
  double base_lr = 1e-3;
  int64_t total_steps = 1;
  int64_t warmup_steps = 0;
  double min_lr_ratio = 0.0;  // the cosine ends at base_lr · min_lr_ratio
};

// Learning rate of the step with 0-based index `step`: base · (step + 1) / warmup during
// warmup, then a half cosine from base to base · min_lr_ratio over the remaining steps.
double learning_rate(const ScheduleOptions& opt, int64_t step);

// AdamW over two parameter groups: weights of rank ≥ 2 decay; biases, LayerNorm gains,
// position tables excepted by name, and the logit scale do not (as CLIP4Clip / open_clip).
std::unique_ptr<torch::optim::AdamW> make_adamw(torch::nn::Module& model, double lr,
                                                 double weight_decay);

// Sets the learning rate of every parameter group.
void set_learning_rate(torch::optim::AdamW& optimizer, double lr);

}  // namespace lica::trainer
