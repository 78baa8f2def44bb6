#include "trainer/schedule.h"

#include <cmath>

namespace lica::trainer {

double learning_rate(const ScheduleOptions& opt, int64_t step) {
  if (step < opt.warmup_steps) {
    return opt.base_lr * static_cast<double>(step + 1) / static_cast<double>(opt.warmup_steps);
  }
  const double span = static_cast<double>(std::max<int64_t>(1, opt.total_steps - opt.warmup_steps));
  const double progress = std::min(1.0, static_cast<double>(step - opt.warmup_steps) / span);
  const double floor = opt.base_lr * opt.min_lr_ratio;
  return floor + (opt.base_lr - floor) * 0.5 * (1.0 + std::cos(M_PI * progress));
}

std::unique_ptr<torch::optim::AdamW> make_adamw(torch::nn::Module& model, double lr,
                                                 double weight_decay) {
  std::vector<torch::Tensor> decay, no_decay;
  for (const auto& item : model.named_parameters()) {
    const auto& name = item.key();
    const bool is_table = name.find("position") != std::string::npos;
    if (item.value().dim() >= 2 && !is_table) {
      decay.push_back(item.value());
    } else {
      no_decay.push_back(item.value());
    }
  }
  auto options = torch::optim::AdamWOptions(lr).betas({0.9, 0.98}).eps(1e-6);
  std::vector<torch::optim::OptimizerParamGroup> groups;
  groups.emplace_back(decay, std::make_unique<torch::optim::AdamWOptions>(
                                 torch::optim::AdamWOptions(options).weight_decay(weight_decay)));
  groups.emplace_back(no_decay, std::make_unique<torch::optim::AdamWOptions>(
                                    torch::optim::AdamWOptions(options).weight_decay(0.0)));
  return std::make_unique<torch::optim::AdamW>(std::move(groups), options);
}

void set_learning_rate(torch::optim::AdamW& optimizer, double lr) {
  for (auto& group : optimizer.param_groups()) {
    static_cast<torch::optim::AdamWOptions&>(group.options()).lr(lr);
  }
}

}  // namespace lica::trainer
