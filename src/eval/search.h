// Retrieval for users (lica_search, docs/search.md): the top-K candidates of every query by
// cosine similarity, from exported embedding files or from feature files encoded with a
// checkpoint's model.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <functional>
#include <ostream>
#include <string>
#include <vector>

#include "dist/communicator.h"
#include "run/config.h"

namespace lica::eval {

enum class SearchDirection { kTextToVideo, kVideoToText };
// "t2v" or "v2t"; InputError naming the value otherwise.
SearchDirection parse_search_direction(const std::string& text);

struct SearchHit {
  int64_t index = 0;  // row of the candidates
  float score = 0;
};

// For every query (rows of `queries` [Q, D]) the top min(k, C) rows of `candidates` [C, D] by
// the dot product of the L2-normalised embeddings, best first, equal scores by the smaller
// candidate index. Scores are computed `chunk` queries at a time ([chunk, C] floats), and
// `emit(query, hits)` is called for each query in order. Logs progress at most every 10 s.
// k < 1 or a dim mismatch is an InputError; a non-finite score an Error naming the query.
void top_k_search(const torch::Tensor& queries, const torch::Tensor& candidates, int64_t k,
                  int64_t chunk,
                  const std::function<void(int64_t, const std::vector<SearchHit>&)>& emit);

struct SearchOptions {
  std::string candidates;   // embedding file or feature file
  std::string queries;      // embedding file or feature file
  std::string checkpoint;   // needed only to encode a feature file
  std::string split;        // rows of a feature file; "" = all rows
  std::string output;       // written atomically; "" = the stream given to run_search
  SearchDirection direction = SearchDirection::kTextToVideo;
  int64_t top_k = 10;
};

struct SearchSummary {
  int64_t queries = 0, candidates = 0, dim = 0;
  double seconds = 0;  // loading, encoding and searching
};

// lica_search: takes the query side (captions for t2v, videos for v2t) from opt.queries and
// the other side from opt.candidates, each an embedding file used as it is or a feature file
// encoded with the checkpoint's model (sharded over comm's ranks, eval.batch_size per batch).
// Rank 0 searches (eval.chunk_size queries per block) and writes one JSON line per query,
//   {"query": id, "query_index": i, "results": [{"id": ..., "index": j, "score": s}, ...]}
// to opt.output or, when that is "", to `out`. The counts of the summary are rank 0's; the
// other ranks return once the inputs are loaded, without waiting for rank 0's search.
SearchSummary run_search(const run::Config& cfg, const SearchOptions& opt, std::ostream& out,
                         dist::Communicator& comm);

}  // namespace lica::eval
