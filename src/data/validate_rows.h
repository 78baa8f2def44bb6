// data.validate: full (docs/data.md): every valid feature value of the rows a run will read is
// checked finite before its first step, so a bad row ends the run at its start instead of in
// whichever epoch first draws it (with data.pairing one_caption a caption row may not be read
// for many epochs). The checks are the loader's own (FeatureFile::read_videos / read_texts:
// one hyperslab read per run of adjacent rows, one conversion pass parallel over rows), so the
// messages are the same; blocks of rows are read and checked two at a time, so one block's
// check overlaps the next block's read.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "data/feature_file.h"

namespace lica::data {

// The distinct rows of the named splits (each must exist: InputError), sorted.
SplitIndex rows_of_splits(const FeatureFile& file, const std::vector<std::string>& splits);

struct RowCheck {
  int64_t video_rows = 0, text_rows = 0;  // rows checked by this call
  double megabytes = 0;                   // feature bytes read, as stored
  double seconds = 0;
};

// Checks the share `part` of `parts` (contiguous, in row order) of rows.videos and rows.texts:
// ranks split the work and each checks its own share. Throws the loader's InputError for the
// first non-finite valid value in row order (videos first). block_megabytes bounds the float32
// rows held per block.
RowCheck check_rows_finite(const FeatureFile& file, const SplitIndex& rows, int64_t part = 0,
                           int64_t parts = 1, double block_megabytes = 32);

}  // namespace lica::data
