// Encoding a feature file's rows into an embedding file (data/embedding_file.h):
// lica_eval --export, and lica_search when it is given a feature file.
#pragma once

#include <filesystem>
#include <string>

#include "data/embedding_file.h"
#include "data/feature_file.h"
#include "dist/communicator.h"
#include "model/dual_encoder.h"
#include "run/config.h"

namespace lica::eval {

// The rows of split `split` of `file`, or every video and caption when `split` is "".
data::SplitIndex rows_of(const data::FeatureFile& file, const std::string& split);

// The videos and captions of `rows` encoded with `model`, sharded over comm's ranks in
// batches of `batch_size` (eval/encode_split.h: the same at every W); every rank returns
// the same embeddings, with their ids and indices.
data::Embeddings encode_embeddings(model::DualEncoder& model, const data::FeatureFile& file,
                                   const data::SplitIndex& rows, int64_t batch_size,
                                   dist::Communicator& comm);

struct ExportSummary {
  std::filesystem::path checkpoint;  // the resolved step_<N> directory
  int64_t step = 0;
  int64_t videos = 0, texts = 0, dim = 0;
  double seconds = 0;
};

// lica_eval --export: the videos and captions of `split` of cfg.data.path, encoded with the
// checkpoint's model (built from its own model config) in batches of eval.batch_size,
// sharded over comm's ranks; rank 0 writes `out` atomically. Every rank returns the summary.
ExportSummary export_embeddings(run::Config cfg, const std::string& spec, const std::string& split,
                                const std::string& out, dist::Communicator& comm);

}  // namespace lica::eval
