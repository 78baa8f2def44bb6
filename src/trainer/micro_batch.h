// The step's gradient, computed whole or in embedding-cached micro-batches (GradCache, Gao et
// al. 2021; docs/large-batch.md). With trainer.micro_batch = m each rank
//   1. encodes its rows m at a time without autograd, keeping only the embeddings [b, D]
//      (and the generator state each pass started from, so dropout draws the same masks),
//   2. takes every loss of the global batch on those embeddings as autograd leaves and
//      back-propagates it to them (the all-gather's backward sums over ranks, as always),
//      which also gives the logit scale its gradient,
//   3. encodes each micro-batch again with autograd and back-propagates its rows' cached
//      gradient into the encoders' parameters.
// By the chain rule the accumulated gradient is the gradient of the global-batch loss; only
// summation order differs from the one-pass step. Memory for activations is that of m rows
// instead of b; the price is a second forward of the encoders. LMIM and ITM need the encoders'
// sequences with gradient and are refused with micro-batches (config validation).
#pragma once

#include "dist/gradient_reducer.h"
#include "trainer/step.h"

namespace lica::trainer {

// The step's losses (detached) with this rank's share of the gradient of the global-batch
// loss accumulated into the model's .grad, in micro-batches of opt.micro_batch rows. Not yet
// summed over ranks.
StepLosses micro_batched_step(model::DualEncoder& model, const model::Momentum& momentum,
                              dist::Communicator& comm, const data::Batch& local,
                              int64_t offset, const LossOptions& opt, uint64_t sample_seed);

// One step's losses with the gradient of the global-batch loss summed over ranks into every
// parameter's .grad (zero them first): step_losses and a backward pass whose all-reduce
// overlaps it through `reducer`, or with opt.micro_batch > 0 micro_batched_step and then
// one all-reduce of the accumulated gradients.
StepLosses losses_and_gradients(model::DualEncoder& model, const model::Momentum& momentum,
                                dist::Communicator& comm, const data::Batch& local,
                                int64_t offset, const LossOptions& opt,
                                dist::GradientReducer& reducer, uint64_t sample_seed = 0);

}  // namespace lica::trainer
