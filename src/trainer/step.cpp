#include "trainer/step.h"

#include "common/error.h"
#include "dist/all_gather.h"
#include "trainer/itm_loss.h"
#include "model/autocast_guard.h"
#include "model/module_device.h"
#include "model/pooling.h"
#include "trainer/lica_fused.h"
#include "trainer/losses.h"

namespace lica::trainer {
namespace {

// `forward()` (an encoder's forward pass) in `precision` (autocast_guard.h).
template <typename Forward>
auto in_precision(const torch::Device& device, model::Precision precision, Forward&& forward) {
  model::AutocastGuard autocast(device, precision);
  return forward();
}

// What an encoder gave out under autocast, in fp32: the losses and the all-gathers never see
// bf16. Tensors already fp32 (or fp64, as in the gradient tests) are returned as they are.
torch::Tensor widened(const torch::Tensor& t) {
  const auto type = t.scalar_type();
  return type == torch::kBFloat16 || type == torch::kHalf ? t.to(torch::kFloat) : t;
}
model::Encoded widened(model::Encoded e) {
  e.embedding = widened(e.embedding);
  e.sequence = widened(e.sequence);
  return e;
}

// [B, D'] unit rows whose dot products are one modality's intra-modal affinities,
// identical on every rank, no gradient.
torch::Tensor affinity_rows(dist::Communicator& comm, AffinitySource source,
                            const torch::Tensor& all_embeddings, const torch::Tensor& features,
                            const torch::Tensor& mask) {
  if (source == AffinitySource::kEmbedding) return unit_rows(all_embeddings);
  // Mean of the valid input positions, gathered: cosine over the global batch.
  torch::NoGradGuard no_grad;
  return unit_rows(comm.all_gather(model::masked_mean(features, mask).contiguous()));
}

// (L_intra^v, L_intra^t) of the anchors [offset, offset + b): every rank sees the
// global batch, since its anchors' neighbours may be anywhere in it. Gradients reach other
// ranks' rows through the all-gather's backward.
std::pair<torch::Tensor, torch::Tensor> intra_terms(
    dist::Communicator& comm, const data::Batch& local, const torch::Tensor& all_video,
    const torch::Tensor& all_text, const torch::Tensor& scale, int64_t offset,
    const LossOptions& opt) {
  const int64_t b = local.video.size(0);
  auto unit_v = affinity_rows(comm, opt.source, all_video, local.video, local.video_mask);
  auto unit_t = affinity_rows(comm, opt.source, all_text, local.text, local.text_mask);
  if (opt.lica.form == LicaForm::kFused) {  // never builds a [B, B] matrix
    const auto fused = [&](const torch::Tensor& rows, const torch::Tensor& cols,
                           const torch::Tensor& unit) {
      return fused_intra_consistency_loss(rows, cols, scale, lica_pairs(unit, offset, b, opt.lica),
                                          opt.lica.divergence, opt.lica.tile_cols);
    };
    return {fused(all_video, all_text, unit_v), fused(all_text, all_video, unit_t)};
  }
  auto logits = scaled_logits(all_video, all_text, scale);  // S: [B, B], videos as rows
  auto affinity = [](const torch::Tensor& unit) { return unit.matmul(unit.t()); };
  return {intra_consistency_loss(torch::log_softmax(logits, 1), affinity(unit_v), offset, b,
                                 opt.lica),
          intra_consistency_loss(torch::log_softmax(logits.t(), 1), affinity(unit_t), offset, b,
                                 opt.lica)};
}

}  // namespace

AffinitySource parse_affinity_source(const std::string& s) {
  if (s == "embedding") return AffinitySource::kEmbedding;
  if (s == "input") return AffinitySource::kInput;
  throw InputError("loss.lica.source: unknown source '" + s + "', expected embedding or input");
}

StepLosses step_losses(model::DualEncoder& model, const model::Momentum& momentum,
                       dist::Communicator& comm, const data::Batch& local, int64_t offset,
                       const LossOptions& opt, uint64_t sample_seed) {
  const torch::Device device = model::module_device(*model);
  const auto forward = [&](auto&& fn) { return in_precision(device, opt.precision, fn); };
  const auto video_seq = widened(
      forward([&] { return model->encode_video_sequence(local.video, local.video_mask); }));
  const auto text_seq = widened(
      forward([&] { return model->encode_text_sequence(local.text, local.text_mask); }));
  const auto& video = video_seq.embedding;                   // [b, D]
  const auto& text = text_seq.embedding;                     // [b, D]
  auto all_video = dist::all_gather_with_grad(comm, video);  // [B, D]
  auto all_text = dist::all_gather_with_grad(comm, text);    // [B, D]
  const int64_t global = all_video.size(0);
  auto scale = model->scale();
  StepLosses out;
  auto nce = infonce_loss(video, text, all_video, all_text, scale, offset);
  out.nce = nce.detach();
  auto total = nce;
  const auto zero = torch::zeros({}, nce.options());
  out.intra_video = out.intra_text = out.itc = out.ims = out.lmim = out.itm = zero;
  if (opt.lica_weight > 0.0) {
    auto [intra_v, intra_t] = intra_terms(comm, local, all_video, all_text, scale, offset, opt);
    total = total + opt.lica_weight * 0.5 * (intra_v + intra_t);
    out.intra_video = intra_v.detach();
    out.intra_text = intra_t.detach();
  }
  const auto inverse = [&](double temperature) {
    return torch::scalar_tensor(1.0 / temperature, video.options());
  };
  if (opt.needs_momentum()) {
    TORCH_CHECK(!momentum.is_empty(), "step_losses: ITC and IMS need the momentum encoders");
    auto& targets = *momentum.ptr();  // encoding sets its towers' eval mode
    // The targets: this step's momentum embeddings of the global batch, then the queues
    // (past batches). No gradient reaches them.
    out.momentum_video = comm.all_gather(
        widened(forward([&] { return targets.encode_video(local.video, local.video_mask); })));
    out.momentum_text = comm.all_gather(
        widened(forward([&] { return targets.encode_text(local.text, local.text_mask); })));
    const auto video_targets = torch::cat({out.momentum_video, targets.video_queue()});
    const auto text_targets = torch::cat({out.momentum_text, targets.text_queue()});
    if (opt.itc.weight > 0.0) {  // cross-modal: videos against texts and the text queue
      auto itc = candidates_infonce(video, text_targets, text, video_targets,
                                    inverse(opt.itc.temperature), offset, global);
      total = total + opt.itc.weight * itc;
      out.itc = itc.detach();
    }
    if (opt.ims.weight > 0.0) {  // intra-modal: each sample against its own modality
      auto ims = candidates_infonce(video, video_targets, text, text_targets,
                                    inverse(opt.ims.temperature), offset, global);
      total = total + opt.ims.weight * ims;
      out.ims = ims.detach();
    }
  }
  if (opt.lmim.weight > 0.0) {
    // A sample's local summary: the mean of its projected frames (tokens). Global embedding
    // i scores sample j by the mean of its dot products with j's local features.
    const auto local_video = forward([&] { return model->local_video(video_seq.sequence); });
    const auto local_text = forward([&] { return model->local_text(text_seq.sequence); });
    auto video_local = dist::all_gather_with_grad(
        comm, model::masked_mean(widened(local_video), local.video_mask));
    auto text_local = dist::all_gather_with_grad(
        comm, model::masked_mean(widened(local_text), local.text_mask));
    auto lmim = candidates_infonce(video, video_local, text, text_local,
                                   inverse(opt.lmim.temperature), offset, global);
    total = total + opt.lmim.weight * lmim;
    out.lmim = lmim.detach();
  }
  if (opt.itm_weight > 0.0) {
    // Hard negatives drawn from the global similarity matrix; their frames and tokens may
    // live on any rank, so the sequences travel through the autograd all-gather too.
    const auto negatives = hard_negatives(
        scaled_logits(all_video.detach(), all_text.detach(), scale.detach()), offset,
        video.size(0), sample_seed);
    auto all_frames = dist::all_gather_with_grad(comm, video_seq.sequence);  // [B, F, D]
    auto all_tokens = dist::all_gather_with_grad(comm, text_seq.sequence);   // [B, L, D]
    const auto all_video_mask = comm.all_gather(local.video_mask.to(torch::kUInt8)).to(torch::kBool);
    const auto all_text_mask = comm.all_gather(local.text_mask.to(torch::kUInt8)).to(torch::kBool);
    const auto& hard_text = negatives.text_for_video;
    const auto& hard_video = negatives.video_for_text;
    const auto match = [&](const torch::Tensor& frames, const torch::Tensor& frame_mask,
                           const torch::Tensor& tokens, const torch::Tensor& token_mask) {
      return widened(
          forward([&] { return model->match_logits(frames, frame_mask, tokens, token_mask); }));
    };
    auto itm = itm_loss(
        match(video_seq.sequence, local.video_mask, text_seq.sequence, local.text_mask),
        match(video_seq.sequence, local.video_mask, all_tokens.index_select(0, hard_text),
              all_text_mask.index_select(0, hard_text)),
        match(all_frames.index_select(0, hard_video), all_video_mask.index_select(0, hard_video),
              text_seq.sequence, local.text_mask),
        global);
    total = total + opt.itm_weight * itm;
    out.itm = itm.detach();
  }
  out.total = total;
  return out;
}

}  // namespace lica::trainer
