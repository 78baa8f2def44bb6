// One training step's loss, computed data-parallel (docs/design.md §4, §5): this rank encodes its
// rows, the embeddings travel through the autograd all-gather, and every term is this
// rank's rows (anchors) against the whole global batch, normalised by the global batch size.
#pragma once

#include <torch/torch.h>

#include <functional>
#include <string>

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
  // The InfoNCE's form (loss.contrastive): tiled over `contrastive_tile` candidates when
  // `contrastive_tiled` says so for the global batch.
  std::string contrastive_form = "direct";  // direct | tiled | auto
  int64_t contrastive_tile = 4096;
  bool contrastive_tiled(int64_t global_batch) const {
    return contrastive_form == "tiled" ||
           (contrastive_form == "auto" && global_batch > contrastive_tile);
  }
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
  // trainer.micro_batch: rows per encoder pass on each rank, 0 = all at once. step_losses
  // encodes the momentum targets this many rows at a time; micro_batch.h the whole step.
  int64_t micro_batch = 0;
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

// step_losses from this rank's encoder outputs already made (fp32): step_losses encodes
// `local` and calls it; the micro-batched step (micro_batch.h) passes cached embeddings as
// leaves whose gradient it carries into the encoders. The sequences may be undefined unless
// LMIM or ITM is on.
StepLosses step_losses_from(model::DualEncoder& model, const model::Momentum& momentum,
                            dist::Communicator& comm, const data::Batch& local, int64_t offset,
                            const LossOptions& opt, uint64_t sample_seed,
                            const model::Encoded& video, const model::Encoded& text);

// f(r0, r1) over consecutive row ranges of `chunk` rows covering [0, n) (one range when
// chunk is 0 or >= n), concatenated along dim 0.
torch::Tensor in_chunks(int64_t n, int64_t chunk,
                        const std::function<torch::Tensor(int64_t, int64_t)>& f);

}  // namespace lica::trainer
