// Evaluation of a dual encoder on one split of a feature file (DESIGN §7): every split
// caption is a text→video query against every split video, every split video a
// video→text query against every split caption.
#pragma once

#include <torch/torch.h>

#include "data/feature_file.h"
#include "model/dual_encoder.h"
#include "trainer/retrieval_metrics.h"

namespace lica::trainer {

struct EvalOptions {
  int64_t batch_size = 256;  // samples encoded at once
  int64_t chunk = 1024;      // queries per similarity block
};

// Embeddings of a split, in the split's order. videos: [V, D]; texts: [T, D];
// text_owner: [T] int64, the position in `videos` of each caption's video.
struct SplitEmbeddings {
  torch::Tensor videos, texts, text_owner;
};

// Encodes a split with gradients off; the model is left in eval mode.
SplitEmbeddings encode_split(model::DualEncoder& model, const data::FeatureFile& file,
                             const data::SplitIndex& split, int64_t batch_size);

RetrievalMetrics retrieval_metrics(const SplitEmbeddings& emb, int64_t chunk);

RetrievalMetrics evaluate_split(model::DualEncoder& model, const data::FeatureFile& file,
                                const data::SplitIndex& split, const EvalOptions& opt);

}  // namespace lica::trainer
