// A seeded generator of feature files in the docs/design.md §2 schema, for demos and tests.
//
// The model of the data (Z = latent_dim, H = 4·Z hidden units, k(v) the cluster of video v):
//   cluster centres   μ_k ~ N(0, I_Z), k < clusters; each video's cluster is uniform
//   video latent      z_v = μ_k(v) + video_spread · ε
//   frame f < n_v     x = B_v · tanh(A_v · (z_v + frame_noise · ε_f) + p_f)            -> Dv
//   caption latent    c = μ_k(v) + caption_specificity · (z_v − μ_k(v)) + 0.1 · ε_c
//   token l < n_c − 1 y = B_t · tanh(A_t · (c + token_noise · ε_l) + q_l)              -> Dt
//   EOT token n_c − 1 y = B_t · tanh(A_t · (c + 0.2 · token_noise · ε) + q_eot)  (a cleaner
//                     summary of the caption, so both eot and mean pooling can learn)
// A_*, B_* are fixed Gaussian maps, different for the two modalities (two non-linear views of
// the latent), p_f, q_l position vectors; every ε ~ N(0, I). Positions past n_v / n_c are
// zero. Low caption_specificity makes captions of one cluster near-interchangeable (real
// false negatives for the contrastive loss); clusters are what the intra-modal terms can use.
//
// Counts: n_v ~ U[min_frames, frames], n_c ~ U[min_tokens, tokens], captions per video
// ~ U[min_captions, max_captions]; captions are stored grouped by video, in video order.
// Splits test, val (at least one video each, by the fractions) and train (the rest) partition
// the videos at random; captions follow their videos; the rows of a split are ascending.
// Besides the schema the file holds /videos/cluster (int32 [V], the cluster of each video).
//
// Label noise (caption_noise = P > 0): round(P · T_train) captions of the train split are
// re-assigned in /texts/video to a uniformly random other video of the train split, drawn
// from their own seeded stream; their features stay those of their true video, which is kept
// in /texts/true_video (int32 [T], absent when P = 0). Each train video keeps its first
// caption, so no video is left without one: P is at most 1 − V_train / T_train (InputError
// otherwise). Val and test are untouched, and every other dataset is the same as with P = 0.
//
// Generated in chunks of 256 videos written as hyperslabs, so memory stays bounded for any
// size. Deterministic: the same options give the same bytes (on one build of LibTorch and BLAS).
#pragma once

#include <cstdint>
#include <string>

namespace lica::data {

struct SyntheticOptions {
  int64_t videos = 1000;
  int64_t min_captions = 2, max_captions = 5;  // per video
  int64_t frames = 12, min_frames = 4;         // F and the shortest video
  int64_t tokens = 16, min_tokens = 4;         // L and the shortest caption
  int64_t video_dim = 64, text_dim = 48, latent_dim = 16, clusters = 50;
  double video_spread = 0.6;         // std of a video's latent around its cluster centre
  double caption_specificity = 0.3;  // share of the video's own offset a caption carries
  double frame_noise = 0.5, token_noise = 0.5;
  double val_fraction = 0.1, test_fraction = 0.2;
  double caption_noise = 0;  // share of the train captions re-assigned to another train video
  uint64_t seed = 0;
  bool float32 = false;  // store features as float32 instead of float16
};

// Checks the options; InputError naming the option and its rule.
void validate(const SyntheticOptions& opt);

struct SyntheticSummary {
  int64_t train_captions = 0, moved_captions = 0;  // caption_noise: re-assigned train captions
};

// Validates the options, then writes the file (through `path`.tmp, renamed when complete).
SyntheticSummary write_synthetic(const std::string& path, const SyntheticOptions& opt);

}  // namespace lica::data
