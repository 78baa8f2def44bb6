// An HDF5 embedding file: the video and caption embeddings of one split of a feature file,
// with their ids, as lica_eval --export writes them and lica_search reads them
// (docs/search.md).
//
//   /videos/embeddings float32 [V, D]
//   /videos/ids        string [V]   the feature file's /videos/ids, else the decimal row
//   /videos/index      int32 [V]    row in the source feature file's /videos
//   /texts/embeddings  float32 [T, D]
//   /texts/ids         string [T]   decimal row of /texts in the source file
//   /texts/index       int32 [T]    row in the source feature file's /texts
//   /texts/video       int32 [T]    position in this file's /videos of the caption's video,
//                                   -1 when that video is not in the file
//   /texts/raw         string [T]   optional: the caption text
//   attributes lica_embeddings = 1; source, split, checkpoint (strings), step (int)
//
// Each of /videos and /texts may be absent as a whole (a file made by other tools with only
// the side it needs); a group that is present must be complete. Every reading error is a
// lica::InputError naming the file and the dataset or attribute.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <string>
#include <vector>

#include "data/feature_file.h"

namespace lica::data {

// One side of an embedding file: /videos or /texts.
struct EmbeddingSection {
  bool present = false;
  torch::Tensor embeddings;        // [N, D] float32
  std::vector<std::string> ids;    // [N]
  std::vector<int32_t> index;      // [N] row in the source feature file
  int64_t size() const { return static_cast<int64_t>(ids.size()); }
};

struct Embeddings {
  EmbeddingSection videos;
  EmbeddingSection texts;
  std::vector<int32_t> text_video;     // [T] position in `videos`, -1 if not there
  std::vector<std::string> text_raw;   // [T], or empty when the source has no /texts/raw
  // Provenance, "" / -1 when not recorded.
  std::string source, split, checkpoint;
  int64_t step = -1;
  // D of the present sections (videos first); 0 when neither is present.
  int64_t dim() const;
};

constexpr int64_t kEmbeddingFileVersion = 1;  // the lica_embeddings attribute

// The sections of `rows` of a feature file with their embeddings ([rows, D], in the order of
// `rows`): ids and indices. make_embeddings adds, for the captions, the position of their
// video among rows.videos and the raw text when the file has it.
EmbeddingSection video_section(const FeatureFile& file, const std::vector<int64_t>& rows,
                               const torch::Tensor& embeddings);
EmbeddingSection text_section(const std::vector<int64_t>& rows, const torch::Tensor& embeddings);
Embeddings make_embeddings(const FeatureFile& file, const SplitIndex& rows,
                           const torch::Tensor& video_embeddings,
                           const torch::Tensor& text_embeddings);

// Writes `e` to `path` through a temporary file in the same folder, fsynced and renamed into
// place: a crash leaves the old file or none, never half of one. Checks that the sections'
// sizes agree (lica::Error otherwise: a caller bug).
void write_embeddings(const std::string& path, const Embeddings& e);

// Reads and validates an embedding file: the attribute, every dataset's presence, type and
// rank, the counts within a section, D equal for both sections, /texts/video in -1..V-1.
Embeddings read_embeddings(const std::string& path);

// True for an HDF5 file carrying the lica_embeddings attribute (false for a feature file).
// InputError when the file is missing or not HDF5.
bool is_embedding_file(const std::string& path);

}  // namespace lica::data
