// LICA intra-modal consistency loss (docs/design.md §4) as plain functions. Like the InfoNCE in
// losses.h it is written as one rank's share: the terms of the anchors [offset,
// offset + count) of the global batch of B, divided by the global B, so the shares of all
// ranks (disjoint anchor ranges) sum to the loss of one process on the whole batch.
//
// Conventions (exact, so that two correct implementations agree to rounding):
// - neighbours of anchor i: the k other samples with the largest A_ij, ties broken by the
//   smaller global index j; top_k 0 or >= B-1 means all B-1 others;
// - then every j with A_ij < min_affinity is dropped and W_ij = softmax_j(A_ij / tau_intra)
//   runs over those left; an anchor with none left contributes 0 (the 1/B stays 1/B);
// - kl is KL(P_i || P_j), anchor to neighbour; js is ½ KL(p||m) + ½ KL(q||m) with
//   log m = logaddexp(log p, log q) - log 2; both from log-probabilities only.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <string>

namespace lica::loss {

enum class Divergence { kJs, kKl };

// How the term is computed: direct (holds [count, k, B] temporaries, autograd throughout) or
// chunked (streams over neighbour pairs in chunks of chunk_rows, O(chunk_rows · B) memory,
// recomputing in backward with analytic gradients). Auto takes chunked on the CPU, and on
// other devices above 2^24 elements of the direct form's temporaries.
// Fused (lica_fused.h) never builds the [B, B] matrices: it streams over column tiles of the
// similarity matrix from the embeddings, O(B · (D + tile_cols) + B · k) memory; the step
// calls it with the embeddings instead of log_p.
enum class LicaForm { kAuto, kDirect, kChunked, kFused };

struct LicaOptions {
  double tau_intra = 0.1;      // temperature of the neighbour weights, > 0
  int64_t top_k = 0;           // neighbours per anchor; 0 or >= B-1 = all B-1 others
  double min_affinity = -1.0;  // neighbours with A_ij < min_affinity are dropped (after top-k)
  Divergence divergence = Divergence::kJs;
  LicaForm form = LicaForm::kAuto;
  int64_t chunk_rows = 1024;   // neighbour pairs per chunk of the chunked form; anchors per
                               // chunk of the fused form's neighbour selection
  int64_t tile_cols = 1024;    // similarity columns per tile of the fused form
};

// "auto" | "direct" | "chunked" | "fused"; anything else throws lica::InputError.
LicaForm parse_lica_form(const std::string& s);

// "js" | "kl"; anything else throws lica::InputError.
Divergence parse_divergence(const std::string& s);

// Intra-modal affinities of source `embedding`, without gradient: cosine similarity of the
// L2-normalised rows. emb: [B, D] -> [B, B].
torch::Tensor affinity_from_embeddings(const torch::Tensor& emb);

// Affinities of source `input`, without gradient: the mean of the valid frames (tokens)
// only, then cosine. features: [B, L, D]; mask: [B, L] bool, true = valid -> [B, B].
// A sample with no valid frame throws lica::InputError.
torch::Tensor affinity_from_inputs(const torch::Tensor& features, const torch::Tensor& mask);

// Unit rows whose dot products are the affinities: the L2-normalised embeddings (source
// `embedding`), or of the valid-frame means (source `input`, see affinity_from_inputs).
// No gradient. [B, D] -> [B, D].
torch::Tensor unit_rows(const torch::Tensor& emb);

// The weighted neighbour pairs of the anchors [offset, offset + count), by the conventions
// above, with only the pairs of weight > 0: anchor-major, and within an anchor in
// descending affinity. No gradient.
struct LicaPairs {
  torch::Tensor anchor;     // [P] int64 global index of the anchor
  torch::Tensor neighbour;  // [P] int64 global index of the neighbour
  torch::Tensor weight;     // [P] W_ij > 0
};

// From the unit rows [B, D'] of unit_rows(): the affinities of chunk_rows anchors at a time,
// streamed over tiles of max(tile_cols, 2k) columns (top_k_streamed), so memory stays
// O(chunk_rows · max(tile_cols, 2k)) besides the pairs. tile_cols < 1 throws InputError.
LicaPairs lica_pairs(const torch::Tensor& unit, int64_t offset, int64_t count,
                     const LicaOptions& opt);

// L_intra of one modality for the anchors [offset, offset + count) of a global batch of B.
// log_p: [B, B], row i = log-softmax of sample i's cross-modal similarity distribution
// (videos: log_softmax(S, 1); texts: log_softmax(Sᵀ, 1)), with gradient.
// affinity: [B, B], treated as constant (detached).
// Returns (1/B) Σ_{i in anchors} Σ_{j in N_k(i)} W_ij · D(P_i, P_j), 0-d, dtype of log_p;
// gradients flow into both P_i and P_j. Memory: see LicaForm.
torch::Tensor intra_consistency_loss(const torch::Tensor& log_p, const torch::Tensor& affinity,
                                     int64_t offset, int64_t count, const LicaOptions& opt);

// The whole batch: offset 0, count B.
inline torch::Tensor intra_consistency_loss(const torch::Tensor& log_p,
                                            const torch::Tensor& affinity,
                                            const LicaOptions& opt) {
  return intra_consistency_loss(log_p, affinity, 0, log_p.size(0), opt);
}

}  // namespace lica::loss
