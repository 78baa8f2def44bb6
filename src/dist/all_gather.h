// The autograd all-gather of embeddings (docs/design.md §5).
#pragma once

#include <torch/torch.h>

#include "dist/communicator.h"

namespace lica::dist {

// Where this rank's rows sit in the gathered tensor.
struct ShardLayout {
  int64_t offset = 0;  // first global row of this rank
  int64_t rows = 0;    // rows of this rank
  int64_t total = 0;   // rows of all ranks
};
ShardLayout shard_layout(Communicator& comm, int64_t local_rows);

// Forward: every rank's [b_r, D] concatenated in rank order into [B, D]. Backward: the
// incoming [B, D] gradient is summed over ranks and this rank's rows are returned (a
// reduce-scatter), because every rank's loss share depends on every row. Returning the
// local slice without the sum, as CLIP4Clip's AllGather does, gives 1/W of the gradient.
torch::Tensor all_gather_with_grad(Communicator& comm, const torch::Tensor& local);

}  // namespace lica::dist
