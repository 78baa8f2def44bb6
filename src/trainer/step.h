// One training step's loss, computed data-parallel (DESIGN §5): this rank encodes its rows,
// the embeddings travel through the autograd all-gather, and the loss is this rank's rows
// against the whole global batch, normalised by the global batch size.
#pragma once

#include <torch/torch.h>

#include "data/batch.h"
#include "dist/communicator.h"
#include "model/dual_encoder.h"

namespace lica::trainer {

// This rank's share of the loss (the shares sum to the single-process loss on the global
// batch). `local` holds this rank's rows of the global batch, the first at global index
// `offset`; backward() through it, then all-reduce (sum) the parameter gradients.
torch::Tensor step_loss_share(model::DualEncoder& model, dist::Communicator& comm,
                              const data::Batch& local, int64_t offset);

}  // namespace lica::trainer
