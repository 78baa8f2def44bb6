// Evaluation of a dual encoder on one split of a feature file (docs/design.md §7): every split
// caption is a text→video query against every split video, every split video a
// video→text query against every split caption.
#pragma once

#include <torch/torch.h>

#include "data/feature_file.h"
#include "dist/communicator.h"
#include "model/dual_encoder.h"
#include "eval/retrieval_metrics.h"

namespace lica::eval {

struct EvalOptions {
  int64_t batch_size = 256;  // samples encoded at once
  int64_t chunk = 1024;      // queries per similarity block
  bool dsl = false;          // dual-softmax re-normalisation of the scores (DualSoftmax)
  double dsl_temperature = 0.01;
  int64_t rerank_top_k = 0;  // fusion re-ranking of each query's top k (rerank.h); 0 = off
};

// Sharded evaluation (docs/design.md §7): the split's videos and captions are cut into batches of
// opt.batch_size and the batches dealt to ranks in contiguous runs, so every batch is encoded
// exactly as at W = 1; candidate embeddings are all-gathered, each rank ranks its own
// queries in chunks, and the integer ranks are gathered for the summary. Every rank returns
// the same metrics, equal to W = 1. The model is left in eval mode.
RetrievalMetrics evaluate_split(model::DualEncoder& model, const data::FeatureFile& file,
                                const data::SplitIndex& split, const EvalOptions& opt,
                                dist::Communicator& comm);

}  // namespace lica::eval
