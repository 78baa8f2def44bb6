#include "trainer/optimizer_step.h"

#include <cmath>

#include "run/optimizer_state.h"

namespace lica::trainer {
namespace {

using torch::optim::AdamWOptions;
using torch::optim::AdamWParamState;

// One group's tensors for the multi-tensor update.
struct GroupTensors {
  std::vector<torch::Tensor> params, grads, exp_avg, exp_avg_sq;
  std::vector<AdamWParamState*> states;
};

}  // namespace

void clip_grad_norm(const std::vector<torch::Tensor>& params, double max_norm) {
  std::vector<torch::Tensor> grads;
  for (const auto& p : params) {
    if (p.grad().defined()) grads.push_back(p.grad());
  }
  if (grads.empty()) return;
  const auto norms = at::_foreach_norm(grads, 2.0);
  const auto total = norms.size() == 1 ? norms[0] : torch::stack(norms).norm(2.0);
  const auto coef = torch::clamp_max(max_norm / (total + 1e-6), 1.0);
  for (auto& g : grads) g.mul_(coef);
}

void adamw_step(torch::optim::AdamW& optimizer) {
  auto& states = optimizer.state();
  std::vector<GroupTensors> groups;
  int64_t step = -1;  // every parameter's step count: they must agree
  for (auto& group : optimizer.param_groups()) {
    if (static_cast<const AdamWOptions&>(group.options()).amsgrad()) {
      optimizer.step();
      return;
    }
    GroupTensors g;
    for (auto& p : group.params()) {
      auto* s = dynamic_cast<AdamWParamState*>(run::state_of(states, p));
      if (!p.grad().defined() || s == nullptr || (step >= 0 && s->step() != step)) {
        optimizer.step();  // the first step, or a parameter left out: LibTorch's own loop
        return;
      }
      step = s->step();
      g.params.push_back(p);
      g.grads.push_back(p.grad());
      g.exp_avg.push_back(s->exp_avg());
      g.exp_avg_sq.push_back(s->exp_avg_sq());
      g.states.push_back(s);
    }
    groups.push_back(std::move(g));
  }
  torch::NoGradGuard no_grad;
  for (size_t i = 0; i < groups.size(); ++i) {
    auto& g = groups[i];
    if (g.params.empty()) continue;
    const auto& options = static_cast<const AdamWOptions&>(optimizer.param_groups()[i].options());
    const double lr = options.lr();
    const auto [beta1, beta2] = options.betas();
    // The order of LibTorch's AdamW::step, operation by operation.
    if (options.weight_decay() != 0) at::_foreach_mul_(g.params, 1 - lr * options.weight_decay());
    for (auto* s : g.states) s->step(s->step() + 1);
    const auto done = static_cast<double>(step + 1);
    const double bias_correction1 = 1 - std::pow(beta1, done);
    const double bias_correction2 = 1 - std::pow(beta2, done);
    at::_foreach_mul_(g.exp_avg, beta1);
    at::_foreach_add_(g.exp_avg, g.grads, 1 - beta1);
    at::_foreach_mul_(g.exp_avg_sq, beta2);
    at::_foreach_addcmul_(g.exp_avg_sq, g.grads, g.grads, 1 - beta2);
    auto denom = at::_foreach_sqrt(g.exp_avg_sq);
    at::_foreach_div_(denom, std::sqrt(bias_correction2));
    at::_foreach_add_(denom, options.eps());
    at::_foreach_addcdiv_(g.params, g.exp_avg, denom, -(lr / bias_correction1));
  }
}

}  // namespace lica::trainer
