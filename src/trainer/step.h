// One training step's loss, computed data-parallel (docs/design.md §4, §5): this rank encodes its
// rows, the embeddings travel through the autograd all-gather, and every term is this
// rank's rows (anchors) against the whole global batch, normalised by the global batch size.
#pragma once

#include <torch/torch.h>

#include "data/batch.h"
#include "dist/communicator.h"
#include "model/autocast_guard.h"
#include "model/dual_encoder.h"
#include "model/momentum.h"
#include "loss/lica.h"

namespace lica::trainer {

enum class AffinitySource { kEmbedding, kInput };
AffinitySource parse_affinity_source(const std::string& s);  // "embedding" | "input"

// An AAI InfoNCE term (docs/design.md §4): weight 0 skips it (no forward, no backward).
struct InfoNceTerm {
  double weight = 0.0;
  double temperature = 0.07;
};

struct LossOptions {
  double lica_weight = 0.0;  // λ; 0 skips the intra-modal term altogether
  loss::LicaOptions lica;
  AffinitySource source = AffinitySource::kEmbedding;
  InfoNceTerm itc;   // against the momentum queues
  InfoNceTerm ims;   // intra-modal separability
  InfoNceTerm lmim;  // local mutual information
  double itm_weight = 0.0;  // the fusion encoder's matching loss (itm_loss.h)
  // The precision of the encoders' forward passes (trainer.precision): bf16 autocasts them,
  // and their outputs are cast back to fp32 before any loss, so the similarity matrix,
  // softmaxes and every term below run in fp32 whatever this says.
  model::Precision precision = model::Precision::kFp32;
  bool needs_momentum() const { return itc.weight > 0 || ims.weight > 0; }
  bool needs_local_heads() const { return lmim.weight > 0; }
};

// This rank's shares of the step's losses; the shares of all ranks sum to the losses of
// one process on the global batch.
// total = nce + λ · ½ (intra_v + intra_t) + w_itc · itc + w_ims · ims + w_lmim · lmim
//         + w_itm · itm.
struct StepLosses {
  torch::Tensor total;  // 0-d, with gradient: backward() through it
  torch::Tensor nce;    // 0-d, detached
  torch::Tensor intra_video, intra_text;  // 0-d, detached; zeros when λ = 0
  torch::Tensor itc, ims, lmim, itm;      // 0-d, detached; zeros when off
  // The global batch's momentum embeddings [B, D], for Momentum::enqueue after the
  // optimiser step; undefined without momentum.
  torch::Tensor momentum_video, momentum_text;
};

// `local` holds this rank's rows of the global batch, the first at global index `offset`.
// `momentum` is needed when opt.needs_momentum() (else may be empty, e.g. nullptr); its
// queues hold past batches only. `sample_seed` seeds ITM's draw of hard negatives: the
// trainer derives one from (trainer.seed, step), so a resumed run draws the same. After
// backward(), all-reduce (sum) the parameter gradients.
StepLosses step_losses(model::DualEncoder& model, const model::Momentum& momentum,
                       dist::Communicator& comm, const data::Batch& local, int64_t offset,
                       const LossOptions& opt, uint64_t sample_seed = 0);

}  // namespace lica::trainer
