// data.validate full (data/validate_rows.h): every row of the splits in use checked with the
// loader's own reads and messages, in blocks, shared between ranks.
#include "data/validate_rows.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "common/error.h"
#include "data/data_test_util.h"

namespace lica::data {
namespace {

using ::testing::HasSubstr;
using test_util::TempDir;

// A small float32 synthetic file with the valid value (position 0, feature 1) of caption rows
// `bad_texts` set to `value`.
std::string file_with_bad_captions(const TempDir& dir, const std::vector<int64_t>& bad_texts,
                                   float value) {
  const std::string path = dir.file("s.h5");
  auto opt = test_util::small_synthetic(3);
  opt.float32 = true;
  write_synthetic(path, opt);
  std::vector<torch::Tensor> rows;  // [1, L, Dt] each, read before the file is opened to write
  {
    const auto file = FeatureFile::open(path);
    for (int64_t row : bad_texts) rows.push_back(file.read_text_block(row, 1).contiguous());
  }
  h5::File file = h5::open_file(path, /*writable=*/true);
  h5::Dataset ds = h5::open_dataset(file.get(), "/texts/features");
  for (size_t i = 0; i < bad_texts.size(); ++i) {
    rows[i][0][0][1] = value;
    h5::write_rows(ds, bad_texts[i], 1, H5T_NATIVE_FLOAT, rows[i].data_ptr());
  }
  return path;
}

// `run()` throws InputError with exactly the message of `lazy()` (the loader's read).
template <typename Run, typename Lazy>
void expect_same_error(const Run& run, const Lazy& lazy) {
  std::string want;
  try {
    lazy();
  } catch (const InputError& e) {
    want = e.what();
  }
  ASSERT_THAT(want, HasSubstr("is not finite"));
  try {
    run();
    ADD_FAILURE() << "no error, expected " << want;
  } catch (const InputError& e) {
    EXPECT_EQ(std::string(e.what()), want);
  }
}

TEST(ValidateRows, RowsOfSplitsAreTheDistinctRowsOfEverySplitSorted) {
  TempDir dir;
  const auto path = file_with_bad_captions(dir, {}, 0.0f);
  const auto file = FeatureFile::open(path);
  const auto rows = rows_of_splits(file, {"train", "test", "train"});
  std::vector<int64_t> want = file.split("train").texts;
  want.insert(want.end(), file.split("test").texts.begin(), file.split("test").texts.end());
  std::sort(want.begin(), want.end());
  want.erase(std::unique(want.begin(), want.end()), want.end());
  EXPECT_EQ(rows.texts, want);
  EXPECT_EQ(rows.videos.size(), file.split("train").videos.size() + file.split("test").videos.size());
  EXPECT_THROW(rows_of_splits(file, {"nope"}), InputError);
  // A clean file passes, in one block or in blocks of a few rows, whole or shared.
  const auto check = check_rows_finite(file, rows, 0, 1, 0.001);
  EXPECT_EQ(check.video_rows, static_cast<int64_t>(rows.videos.size()));
  EXPECT_EQ(check.text_rows, static_cast<int64_t>(rows.texts.size()));
  EXPECT_GT(check.megabytes, 0);
  int64_t shared = 0;
  for (int64_t part = 0; part < 3; ++part) shared += check_rows_finite(file, rows, part, 3).text_rows;
  EXPECT_EQ(shared, check.text_rows);
}

// A bad caption row of the train split is found by the part holding it, with the loader's
// message; of two bad rows the first in row order is named, whatever the block size.
TEST(ValidateRows, ANonFiniteCaptionIsTheLoadersErrorForTheFirstBadRow) {
  TempDir dir;
  const auto clean = FeatureFile::open(file_with_bad_captions(dir, {}, 0.0f));
  const auto train = clean.split("train").texts;
  const int64_t late = train[train.size() - 2], early = train[train.size() / 3];
  TempDir dir2;
  const auto path = file_with_bad_captions(dir2, {late, early},
                                           std::numeric_limits<float>::infinity());
  const auto file = FeatureFile::open(path);
  const auto rows = rows_of_splits(file, {"train"});
  for (double block_mb : {0.0005, 0.005, 32.0}) {
    SCOPED_TRACE("block " + std::to_string(block_mb) + " MB");
    expect_same_error([&] { check_rows_finite(file, rows, 0, 1, block_mb); },
                      [&] { file.read_texts({early}); });
  }
  // Shared in two: the part holding `early` names it, the other part `late` (or nothing).
  const auto at = std::find(rows.texts.begin(), rows.texts.end(), early) - rows.texts.begin();
  const int64_t part = at < static_cast<int64_t>(rows.texts.size()) / 2 ? 0 : 1;
  expect_same_error([&] { check_rows_finite(file, rows, part, 2); },
                    [&] { file.read_texts({early}); });
}

}  // namespace
}  // namespace lica::data
