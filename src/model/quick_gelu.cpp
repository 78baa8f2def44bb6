#include "model/quick_gelu.h"

#include <ATen/Parallel.h>

namespace lica::model {
namespace {

constexpr double kSlope = 1.702;

struct QuickGelu : public torch::autograd::Function<QuickGelu> {
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& x) {
    auto s = (x * kSlope).sigmoid_();
    ctx->save_for_backward({x, s});
    return x * s;
  }

  // d/dx x·s(ax) = s + a·x·s·(1 - s), in one pass.
  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const auto x = saved[0].contiguous(), s = saved[1].contiguous();
    const auto dy = grads[0].contiguous();
    auto dx = torch::empty_like(x);
    AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "quick_gelu_backward", [&] {
      const scalar_t* px = x.data_ptr<scalar_t>();
      const scalar_t* ps = s.data_ptr<scalar_t>();
      const scalar_t* pdy = dy.data_ptr<scalar_t>();
      scalar_t* pdx = dx.data_ptr<scalar_t>();
      const auto a = static_cast<scalar_t>(kSlope);
      at::parallel_for(0, x.numel(), 32768, [&](int64_t begin, int64_t end) {
        for (int64_t i = begin; i < end; ++i) {
          pdx[i] = pdy[i] * (ps[i] + a * px[i] * ps[i] * (1 - ps[i]));
        }
      });
    });
    return {dx};
  }
};

}  // namespace

torch::Tensor quick_gelu_ops(const torch::Tensor& x) { return x * torch::sigmoid(kSlope * x); }

torch::Tensor quick_gelu(const torch::Tensor& x) {
  const auto type = x.scalar_type();
  if (!x.device().is_cpu() || (type != torch::kFloat && type != torch::kDouble)) {
    return quick_gelu_ops(x);
  }
  return QuickGelu::apply(x.contiguous());
}

}  // namespace lica::model
