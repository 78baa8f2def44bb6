#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include "common/error.h"
#include "data/feature_file.h"
#include "data/synthetic.h"
#include "data_test_util.h"

namespace lica::data {
namespace {

using test_util::TempDir;
using test_util::TinyFile;
using ::testing::HasSubstr;

// The InputError message of opening `path`, or "" when it opens.
std::string open_error(const std::string& path, const ExpectedDims& expect = {}) {
  try {
    FeatureFile::open(path, expect);
  } catch (const InputError& e) {
    return e.what();
  }
  return "";
}

// Writes `tiny` and returns the message of opening it.
std::string tiny_error(const TempDir& dir, const TinyFile& tiny) {
  const std::string path = dir.file("tiny.h5");
  tiny.write(path);
  return open_error(path);
}

SyntheticOptions small_options() { return test_util::small_synthetic(7); }

TEST(FeatureFile, OpensSyntheticFileWithItsCountsAndDims) {
  TempDir dir;
  const std::string path = dir.file("synth.h5");
  write_synthetic(path, small_options());
  FeatureFile f = FeatureFile::open(path, {8, 6});
  EXPECT_EQ(f.path(), path);
  EXPECT_EQ(f.num_videos(), 40);
  EXPECT_GE(f.num_texts(), 80);
  EXPECT_LE(f.num_texts(), 200);
  EXPECT_EQ(f.max_frames(), 12);
  EXPECT_EQ(f.max_tokens(), 16);
  EXPECT_EQ(f.video_dim(), 8);
  EXPECT_EQ(f.text_dim(), 6);
  EXPECT_EQ(f.num_frames().size(), 40u);
  EXPECT_EQ(static_cast<int64_t>(f.num_tokens().size()), f.num_texts());
  EXPECT_EQ(static_cast<int64_t>(f.text_video().size()), f.num_texts());
  EXPECT_EQ(f.split_names(), (std::vector<std::string>{"test", "train", "val"}));
  EXPECT_TRUE(f.has_split("train"));
  EXPECT_FALSE(f.has_split("dev"));
  EXPECT_EQ(f.split("test").videos.size(), 8u);  // 0.2 * 40
  EXPECT_EQ(f.split("val").videos.size(), 4u);   // 0.1 * 40
}

TEST(FeatureFile, OpensTinyFileWithItsArrays) {
  TempDir dir;
  TinyFile tiny;
  tiny.write(dir.file("tiny.h5"));
  FeatureFile f = FeatureFile::open(dir.file("tiny.h5"));
  EXPECT_EQ(f.num_videos(), 4);
  EXPECT_EQ(f.num_texts(), 6);
  EXPECT_EQ(f.max_frames(), 4);
  EXPECT_EQ(f.max_tokens(), 5);
  EXPECT_EQ(f.num_frames(), tiny.num_frames);
  EXPECT_EQ(f.num_tokens(), tiny.num_tokens);
  EXPECT_EQ(f.text_video(), tiny.text_video);
  EXPECT_EQ(f.split("train").videos, (std::vector<int64_t>{0, 1}));
  EXPECT_EQ(f.split("test").texts, (std::vector<int64_t>{3, 4, 5}));
  // Values are exact in float16.
  EXPECT_TRUE(
      torch::equal(f.read_videos({0, 1, 2, 3}), TinyFile::features(tiny.num_frames, 4, 3, 0.0f)));
  EXPECT_TRUE(torch::equal(f.read_texts({0, 1, 2, 3, 4, 5}),
                           TinyFile::features(tiny.num_tokens, 5, 2, 0.0f)));
}

TEST(FeatureFile, MovedFileStillReads) {
  TempDir dir;
  TinyFile().write(dir.file("tiny.h5"));
  FeatureFile a = FeatureFile::open(dir.file("tiny.h5"));
  FeatureFile b = std::move(a);
  EXPECT_EQ(b.read_videos({1}).size(0), 1);
}

TEST(FeatureFile, FileMissing) {
  EXPECT_THAT(open_error("/nonexistent/dir/x.h5"),
              HasSubstr("/nonexistent/dir/x.h5: file not found"));
}

TEST(FeatureFile, FileIsADirectory) {
  TempDir dir;
  const std::string path = dir.file("features.h5");
  std::filesystem::create_directory(path);
  EXPECT_THAT(open_error(path), HasSubstr(path + ": is a directory, expected an HDF5 file"));
}

TEST(FeatureFile, FileNotHdf5) {
  TempDir dir;
  const std::string path = dir.file("text.h5");
  std::ofstream(path) << "not hdf5 at all\n";
  EXPECT_THAT(open_error(path), HasSubstr(path + ": not an HDF5 file"));
}

TEST(FeatureFile, SchemaAttributeMissing) {
  TempDir dir;
  TinyFile tiny;
  tiny.schema.reset();
  EXPECT_THAT(tiny_error(dir, tiny), HasSubstr("attribute lica_schema is missing, expected 1"));
}

TEST(FeatureFile, SchemaAttributeNotAnInteger) {
  TempDir dir;
  const std::string path = dir.file("tiny.h5");
  TinyFile tiny;
  tiny.schema.reset();
  tiny.write(path);
  {
    h5::File file = h5::open_file(path, /*writable=*/true);
    h5::Datatype type(H5Tcopy(H5T_C_S1));
    H5Tset_size(type.get(), 3);
    h5::Dataspace space(H5Screate(H5S_SCALAR));
    h5::Attribute attr(
        H5Acreate2(file.get(), "lica_schema", type.get(), space.get(), H5P_DEFAULT, H5P_DEFAULT));
    ASSERT_GE(H5Awrite(attr.get(), type.get(), "one"), 0);
  }
  EXPECT_THAT(open_error(path),
              HasSubstr(path + ": attribute lica_schema has type string and 1 elements, "
                               "expected one integer"));
}

TEST(FeatureFile, SchemaAttributeNotOne) {
  TempDir dir;
  TinyFile tiny;
  tiny.schema = 2;
  EXPECT_THAT(tiny_error(dir, tiny),
              HasSubstr("attribute lica_schema: value 2 is not supported, expected 1"));
}

TEST(FeatureFile, EachRequiredDatasetMissing) {
  TempDir dir;
  for (const char* name :
       {"/videos/features", "/videos/num_frames", "/texts/features", "/texts/num_tokens",
        "/texts/video", "/splits/train/videos", "/splits/test/texts"}) {
    TinyFile tiny;
    tiny.omit.insert(name);
    const std::string msg = tiny_error(dir, tiny);
    EXPECT_THAT(msg, HasSubstr(dir.file("tiny.h5") + ": dataset " + name + ": is missing"));
  }
}

TEST(FeatureFile, WrongRank) {
  TempDir dir;
  const std::string path = dir.file("tiny.h5");
  TinyFile().write(path);
  test_util::replace_dataset(path, "/videos/num_frames", H5T_STD_I32LE, {4, 1});
  EXPECT_THAT(open_error(path),
              HasSubstr("dataset /videos/num_frames: rank 2 (shape [4, 1]) is wrong, expected "
                        "rank 1"));
  TinyFile().write(path);
  test_util::replace_dataset(path, "/texts/features", H5T_IEEE_F32LE, {6, 10});
  EXPECT_THAT(open_error(path), HasSubstr("dataset /texts/features: rank 2"));
}

TEST(FeatureFile, WrongFeatureType) {
  TempDir dir;
  const std::string path = dir.file("tiny.h5");
  TinyFile().write(path);
  test_util::replace_dataset(path, "/texts/features", H5T_IEEE_F64LE, {6, 5, 2});
  EXPECT_THAT(open_error(path), HasSubstr("dataset /texts/features: type float64 is not "
                                          "supported, expected float16 or float32"));
}

TEST(FeatureFile, WrongCountType) {
  TempDir dir;
  const std::string path = dir.file("tiny.h5");
  TinyFile().write(path);
  test_util::replace_dataset(path, "/texts/video", H5T_STD_I64LE, {6});
  EXPECT_THAT(open_error(path),
              HasSubstr("dataset /texts/video: type int64 is not supported, expected int32"));
  TinyFile().write(path);
  test_util::replace_dataset(path, "/splits/train/videos", H5T_IEEE_F32LE, {2});
  EXPECT_THAT(open_error(path), HasSubstr("dataset /splits/train/videos: type float32"));
}

TEST(FeatureFile, FeatureDatasetWithAnEmptyDimension) {
  TempDir dir;
  const std::string path = dir.file("tiny.h5");
  TinyFile().write(path);
  test_util::replace_dataset(path, "/videos/features", H5T_IEEE_F32LE, {4, 0, 3});
  EXPECT_THAT(open_error(path),
              HasSubstr(path + ": dataset /videos/features: shape [4, 0, 3] has an empty "
                               "dimension, expected at least one video, frame and feature"));
}

TEST(FeatureFile, VideoArrayLengthMismatch) {
  TempDir dir;
  TinyFile tiny;
  const std::string path = dir.file("tiny.h5");
  tiny.write(path);
  test_util::replace_dataset(path, "/videos/num_frames", H5T_STD_I32LE, {3});
  EXPECT_THAT(open_error(path), HasSubstr("dataset /videos/num_frames: length 3 does not match "
                                          "/videos/features (4 videos)"));
}

TEST(FeatureFile, TextArrayLengthMismatch) {
  TempDir dir;
  const std::string path = dir.file("tiny.h5");
  TinyFile().write(path);
  test_util::replace_dataset(path, "/texts/video", H5T_STD_I32LE, {7});
  EXPECT_THAT(open_error(path), HasSubstr("dataset /texts/video: length 7 does not match "
                                          "/texts/features (6 captions)"));
  TinyFile().write(path);
  test_util::replace_dataset(path, "/texts/num_tokens", H5T_STD_I32LE, {5});
  EXPECT_THAT(open_error(path), HasSubstr("dataset /texts/num_tokens: length 5"));
}

TEST(FeatureFile, OptionalStringsOfWrongLength) {
  TempDir dir;
  TinyFile tiny;
  tiny.ids.pop_back();
  EXPECT_THAT(tiny_error(dir, tiny), HasSubstr("dataset /videos/ids: length 3 does not match"));
  tiny = TinyFile();
  tiny.raw.push_back("extra");
  EXPECT_THAT(tiny_error(dir, tiny), HasSubstr("dataset /texts/raw: length 7 does not match"));
  tiny = TinyFile();
  tiny.omit = {"/videos/ids", "/texts/raw"};  // optional: absent is fine
  EXPECT_EQ(tiny_error(dir, tiny), "");
}

TEST(FeatureFile, VideoDimNotExpected) {
  TempDir dir;
  TinyFile().write(dir.file("tiny.h5"));
  EXPECT_THAT(open_error(dir.file("tiny.h5"), {5, 0}),
              HasSubstr("dataset /videos/features: frame feature size Dv = 3 does not match the "
                        "expected 5"));
  EXPECT_EQ(open_error(dir.file("tiny.h5"), {3, 2}), "");
}

TEST(FeatureFile, TextDimNotExpected) {
  TempDir dir;
  TinyFile().write(dir.file("tiny.h5"));
  EXPECT_THAT(open_error(dir.file("tiny.h5"), {0, 4}),
              HasSubstr("dataset /texts/features: token feature size Dt = 2 does not match the "
                        "expected 4"));
}

// One damaged value of an index dataset: the error names the dataset, the row and the rule.
struct DamagedIndex {
  const char* name;
  void (*damage)(TinyFile&);
  const char* message;
};

class FeatureFileIndex : public ::testing::TestWithParam<DamagedIndex> {};

TEST_P(FeatureFileIndex, OutOfRangeValueNamesTheDatasetRowAndRule) {
  TempDir dir;
  TinyFile tiny;
  GetParam().damage(tiny);
  EXPECT_THAT(tiny_error(dir, tiny), HasSubstr(GetParam().message));
}

const DamagedIndex kDamagedIndices[] = {
    {"NumFramesZero", [](TinyFile& t) { t.num_frames[2] = 0; },
     "dataset /videos/num_frames, row 2: value 0 is out of range, expected 1..4 (valid frames "
     "per video)"},
    {"NumFramesAboveF", [](TinyFile& t) { t.num_frames[2] = 5; },
     "dataset /videos/num_frames, row 2: value 5"},
    {"NumTokensAboveL", [](TinyFile& t) { t.num_tokens[4] = 6; },
     "dataset /texts/num_tokens, row 4: value 6 is out of range, expected 1..5 (valid tokens "
     "per caption)"},
    {"NumTokensZero", [](TinyFile& t) { t.num_tokens[4] = 0; },
     "dataset /texts/num_tokens, row 4: value 0"},
    {"TextVideoAboveV", [](TinyFile& t) { t.text_video[5] = 4; },
     "dataset /texts/video, row 5: value 4 is out of range, expected 0..3"},
    {"TextVideoNegative", [](TinyFile& t) { t.text_video[5] = -1; },
     "dataset /texts/video, row 5: value -1"},
    {"SplitVideo", [](TinyFile& t) { t.splits["train"].first = {0, 9}; },
     "dataset /splits/train/videos, row 1: value 9 is out of range, expected 0..3"},
    {"SplitText", [](TinyFile& t) { t.splits["test"].second = {3, 4, 6}; },
     "dataset /splits/test/texts, row 2: value 6 is out of range, expected 0..5"},
    {"SplitWithoutVideos", [](TinyFile& t) { t.splits["val"] = {{}, {}}; },
     "dataset /splits/val/videos: split val has no videos"},
    {"SplitWithoutCaptions", [](TinyFile& t) { t.splits["val"] = {{1}, {}}; },
     "dataset /splits/val/texts: split val has no captions"},
};
INSTANTIATE_TEST_SUITE_P(Damaged, FeatureFileIndex, ::testing::ValuesIn(kDamagedIndices),
                         [](const auto& info) { return std::string(info.param.name); });

TEST(FeatureFile, SplitsNotAGroup) {
  TempDir dir;
  const std::string path = dir.file("tiny.h5");
  TinyFile tiny;
  tiny.splits.clear();
  tiny.write(path);
  h5::write_int32(h5::open_file(path, /*writable=*/true).get(), "/splits", {0, 1});
  EXPECT_THAT(open_error(path), HasSubstr(path + ": /splits is not a group, expected a group "
                                                 "holding one group per split"));
  TinyFile().write(path);
  h5::write_int32(h5::open_file(path, /*writable=*/true).get(), "/splits/dev", {0});
  EXPECT_THAT(open_error(path), HasSubstr(path + ": /splits/dev is not a group, expected a "
                                                 "split: a group holding datasets videos and "
                                                 "texts"));
}

TEST(FeatureFile, SplitRowRepeated) {
  TempDir dir;
  TinyFile tiny;
  tiny.splits["train"].first = {0, 1, 0};
  EXPECT_THAT(tiny_error(dir, tiny),
              HasSubstr("dataset /splits/train/videos, row 2: value 0 repeats row 0"));
  tiny = TinyFile();
  tiny.splits["train"].second = {0, 2, 1, 2};
  EXPECT_THAT(tiny_error(dir, tiny),
              HasSubstr("dataset /splits/train/texts, row 3: value 2 repeats row 1"));
}

TEST(FeatureFile, SplitCaptionOfVideoOutsideSplit) {
  TempDir dir;
  TinyFile tiny;
  tiny.splits["train"].second = {0, 1, 2, 3};  // caption 3 describes video 2 (test)
  EXPECT_THAT(tiny_error(dir, tiny),
              HasSubstr("dataset /splits/train/texts, row 3: caption 3 describes video 2 "
                        "(/texts/video), which is not in /splits/train/videos"));
}

TEST(FeatureFile, SplitVideoWithoutCaption) {
  TempDir dir;
  TinyFile tiny;
  tiny.splits["train"].second = {0, 1};  // video 1's only caption (2) left out
  EXPECT_THAT(tiny_error(dir, tiny),
              HasSubstr("dataset /splits/train/videos, row 1: video 1 has no caption in "
                        "/splits/train/texts"));
}

TEST(FeatureFile, AbsentSplitNamesFileAndSplit) {
  TempDir dir;
  TinyFile().write(dir.file("tiny.h5"));
  FeatureFile f = FeatureFile::open(dir.file("tiny.h5"));
  try {
    f.split("val");
    FAIL() << "expected InputError";
  } catch (const InputError& e) {
    EXPECT_THAT(e.what(), HasSubstr(dir.file("tiny.h5") + ": split val is missing"));
    EXPECT_THAT(e.what(), HasSubstr("test, train"));
  }
}

TEST(FeatureFile, NonFiniteValueThrowsNamingRow) {
  TempDir dir;
  const std::string path = dir.file("tiny.h5");
  TinyFile().write(path);
  {
    h5::File file = h5::open_file(path, true);
    h5::Dataset ds = h5::open_dataset(file.get(), "/videos/features");
    torch::Tensor row = TinyFile::features({4, 2, 3, 1}, 4, 3, 0.0f)[2].clone();  // [F, Dv]
    row[1][2] = std::nanf("");
    torch::Tensor half = row.to(torch::kHalf).contiguous();
    h5::write_rows(ds, 2, 1, h5::float16_type().get(), half.data_ptr());
  }
  FeatureFile f = FeatureFile::open(path);  // values are checked on read, not on open
  EXPECT_NO_THROW(f.read_videos({0, 1, 3}));
  try {
    f.read_videos({3, 2});
    FAIL() << "expected InputError";
  } catch (const InputError& e) {
    EXPECT_THAT(e.what(), HasSubstr(path + ": dataset /videos/features, row 2: value nan at "
                                           "frame 1, feature 2 is not finite"));
  }
}

TEST(FeatureFile, InfiniteTextValueThrowsNamingRow) {
  TempDir dir;
  const std::string path = dir.file("tiny.h5");
  TinyFile tiny;
  tiny.float32 = true;
  tiny.write(path);
  {
    h5::File file = h5::open_file(path, true);
    h5::Dataset ds = h5::open_dataset(file.get(), "/texts/features");
    std::vector<float> row(5 * 2, 0.0f);
    row[3 * 2 + 0] = -INFINITY;
    h5::write_rows(ds, 4, 1, H5T_NATIVE_FLOAT, row.data());
  }
  FeatureFile f = FeatureFile::open(path);
  EXPECT_THAT(
      [&] {
        f.read_texts({5, 4});
      },
      ::testing::ThrowsMessage<InputError>(
          HasSubstr("dataset /texts/features, row 4: value -inf at token 3, feature 0")));
}

// Truncated anywhere, from just past the superblock to one byte short: HDF5 compares the
// file's size with the end-of-file address it recorded, so every cut is found on open and
// named, never a crash or an internal error.
TEST(FeatureFile, TruncatedAtAnySizeFailsOnOpen) {
  TempDir dir;
  const std::string whole = dir.file("whole.h5"), path = dir.file("cut.h5");
  write_synthetic(whole, small_options());
  const uint64_t size = std::filesystem::file_size(whole);
  for (uint64_t cut : {uint64_t{100}, uint64_t{2048}, size / 10, size / 2, size - 1}) {
    std::filesystem::copy_file(whole, path, std::filesystem::copy_options::overwrite_existing);
    std::filesystem::resize_file(path, cut);
    const std::string msg = open_error(path);
    EXPECT_THAT(msg, HasSubstr(path + ": cannot open the HDF5 file, the file looks truncated"))
        << "cut to " << cut << " of " << size << " bytes";
    EXPECT_THAT(msg, HasSubstr("(HDF5: truncated file: eof = " + std::to_string(cut)));
  }
}

// A read that fails (here: the bytes of a compressed chunk overwritten) is the file's fault:
// an InputError naming the file, the dataset and the rows, not an internal error.
TEST(FeatureFile, DamagedDatasetReadIsInputError) {
  TempDir dir;
  const std::string path = dir.file("damaged.h5");
  ASSERT_NO_FATAL_FAILURE(test_util::write_tiny_with_damaged_video_row(path, 2));
  FeatureFile f = FeatureFile::open(path);
  EXPECT_NO_THROW(f.read_videos({0, 1, 3}));
  EXPECT_THAT(
      [&] { f.read_videos({3, 2}); },
      ::testing::ThrowsMessage<InputError>(HasSubstr(
          path + ": dataset /videos/features: reading rows 2..3 failed, the file looks "
                 "truncated or damaged")));
}

// h5py's "lzf" or a plugin such as blosc: files that the writer's HDF5 could decode but this
// one cannot. Caught on open, not at the first read in the middle of training. Simulated by a
// pass-through filter that is registered for writing and unregistered before reading.
TEST(FeatureFile, CompressionFilterNotAvailable) {
  TempDir dir;
  const std::string path = dir.file("tiny.h5");
  const H5Z_filter_t kTestFilter = 300;  // 256..511 are reserved for testing
  const H5Z_class2_t filter_class = {
      H5Z_CLASS_T_VERS, kTestFilter, 1, 1, "lica_test_filter", nullptr, nullptr,
      [](unsigned, size_t, const unsigned[], size_t nbytes, size_t*, void**) { return nbytes; }};
  ASSERT_GE(H5Zregister(&filter_class), 0);
  ASSERT_NO_FATAL_FAILURE(TinyFile().write_with_chunked_texts(path, [&](hid_t dcpl) {
    H5Pset_filter(dcpl, kTestFilter, H5Z_FLAG_MANDATORY, 0, nullptr);
  }));
  ASSERT_GE(H5Zunregister(kTestFilter), 0);
  EXPECT_THAT(open_error(path),
              HasSubstr(path + ": dataset /texts/features: compression filter "
                               "'lica_test_filter' (HDF5 filter id 300) is not available"));
}

// Errors reach the user once, as our message: never also as HDF5's own "HDF5-DIAG" dump.
// In a fresh thread, because HDF5 keeps the printing setting per thread.
TEST(FeatureFile, HdfErrorStackIsNotPrinted) {
  TempDir dir;
  const std::string text = dir.file("text.h5"), cut = dir.file("cut.h5"), tiny = dir.file("t.h5");
  std::ofstream(text) << "not hdf5 at all\n";
  write_synthetic(cut, small_options());
  std::filesystem::resize_file(cut, std::filesystem::file_size(cut) / 2);
  TinyFile bad;
  bad.omit.insert("/texts/video");
  bad.write(tiny);
  ::testing::internal::CaptureStderr();
  std::thread([&] {
    for (const std::string& path : {text, cut, tiny}) EXPECT_NE(open_error(path), "");
  }).join();
  const std::string printed = ::testing::internal::GetCapturedStderr();
  EXPECT_THAT(printed, ::testing::Not(HasSubstr("HDF5")));
}

TEST(FeatureFile, RowOutsideFileIsInternalError) {
  TempDir dir;
  TinyFile().write(dir.file("tiny.h5"));
  FeatureFile f = FeatureFile::open(dir.file("tiny.h5"));
  EXPECT_THROW(f.read_videos({4}), Error);
  EXPECT_THROW(f.read_texts({-1}), Error);
  EXPECT_EQ(f.read_videos({}).sizes(), (std::vector<int64_t>{0, 4, 3}));
}

TEST(FeatureFile, ShuffledRowsEqualSingleRowReads) {
  TempDir dir;
  write_synthetic(dir.file("s.h5"), small_options());
  FeatureFile f = FeatureFile::open(dir.file("s.h5"));
  const std::vector<int64_t> rows = {5, 3, 4, 39, 0, 4, 10, 11, 12, 6};
  torch::Tensor together = f.read_videos(rows);
  ASSERT_EQ(together.sizes(), (std::vector<int64_t>{10, 12, 8}));
  for (size_t i = 0; i < rows.size(); ++i) {
    EXPECT_TRUE(torch::equal(together[i], f.read_videos({rows[i]})[0])) << "row " << rows[i];
  }
  torch::Tensor texts = f.read_texts(rows);
  for (size_t i = 0; i < rows.size(); ++i) {
    EXPECT_TRUE(torch::equal(texts[i], f.read_texts({rows[i]})[0])) << "row " << rows[i];
  }
  // In-order contiguous rows (one read) agree with the same rows shuffled.
  torch::Tensor in_order = f.read_videos({3, 4, 5, 6});
  EXPECT_TRUE(torch::equal(in_order, together.index_select(0, torch::tensor({1, 2, 0, 9}))));
}

TEST(FeatureFile, Float16AndFloat32FilesReadTheSame) {
  TempDir dir;
  SyntheticOptions opt = small_options();
  write_synthetic(dir.file("f16.h5"), opt);
  opt.float32 = true;
  write_synthetic(dir.file("f32.h5"), opt);
  FeatureFile a = FeatureFile::open(dir.file("f16.h5"));
  FeatureFile b = FeatureFile::open(dir.file("f32.h5"));
  std::vector<int64_t> rows(40);
  std::iota(rows.begin(), rows.end(), 0);
  torch::Tensor va = a.read_videos(rows), vb = b.read_videos(rows);
  EXPECT_EQ(va.dtype(), torch::kFloat);
  EXPECT_FALSE(torch::equal(va, vb));  // the float32 file keeps more bits
  // float16 keeps 11 significant bits: relative error <= 2^-11 (~4.9e-4), plus subnormals.
  EXPECT_TRUE(torch::allclose(va, vb, /*rtol=*/1e-3, /*atol=*/1e-4));
  EXPECT_TRUE(torch::allclose(a.read_texts(rows), b.read_texts(rows), 1e-3, 1e-4));
}

// Rows of contiguous feature datasets are read with pread at HDF5's offset: the same values
// as H5Dread's, float16 and float32, rows shuffled, repeated and adjacent.
TEST(FeatureFile, DirectReadsEqualHdf5Reads) {
  TempDir dir;
  SyntheticOptions opt = small_options();
  for (const bool float32 : {false, true}) {
    opt.float32 = float32;
    const std::string path = dir.file(float32 ? "f32.h5" : "f16.h5");
    write_synthetic(path, opt);
    FeatureFile f = FeatureFile::open(path);
    ASSERT_TRUE(f.reads_directly()) << path;
    const std::vector<int64_t> rows = {39, 5, 3, 4, 0, 4, 10, 11, 12, 6, 38};
    const auto videos = f.read_videos(rows), texts = f.read_texts(rows);
    f.set_direct_reads(false);
    EXPECT_FALSE(f.reads_directly());
    EXPECT_TRUE(torch::equal(videos, f.read_videos(rows))) << path;
    EXPECT_TRUE(torch::equal(texts, f.read_texts(rows))) << path;
  }
}

// A chunked dataset has no single offset: it is read through HDF5, beside a contiguous one
// read directly, and both give the values written.
TEST(FeatureFile, ChunkedDatasetIsReadThroughHdf5) {
  TempDir dir;
  const std::string path = dir.file("tiny.h5");
  TinyFile tiny;
  ASSERT_NO_FATAL_FAILURE(tiny.write_with_chunked_texts(path));
  FeatureFile f = FeatureFile::open(path);
  EXPECT_TRUE(f.reads_directly());  // the videos
  const auto all_texts = TinyFile::features(tiny.num_tokens, 5, 2, 0.0f);
  EXPECT_TRUE(torch::equal(f.read_texts({5, 0, 3}), all_texts.index_select(0, torch::tensor({5, 0, 3}))));
  const auto all_videos = TinyFile::features(tiny.num_frames, 4, 3, 0.0f);
  EXPECT_TRUE(torch::equal(f.read_videos({3, 1}), all_videos.index_select(0, torch::tensor({3, 1}))));
}

}  // namespace
}  // namespace lica::data
