#include "trainer/step.h"

#include <tuple>

#include "common/error.h"
#include "dist/all_gather.h"
#include "loss/contrastive_lica_fused.h"
#include "loss/infonce.h"
#include "loss/infonce_tiled.h"
#include "loss/itm.h"
#include "loss/lica_fused.h"
#include "model/autocast_guard.h"
#include "model/module_device.h"
#include "model/pooling.h"

namespace lica::trainer {
namespace {

// `forward()` (an encoder's forward pass) in `precision` (autocast_guard.h).
template <typename Forward>
auto in_precision(const torch::Device& device, model::Precision precision, Forward&& forward) {
  model::AutocastGuard autocast(device, precision);
  return forward();
}

// An encoder's outputs in fp32 (model::widened): the losses and all-gathers never see bf16.
using model::widened;
model::Encoded widened(model::Encoded e) {
  e.embedding = widened(e.embedding);
  e.sequence = widened(e.sequence);
  return e;
}

// [B, D'] unit rows whose dot products are one modality's intra-modal affinities,
// identical on every rank, no gradient. `part`: this rank's rows of the modality
// (data::video_part or text_part), possibly in host memory (trainer.host_inputs).
torch::Tensor affinity_rows(dist::Communicator& comm, AffinitySource source,
                            const torch::Tensor& all_embeddings, const data::Batch& part,
                            int64_t micro_batch) {
  if (source == AffinitySource::kEmbedding) return loss::unit_rows(all_embeddings);
  // Mean of the valid input positions, micro_batch rows at a time, gathered: cosine over the
  // global batch.
  torch::NoGradGuard no_grad;
  const auto means = in_chunks(part.size(), micro_batch, [&](int64_t r0, int64_t r1) {
    const auto rows = data::rows_to(part, r0, r1, all_embeddings.device());
    return rows.video.defined() ? model::masked_mean(rows.video, rows.video_mask)
                                : model::masked_mean(rows.text, rows.text_mask);
  });
  return loss::unit_rows(comm.all_gather(means.contiguous()));
}

// The neighbour pairs of this rank's anchors [offset, offset + b) in each modality (videos,
// texts), for the fused forms.
std::pair<loss::LicaPairs, loss::LicaPairs> neighbour_pairs(
    dist::Communicator& comm, const data::Batch& local, const torch::Tensor& all_video,
    const torch::Tensor& all_text, int64_t offset, const LossOptions& opt) {
  const int64_t b = local.size();
  const auto unit_v = affinity_rows(comm, opt.source, all_video, data::video_part(local), opt.micro_batch);
  const auto unit_t = affinity_rows(comm, opt.source, all_text, data::text_part(local), opt.micro_batch);
  return {loss::lica_pairs(unit_v, offset, b, opt.lica), loss::lica_pairs(unit_t, offset, b, opt.lica)};
}

// (L_intra^v, L_intra^t) of the anchors [offset, offset + b): every rank sees the
// global batch, since its anchors' neighbours may be anywhere in it. Gradients reach other
// ranks' rows through the all-gather's backward.
std::pair<torch::Tensor, torch::Tensor> intra_terms(
    dist::Communicator& comm, const data::Batch& local, const torch::Tensor& all_video,
    const torch::Tensor& all_text, const torch::Tensor& scale, int64_t offset,
    const LossOptions& opt) {
  const int64_t b = local.size();
  if (opt.lica.form == loss::LicaForm::kFused) {  // never builds a [B, B] matrix
    const auto [pairs_v, pairs_t] = neighbour_pairs(comm, local, all_video, all_text, offset, opt);
    return {loss::fused_intra_consistency_loss(all_video, all_text, scale, pairs_v,
                                               opt.lica.divergence, opt.lica.tile_cols),
            loss::fused_intra_consistency_loss(all_text, all_video, scale, pairs_t,
                                               opt.lica.divergence, opt.lica.tile_cols)};
  }
  auto unit_v = affinity_rows(comm, opt.source, all_video, data::video_part(local), opt.micro_batch);
  auto unit_t = affinity_rows(comm, opt.source, all_text, data::text_part(local), opt.micro_batch);
  auto logits = loss::scaled_logits(all_video, all_text, scale);  // S: [B, B], videos as rows
  auto affinity = [](const torch::Tensor& unit) { return unit.matmul(unit.t()); };
  return {loss::intra_consistency_loss(torch::log_softmax(logits, 1), affinity(unit_v), offset, b,
                                 opt.lica),
          loss::intra_consistency_loss(torch::log_softmax(logits.t(), 1), affinity(unit_t), offset, b,
                                 opt.lica)};
}

// What the AAI terms share within one step.
struct StepInputs {
  model::DualEncoder& model;
  dist::Communicator& comm;
  const data::Batch& local;
  const LossOptions& opt;
  torch::Device device;
  int64_t offset = 0;  // this rank's first row in the global batch
  model::Encoded video_seq, text_seq;  // this rank's embeddings and sequences, fp32
  torch::Tensor all_video, all_text;   // [B, D], through the autograd all-gather
  torch::Tensor scale;
  int64_t global = 0;  // B

