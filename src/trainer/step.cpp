#include "trainer/step.h"

#include "common/error.h"
#include "dist/all_gather.h"
#include "model/pooling.h"
#include "trainer/losses.h"

namespace lica::trainer {
namespace {

// [B, B] intra-modal affinities of one modality, identical on every rank, no gradient.
torch::Tensor affinity(dist::Communicator& comm, AffinitySource source,
                       const torch::Tensor& all_embeddings, const torch::Tensor& features,
                       const torch::Tensor& mask) {
  if (source == AffinitySource::kEmbedding) return affinity_from_embeddings(all_embeddings);
  // Mean of the valid input positions, gathered: cosine over the global batch.
  torch::NoGradGuard no_grad;
  auto means = comm.all_gather(model::masked_mean(features, mask).contiguous());  // [B, Din]
  return affinity_from_embeddings(means);  // cosine of the means
}

}  // namespace

AffinitySource parse_affinity_source(const std::string& s) {
  if (s == "embedding") return AffinitySource::kEmbedding;
  if (s == "input") return AffinitySource::kInput;
  throw InputError("loss.lica.source: unknown source '" + s + "', expected embedding or input");
}

StepLosses step_losses(model::DualEncoder& model, dist::Communicator& comm,
                       const data::Batch& local, int64_t offset, const LossOptions& opt) {
  auto video = model->encode_video(local.video, local.video_mask);  // [b, D]
  auto text = model->encode_text(local.text, local.text_mask);      // [b, D]
  auto all_video = dist::all_gather_with_grad(comm, video);         // [B, D]
  auto all_text = dist::all_gather_with_grad(comm, text);           // [B, D]
  auto scale = model->scale();
  StepLosses out;
  auto nce = infonce_loss(video, text, all_video, all_text, scale, offset);
  out.nce = nce.detach();
  if (opt.lica_weight == 0.0) {  // the baseline: no forward, no backward of the term
    out.total = nce;
    out.intra_video = out.intra_text = torch::zeros({}, nce.options());
    return out;
  }
  // Every rank builds the full [B, B] matrix from the gathered embeddings: its anchors'
  // neighbours may be anywhere in the global batch. Gradients reach other ranks' rows
  // through the all-gather's backward.
  auto logits = scaled_logits(all_video, all_text, scale);  // S: [B, B], videos as rows
  const int64_t b = video.size(0);
  auto intra_v = intra_consistency_loss(
      torch::log_softmax(logits, 1),
      affinity(comm, opt.source, all_video, local.video, local.video_mask), offset, b, opt.lica);
  auto intra_t = intra_consistency_loss(
      torch::log_softmax(logits.t(), 1),
      affinity(comm, opt.source, all_text, local.text, local.text_mask), offset, b, opt.lica);
  out.total = nce + opt.lica_weight * 0.5 * (intra_v + intra_t);
  out.intra_video = intra_v.detach();
  out.intra_text = intra_t.detach();
  return out;
}

}  // namespace lica::trainer
