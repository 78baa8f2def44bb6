#include "dist/all_gather.h"

namespace lica::dist {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

class AllGatherFunction : public torch::autograd::Function<AllGatherFunction> {
 public:
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& local,
                               Communicator* comm) {
    const auto layout = shard_layout(*comm, local.size(0));
    // The communicator outlives every backward pass of the step; saved_data holds IValues,
    // so it travels as an integer.
    ctx->saved_data["comm"] = static_cast<int64_t>(reinterpret_cast<intptr_t>(comm));
    ctx->saved_data["offset"] = layout.offset;
    ctx->saved_data["rows"] = layout.rows;
    return comm->all_gather(local.detach());
  }

  static variable_list backward(AutogradContext* ctx, variable_list grad_outputs) {
    auto* comm = reinterpret_cast<Communicator*>(
        static_cast<intptr_t>(ctx->saved_data["comm"].toInt()));
    const int64_t offset = ctx->saved_data["offset"].toInt();
    const int64_t rows = ctx->saved_data["rows"].toInt();
    auto grad = grad_outputs[0].contiguous().clone();  // [B, D]
    comm->all_reduce_sum(grad);
    return {grad.slice(0, offset, offset + rows), torch::Tensor()};
  }
};

}  // namespace

ShardLayout shard_layout(Communicator& comm, int64_t local_rows) {
  auto rows = comm.all_gather(torch::tensor({local_rows}, torch::kLong));  // [W]
  ShardLayout layout;
  layout.rows = local_rows;
  layout.total = rows.sum().item<int64_t>();
  layout.offset = rows.slice(0, 0, comm.rank()).sum().item<int64_t>();
  return layout;
}

torch::Tensor all_gather_with_grad(Communicator& comm, const torch::Tensor& local) {
  return AllGatherFunction::apply(local, &comm);
}

}  // namespace lica::dist