  // `fn()` (an encoder's forward pass) in the step's precision.
  template <typename Forward>
  auto forward(Forward&& fn) const {
    return in_precision(device, opt.precision, fn);
  }
  torch::Tensor inverse(double temperature) const {
    return torch::scalar_tensor(1.0 / temperature, video_seq.embedding.options());
  }
  // loss::candidates_infonce, tiled over loss.contrastive.tile_cols candidates when the
  // InfoNCE is tiled: the AAI terms' [b, B + queue] logits are as large as its [b, B].
  torch::Tensor candidates_loss(const torch::Tensor& video_rows, const torch::Tensor& video_cands,
                                const torch::Tensor& text_rows, const torch::Tensor& text_cands,
                                const torch::Tensor& scale) const {
    if (opt.contrastive_tiled(global)) {
      return loss::tiled_candidates_infonce(video_rows, video_cands, text_rows, text_cands, scale,
                                            offset, global, opt.contrastive_tile);
    }
    return loss::candidates_infonce(video_rows, video_cands, text_rows, text_cands, scale, offset,
                                    global);
  }
};

// ITC and IMS against the momentum targets: this step's momentum embeddings of the global
// batch, then the queues (past batches). No gradient reaches the targets.
void add_momentum_terms(StepInputs& in, const model::Momentum& momentum, torch::Tensor& total,
                        StepLosses& out) {
  TORCH_CHECK(!momentum.is_empty(), "step_losses: ITC and IMS need the momentum encoders");
  const auto& local = in.local;
  const auto& opt = in.opt;
  const auto& video = in.video_seq.embedding;
  const auto& text = in.text_seq.embedding;
  auto& targets = *momentum.ptr();  // encoding sets its towers' eval mode
  const int64_t b = local.size();
  // m rows at a time, each copied to the device if the inputs are kept on the host.
  out.momentum_video = in.comm.all_gather(in_chunks(b, opt.micro_batch, [&](int64_t r0, int64_t r1) {
    const auto rows = data::rows_to(data::video_part(local), r0, r1, in.device);
    return widened(in.forward([&] { return targets.encode_video(rows.video, rows.video_mask); }));
  }));
  out.momentum_text = in.comm.all_gather(in_chunks(b, opt.micro_batch, [&](int64_t r0, int64_t r1) {
    const auto rows = data::rows_to(data::text_part(local), r0, r1, in.device);
    return widened(in.forward([&] { return targets.encode_text(rows.text, rows.text_mask); }));
  }));
  const auto video_targets = torch::cat({out.momentum_video, targets.video_queue()});
  const auto text_targets = torch::cat({out.momentum_text, targets.text_queue()});
  if (opt.itc.weight > 0.0) {  // cross-modal: videos against texts and the text queue
    auto itc = in.candidates_loss(video, text_targets, text, video_targets,
                                  in.inverse(opt.itc.temperature));
    total = total + opt.itc.weight * itc;
    out.itc = itc.detach();
  }
  if (opt.ims.weight > 0.0) {  // intra-modal: each sample against its own modality
    auto ims = in.candidates_loss(video, video_targets, text, text_targets,
                                  in.inverse(opt.ims.temperature));
    total = total + opt.ims.weight * ims;
    out.ims = ims.detach();
  }
}

// LMIM: a sample's local summary is the mean of its projected frames (tokens); global
// embedding i scores sample j by the mean of its dot products with j's local features.
torch::Tensor lmim_term(StepInputs& in) {
  auto& model = in.model;
  const auto local_video = in.forward([&] { return model->local_video(in.video_seq.sequence); });
  const auto local_text = in.forward([&] { return model->local_text(in.text_seq.sequence); });
  auto video_local = dist::all_gather_with_grad(
      in.comm, model::masked_mean(widened(local_video), in.local.video_mask));
  auto text_local = dist::all_gather_with_grad(
      in.comm, model::masked_mean(widened(local_text), in.local.text_mask));
  return in.candidates_loss(in.video_seq.embedding, video_local, in.text_seq.embedding,
                            text_local, in.inverse(in.opt.lmim.temperature));
}

// ITM on hard negatives drawn from the global similarity matrix; their frames and tokens may
// live on any rank, so the sequences travel through the autograd all-gather too.
torch::Tensor itm_term(StepInputs& in, uint64_t sample_seed) {
  auto& model = in.model;
  auto& comm = in.comm;
  const auto& local = in.local;
  const auto& video_seq = in.video_seq;
  const auto& text_seq = in.text_seq;
  const auto negatives = loss::hard_negatives(
      loss::scaled_logits(in.all_video.detach(), in.all_text.detach(), in.scale.detach()),
      in.offset, video_seq.embedding.size(0), sample_seed);
  auto all_frames = dist::all_gather_with_grad(comm, video_seq.sequence);  // [B, F, D]
  auto all_tokens = dist::all_gather_with_grad(comm, text_seq.sequence);   // [B, L, D]
  const auto all_video_mask =
      comm.all_gather(local.video_mask.to(torch::kUInt8)).to(torch::kBool);
  const auto all_text_mask = comm.all_gather(local.text_mask.to(torch::kUInt8)).to(torch::kBool);
  const auto& hard_text = negatives.text_for_video;
  const auto& hard_video = negatives.video_for_text;
  const auto match = [&](const torch::Tensor& frames, const torch::Tensor& frame_mask,
                         const torch::Tensor& tokens, const torch::Tensor& token_mask) {
    return widened(
        in.forward([&] { return model->match_logits(frames, frame_mask, tokens, token_mask); }));
  };
  return loss::itm_loss(
      match(video_seq.sequence, local.video_mask, text_seq.sequence, local.text_mask),
      match(video_seq.sequence, local.video_mask, all_tokens.index_select(0, hard_text),
            all_text_mask.index_select(0, hard_text)),
      match(all_frames.index_select(0, hard_video), all_video_mask.index_select(0, hard_video),
            text_seq.sequence, local.text_mask),
      in.global);
}

}  // namespace

AffinitySource parse_affinity_source(const std::string& s) {
  if (s == "embedding") return AffinitySource::kEmbedding;
  if (s == "input") return AffinitySource::kInput;
  throw InputError("loss.lica.source: unknown source '" + s + "', expected embedding or input");
}

torch::Tensor in_chunks(int64_t n, int64_t chunk,
                        const std::function<torch::Tensor(int64_t, int64_t)>& f) {
  if (chunk <= 0 || chunk >= n) return f(0, n);
  std::vector<torch::Tensor> parts;
  for (int64_t r0 = 0; r0 < n; r0 += chunk) parts.push_back(f(r0, std::min(n, r0 + chunk)));
  return torch::cat(parts);
}

StepLosses step_losses(model::DualEncoder& model, const model::Momentum& momentum,
                       dist::Communicator& comm, const data::Batch& local, int64_t offset,
                       const LossOptions& opt, uint64_t sample_seed) {
  const torch::Device device = model::module_device(*model);
  const auto video = widened(in_precision(device, opt.precision, [&] {
    return model->encode_video_sequence(local.video, local.video_mask);
  }));
  const auto text = widened(in_precision(device, opt.precision, [&] {
    return model->encode_text_sequence(local.text, local.text_mask);
  }));
  return step_losses_from(model, momentum, comm, local, offset, opt, sample_seed, video, text);
}

StepLosses step_losses_from(model::DualEncoder& model, const model::Momentum& momentum,
                            dist::Communicator& comm, const data::Batch& local, int64_t offset,
                            const LossOptions& opt, uint64_t sample_seed,
                            const model::Encoded& video_seq, const model::Encoded& text_seq) {
  const torch::Device device = model::module_device(*model);
  StepInputs in{model, comm, local, opt, device, offset, video_seq, text_seq, {}, {}, {}, 0};
  const auto& video = in.video_seq.embedding;                   // [b, D]
  const auto& text = in.text_seq.embedding;                     // [b, D]
  in.all_video = dist::all_gather_with_grad(comm, video);  // [B, D]
  in.all_text = dist::all_gather_with_grad(comm, text);    // [B, D]
  in.global = in.all_video.size(0);
  in.scale = model->scale();
  StepLosses out;
  const bool lica = opt.lica_weight > 0.0;
  torch::Tensor nce, intra_v, intra_t;
  if (lica && opt.lica.form == loss::LicaForm::kFused && opt.contrastive_tiled(in.global)) {
    // The tiled InfoNCE and both fused LICA terms share the tiles of S: one pass.
    const auto [pairs_v, pairs_t] =
        neighbour_pairs(comm, local, in.all_video, in.all_text, offset, opt);
    auto terms = loss::fused_contrastive_lica(in.all_video, in.all_text, in.scale, offset,
                                              video.size(0), pairs_v, pairs_t,
                                              opt.lica.divergence, opt.lica.tile_cols);
    nce = terms.nce, intra_v = terms.intra_video, intra_t = terms.intra_text;
  } else {
    nce = opt.contrastive_tiled(in.global)
              ? loss::tiled_infonce_loss(video, text, in.all_video, in.all_text, in.scale,
                                         offset, opt.contrastive_tile)
              : loss::infonce_loss(video, text, in.all_video, in.all_text, in.scale, offset);
    if (lica) {
      std::tie(intra_v, intra_t) =
          intra_terms(comm, local, in.all_video, in.all_text, in.scale, offset, opt);
    }
  }
  out.nce = nce.detach();
  auto total = nce;
  const auto zero = torch::zeros({}, nce.options());
  out.intra_video = out.intra_text = out.itc = out.ims = out.lmim = out.itm = zero;
  if (lica) {
    total = total + opt.lica_weight * 0.5 * (intra_v + intra_t);
    out.intra_video = intra_v.detach();
    out.intra_text = intra_t.detach();
  }
  if (opt.needs_momentum()) add_momentum_terms(in, momentum, total, out);
  if (opt.lmim.weight > 0.0) {
    auto lmim = lmim_term(in);
    total = total + opt.lmim.weight * lmim;
    out.lmim = lmim.detach();
  }
  if (opt.itm_weight > 0.0) {
    auto itm = itm_term(in, sample_seed);
    total = total + opt.itm_weight * itm;
    out.itm = itm.detach();
  }
  out.total = total;
  return out;
}

}  // namespace lica::trainer
