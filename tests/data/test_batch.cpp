#include <gtest/gtest.h>

#include "common/error.h"
#include "data/batch.h"
#include "data/synthetic.h"
#include "data_test_util.h"

namespace lica::data {
namespace {

using test_util::TempDir;
using test_util::TinyFile;

// [n, P] mask expected from counts.
torch::Tensor expected_mask(const std::vector<int32_t>& counts, const std::vector<int64_t>& rows,
                            int64_t P) {
  torch::Tensor m = torch::zeros({static_cast<int64_t>(rows.size()), P}, torch::kBool);
  for (size_t i = 0; i < rows.size(); ++i) m[i].slice(0, 0, counts[rows[i]]).fill_(true);
  return m;
}

TEST(Batch, MasksMatchCountsAndPaddingIsZeroedEvenIfStoredNonZero) {
  TempDir dir;
  TinyFile tiny;
  tiny.pad_value = 7.0f;  // garbage in the padding: make_batch must not let it through
  tiny.write(dir.file("t.h5"));
  FeatureFile f = FeatureFile::open(dir.file("t.h5"));
  const std::vector<int64_t> videos = {3, 0, 2}, texts = {1, 4, 3};
  Batch b = make_batch(f, videos, texts);
  EXPECT_EQ(b.size(), 3);
  EXPECT_EQ(b.video.sizes(), (std::vector<int64_t>{3, 4, 3}));
  EXPECT_EQ(b.text.sizes(), (std::vector<int64_t>{3, 5, 2}));
  EXPECT_EQ(b.video.dtype(), torch::kFloat);
  EXPECT_EQ(b.video_mask.dtype(), torch::kBool);
  EXPECT_TRUE(torch::equal(b.video_mask, expected_mask(tiny.num_frames, videos, 4)));
  EXPECT_TRUE(torch::equal(b.text_mask, expected_mask(tiny.num_tokens, texts, 5)));
  EXPECT_TRUE(torch::equal(b.video_index, torch::tensor(videos)));
  EXPECT_TRUE(torch::equal(b.text_index, torch::tensor(texts)));
  EXPECT_EQ(b.video_index.dtype(), torch::kLong);
  // Valid positions hold the stored values, padded ones zero.
  torch::Tensor all_v = TinyFile::features(tiny.num_frames, 4, 3, 0.0f);
  torch::Tensor all_t = TinyFile::features(tiny.num_tokens, 5, 2, 0.0f);
  EXPECT_TRUE(torch::equal(b.video, all_v.index_select(0, torch::tensor(videos))));
  EXPECT_TRUE(torch::equal(b.text, all_t.index_select(0, torch::tensor(texts))));
  EXPECT_EQ(
      b.video.masked_select(b.video_mask.logical_not().unsqueeze(-1)).abs().sum().item<float>(), 0);
}

TEST(Batch, SingleModalityBatchesLeaveTheOtherUndefined) {
  TempDir dir;
  TinyFile tiny;
  tiny.write(dir.file("t.h5"));
  FeatureFile f = FeatureFile::open(dir.file("t.h5"));
  Batch v = make_video_batch(f, {1, 2});
  EXPECT_EQ(v.size(), 2);
  EXPECT_TRUE(v.video.defined() && v.video_mask.defined() && v.video_index.defined());
  EXPECT_FALSE(v.text.defined() || v.text_mask.defined() || v.text_index.defined());
  Batch t = make_text_batch(f, {5, 0, 2, 2});
  EXPECT_EQ(t.size(), 4);
  EXPECT_FALSE(t.video.defined() || t.video_mask.defined() || t.video_index.defined());
  EXPECT_TRUE(torch::equal(t.text_mask, expected_mask(tiny.num_tokens, {5, 0, 2, 2}, 5)));
  EXPECT_EQ(Batch().size(), 0);
}

// One micro-batch of a batch: the rows [r0, r1) of every defined field, and of one modality
// only after video_part / text_part (the other stays undefined: nothing else is copied).
TEST(Batch, RowsToTakesTheRowsOfTheDefinedFieldsOnly) {
  Batch b;
  b.video = torch::arange(6 * 2 * 3, torch::kFloat).reshape({6, 2, 3});
  b.video_mask = torch::rand({6, 2}) < 0.5;
  b.text = torch::arange(6 * 4 * 2, torch::kFloat).reshape({6, 4, 2});
  b.text_mask = torch::rand({6, 4}) < 0.5;
  b.video_index = torch::arange(10, 16);
  b.text_index = torch::arange(20, 26);
  const auto rows = rows_to(b, 2, 5, torch::kCPU);
  EXPECT_TRUE(torch::equal(rows.video, b.video.slice(0, 2, 5)));
  EXPECT_TRUE(torch::equal(rows.video_mask, b.video_mask.slice(0, 2, 5)));
  EXPECT_TRUE(torch::equal(rows.text, b.text.slice(0, 2, 5)));
  EXPECT_TRUE(torch::equal(rows.text_mask, b.text_mask.slice(0, 2, 5)));
  EXPECT_TRUE(torch::equal(rows.text_index, torch::arange(22, 25)));
  EXPECT_EQ(rows.size(), 3);
  const auto video = rows_to(video_part(b), 5, 6, torch::kCPU);
  EXPECT_TRUE(torch::equal(video.video, b.video.slice(0, 5, 6)));
  EXPECT_FALSE(video.text.defined() || video.text_mask.defined() || video.video_index.defined());
  const auto text = rows_to(text_part(b), 0, 2, torch::kCPU);
  EXPECT_TRUE(torch::equal(text.text_mask, b.text_mask.slice(0, 0, 2)));
  EXPECT_FALSE(text.video.defined() || text.video_mask.defined());
}

TEST(Batch, MismatchedRowCountsAreAnError) {
  TempDir dir;
  TinyFile().write(dir.file("t.h5"));
  FeatureFile f = FeatureFile::open(dir.file("t.h5"));
  EXPECT_THROW(make_batch(f, {0, 1}, {0}), Error);
}

TEST(Batch, SyntheticBatchMasksMatchCounts) {
  TempDir dir;
  SyntheticOptions opt;
  opt.videos = 50;
  opt.clusters = 5;
  write_synthetic(dir.file("s.h5"), opt);
  FeatureFile f = FeatureFile::open(dir.file("s.h5"));
  const std::vector<int64_t> videos = {7, 3, 49, 0, 8, 9}, texts = {10, 2, 5, 6, 7, 1};
  Batch b = make_batch(f, videos, texts);
  EXPECT_TRUE(torch::equal(b.video_mask, expected_mask(f.num_frames(), videos, 12)));
  EXPECT_TRUE(torch::equal(b.text_mask, expected_mask(f.num_tokens(), texts, 16)));
  EXPECT_EQ(b.text.masked_select(b.text_mask.logical_not().unsqueeze(-1)).abs().sum().item<float>(),
            0);
  // Each valid frame has some non-zero feature.
  EXPECT_TRUE(b.video.abs().sum(-1).gt(0).eq(b.video_mask).all().item<bool>());
}

}  // namespace
}  // namespace lica::data
