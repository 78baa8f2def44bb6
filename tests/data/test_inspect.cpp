// inspect_file() on good and bad files, and the lica_inspect program end to end.
#include "data/inspect.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <numeric>
#include <sstream>

#include "common/error.h"
#include "data/synthetic.h"
#include "data_test_util.h"

namespace lica::data {
namespace {

using test_util::TempDir;
using test_util::TinyFile;
using ::testing::AllOf;
using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

SyntheticOptions small_options() { return test_util::small_synthetic(3); }

// Writes `values` ([P, D] float32) as row `row` of a float32 feature dataset.
void overwrite_row(const std::string& path, const std::string& name, int64_t row,
                   const torch::Tensor& values) {
  h5::File file = h5::open_file(path, /*writable=*/true);
  h5::Dataset ds = h5::open_dataset(file.get(), name);
  torch::Tensor contiguous = values.contiguous();
  h5::write_rows(ds, row, 1, H5T_NATIVE_FLOAT, contiguous.data_ptr());
}

TEST(Inspect, SummarisesASyntheticFile) {
  TempDir dir;
  const std::string path = dir.file("s.h5");
  write_synthetic(path, small_options());
  const FeatureFile file = FeatureFile::open(path);
  const Inspection in = inspect_file(path);

  EXPECT_TRUE(in.ok()) << format_text(in);
  EXPECT_TRUE(in.problems.empty());
  EXPECT_EQ(in.schema, 1);
  EXPECT_EQ(in.file_bytes, static_cast<int64_t>(std::filesystem::file_size(path)));
  EXPECT_EQ(in.videos, 40);
  EXPECT_EQ(in.texts, file.num_texts());
  EXPECT_EQ(in.frames, 12);
  EXPECT_EQ(in.tokens, 16);
  EXPECT_EQ(in.video_dim, 8);
  EXPECT_EQ(in.text_dim, 6);
  EXPECT_EQ(in.video_features.dtype, "float16");
  EXPECT_EQ(in.text_features.dtype, "float16");
  EXPECT_EQ(in.video_features.storage.layout, "contiguous");
  EXPECT_TRUE(in.video_features.storage.chunk.empty());
  EXPECT_TRUE(in.video_features.storage.filters.empty());
  EXPECT_EQ(in.video_features.storage.stored_bytes, 40 * 12 * 8 * 2);
  ASSERT_EQ(in.splits.size(), 3u);
  for (const char* name : {"train", "val", "test"}) {
    EXPECT_EQ(in.splits.at(name).videos, static_cast<int64_t>(file.split(name).videos.size()));
    EXPECT_EQ(in.splits.at(name).texts, static_cast<int64_t>(file.split(name).texts.size()));
  }
  // Captions per video: 2..5 (the generator's defaults), every video and caption counted once.
  int64_t videos = 0, captions = 0;
  for (const auto& [count, n] : in.captions_per_video) {
    EXPECT_GE(count, 2);
    EXPECT_LE(count, 5);
    videos += n;
    captions += count * n;
  }
  EXPECT_EQ(videos, 40);
  EXPECT_EQ(captions, in.texts);
  EXPECT_EQ(in.captions_min, in.captions_per_video.begin()->first);
  EXPECT_EQ(in.captions_max, in.captions_per_video.rbegin()->first);
  EXPECT_GE(in.captions_median, in.captions_min);
  EXPECT_LE(in.captions_median, in.captions_max);
  const auto& nf = file.num_frames();
  EXPECT_DOUBLE_EQ(in.mean_frames, std::accumulate(nf.begin(), nf.end(), 0.0) / 40);
  const auto& nt = file.num_tokens();
  EXPECT_DOUBLE_EQ(in.mean_tokens,
                   std::accumulate(nt.begin(), nt.end(), 0.0) / static_cast<double>(nt.size()));
  EXPECT_TRUE(in.has_ids);
  EXPECT_TRUE(in.has_raw);
  EXPECT_THAT(in.other_datasets, ElementsAre("/videos/cluster"));

  const std::string text = format_text(in);
  EXPECT_THAT(text, HasSubstr("V 40, F 12, Dv 8; float16, contiguous, no compression"));
  EXPECT_THAT(text, HasSubstr("problems    none"));
  const std::string json = format_json(in);
  EXPECT_THAT(json, HasSubstr("\"videos\": 40, "));
  EXPECT_THAT(json, HasSubstr("\"layout\": \"contiguous\", \"chunk\": [], \"filters\": []"));
  EXPECT_THAT(json, HasSubstr("\"ok\": true, \"problem_count\": 0, \"problems\": []}"));
}

TEST(Inspect, ReportsChunkingAndCompression) {
  TempDir dir;
  const std::string path = dir.file("tiny.h5");
  ASSERT_NO_FATAL_FAILURE(TinyFile().write_with_chunked_texts(path, [](hid_t dcpl) {
    H5Pset_shuffle(dcpl);
    H5Pset_deflate(dcpl, 4);
  }));
  const Inspection in = inspect_file(path);
  EXPECT_TRUE(in.ok()) << format_text(in);
  EXPECT_EQ(in.text_features.dtype, "float32");
  EXPECT_EQ(in.text_features.storage.layout, "chunked");
  EXPECT_EQ(in.text_features.storage.chunk, (std::vector<int64_t>{2, 5, 2}));
  ASSERT_EQ(in.text_features.storage.filters.size(), 2u);
  EXPECT_EQ(in.text_features.storage.filters[0].id, H5Z_FILTER_SHUFFLE);
  EXPECT_EQ(in.text_features.storage.filters[1].id, H5Z_FILTER_DEFLATE);
  EXPECT_THAT(format_text(in), HasSubstr("float32, chunked [2, 5, 2], filters shuffle deflate"));
}

// Rules of open(), the value scan and the summary all at once: every problem is listed.
TEST(Inspect, ListsEveryProblemOfAFileWithSeveral) {
  TempDir dir;
  const std::string path = dir.file("bad.h5");
  TinyFile tiny;
  tiny.float32 = true;
  tiny.schema = 2;
  tiny.num_frames[2] = 0;
  tiny.num_tokens[1] = 9;
  tiny.splits["val"] = {{}, {}};
  tiny.splits["train"].second = {0, 1};  // video 1's only caption (2) left out
  tiny.write(path);
  torch::Tensor video1 = TinyFile::features(tiny.num_frames, 4, 3, 0.0f)[1].clone();  // [F, Dv]
  video1[0][1] = std::nanf("");
  overwrite_row(path, "/videos/features", 1, video1);
  torch::Tensor text3 = TinyFile::features(tiny.num_tokens, 5, 2, 0.0f)[3].clone();  // [L, Dt]
  text3[2][0] = 0.75f;  // num_tokens[3] = 1: token 2 is padding
  overwrite_row(path, "/texts/features", 3, text3);

  const Inspection in = inspect_file(path);
  EXPECT_FALSE(in.ok());
  EXPECT_EQ(in.problem_count, 8) << format_text(in);
  EXPECT_EQ(in.problems.size(), 8u);
  const auto has = [&](const std::string& text) { return Contains(HasSubstr(text)); };
  EXPECT_THAT(in.problems,
              has(path + ": file attribute lica_schema: value 2 is not supported, expected 1"));
  EXPECT_THAT(in.problems, has(path + ": dataset /videos/num_frames, row 2: value 0 is out of "
                                      "range, expected 1..4"));
  EXPECT_THAT(in.problems, has(path + ": dataset /texts/num_tokens, row 1: value 9 is out of "
                                      "range, expected 1..5"));
  EXPECT_THAT(in.problems, has(path + ": dataset /splits/val/videos: split val has no videos"));
  EXPECT_THAT(in.problems, has(path + ": dataset /splits/val/texts: split val has no captions"));
  EXPECT_THAT(in.problems, has(path + ": dataset /splits/train/videos, row 1: video 1 has no "
                                      "caption in /splits/train/texts"));
  EXPECT_THAT(in.problems, has(path + ": dataset /videos/features, row 1: value nan at frame 0, "
                                      "feature 1 is not finite"));
  EXPECT_THAT(in.problems, has(path + ": dataset /texts/features, row 3: value 0.75 at token 2, "
                                      "feature 0 is padding (num_tokens = 1) but not zero"));
  // The summary is still there.
  EXPECT_EQ(in.videos, 4);
  EXPECT_EQ(in.texts, 6);
  EXPECT_EQ(in.splits.at("train").texts, 2);
  const std::string text = format_text(in);
  EXPECT_THAT(text, HasSubstr("problems    8 found\n  " + path + ": "));
  EXPECT_THAT(format_json(in), HasSubstr("\"ok\": false, \"problem_count\": 8, \"problems\": [\""));
}

// A missing dataset does not stop the rest: the other checks still run.
TEST(Inspect, GoesOnPastAMissingDataset) {
  TempDir dir;
  const std::string path = dir.file("bad.h5");
  TinyFile tiny;
  tiny.omit.insert("/texts/features");
  tiny.num_frames[0] = 7;
  tiny.write(path);
  const Inspection in = inspect_file(path);
  EXPECT_EQ(in.problem_count, 2) << format_text(in);
  EXPECT_THAT(in.problems, Contains(HasSubstr("dataset /texts/features: is missing")));
  EXPECT_THAT(in.problems, Contains(HasSubstr("dataset /videos/num_frames, row 0: value 7")));
  EXPECT_EQ(in.videos, 4);
  EXPECT_EQ(in.texts, 0);
  EXPECT_FALSE(in.text_features.present);
  EXPECT_THAT(format_text(in), HasSubstr("T 0, L 0, Dt 0; (missing or malformed)"));
}

TEST(Inspect, ListsAFewProblemsPerRuleAndCountsTheRest) {
  TempDir dir;
  const std::string path = dir.file("pad.h5");
  TinyFile tiny;
  tiny.pad_value = 0.5f;  // every row with padding breaks the zero-padding rule
  tiny.write(path);
  InspectOptions options;
  options.problems_per_rule = 1;
  const Inspection in = inspect_file(path, options);
  // Padded rows: videos 1, 2, 3 (num_frames 2, 3, 1 of 4); captions 1, 2, 3, 4.
  EXPECT_EQ(in.problem_count, 7);
  EXPECT_THAT(in.problems,
              ElementsAre(HasSubstr("/videos/features, row 1: value 0.5 at frame 2, feature 0 "
                                    "is padding (num_frames = 2) but not zero (6 non-zero "
                                    "padding values in this row)"),
                          HasSubstr("/texts/features, row 1: value 0.5 at token 2"),
                          "... and 2 more of rule /videos/features (non-zero padding) (not "
                          "listed)",
                          "... and 3 more of rule /texts/features (non-zero padding) (not "
                          "listed)"));
}

TEST(Inspect, ScanFindsRowsInEveryBlock) {
  TempDir dir;
  const std::string path = dir.file("s.h5");
  SyntheticOptions opt = small_options();
  opt.float32 = true;
  write_synthetic(path, opt);
  torch::Tensor row = FeatureFile::open(path).read_video_block(37, 1)[0].clone();  // [F, Dv]
  row[0][3] = INFINITY;
  overwrite_row(path, "/videos/features", 37, row);
  for (int64_t block_rows : {1, 3, 16, 1024}) {
    InspectOptions options;
    options.block_rows = block_rows;
    const Inspection in = inspect_file(path, options);
    EXPECT_EQ(in.problem_count, 1) << "block_rows " << block_rows;
    EXPECT_THAT(in.problems, ElementsAre(HasSubstr("/videos/features, row 37: value inf at "
                                                   "frame 0, feature 3 is not finite")))
        << "block_rows " << block_rows;
  }
}

TEST(Inspect, UnreadableRowsAreOneProblem) {
  TempDir dir;
  const std::string path = dir.file("damaged.h5");
  ASSERT_NO_FATAL_FAILURE(test_util::write_tiny_with_damaged_video_row(path, 2));
  InspectOptions options;
  options.block_rows = 1;
  const Inspection in = inspect_file(path, options);
  // Row 3 is not read: after one failed read the rest of the dataset would fail alike.
  EXPECT_EQ(in.problem_count, 1) << format_text(in);
  EXPECT_THAT(in.problems, ElementsAre(HasSubstr(path + ": dataset /videos/features: reading "
                                                        "rows 2..2 failed, the file looks "
                                                        "truncated or damaged")));
  EXPECT_EQ(in.video_features.storage.layout, "chunked");
}

TEST(Inspect, FileThatCannotBeOpenedThrows) {
  TempDir dir;
  EXPECT_THROW(inspect_file(dir.file("none.h5")), InputError);
}

// --- the program ----------------------------------------------------------------------------

const std::string kProgram = std::string(LICA_BIN_DIR) + "/lica_inspect";

// Runs the program with `args`; stdout into `out`, stderr into `err`; returns the exit code.
int run(const TempDir& dir, const std::string& args, std::string* out, std::string* err) {
  const std::string out_file = dir.file("stdout.txt"), err_file = dir.file("stderr.txt");
  const int status =
      std::system((kProgram + " " + args + " > " + out_file + " 2> " + err_file).c_str());
  auto slurp = [](const std::string& file) {
    std::ifstream in(file);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  };
  *out = slurp(out_file);
  *err = slurp(err_file);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

class InspectProgram : public ::testing::Test {
 protected:
  void SetUp() override {
    // The build makes lica_data_tests depend on the program, so it must be there.
    ASSERT_TRUE(std::filesystem::exists(kProgram)) << kProgram << " is not built";
  }
  TempDir dir_;
  std::string out_, err_;
};

TEST_F(InspectProgram, GoodFileExitsZeroWithSummary) {
  const std::string path = dir_.file("s.h5");
  write_synthetic(path, small_options());
  EXPECT_EQ(run(dir_, path, &out_, &err_), 0) << out_ << err_;
  EXPECT_THAT(out_, HasSubstr("videos      V 40, F 12, Dv 8; float16, contiguous"));
  EXPECT_THAT(out_, HasSubstr("splits      test 8 videos / "));
  EXPECT_THAT(out_, HasSubstr("captions    per video min "));
  EXPECT_THAT(out_, HasSubstr("padding     frames "));
  EXPECT_THAT(out_, HasSubstr("problems    none"));
  EXPECT_EQ(run(dir_, path + " --json", &out_, &err_), 0) << out_ << err_;
  EXPECT_THAT(out_, AllOf(HasSubstr("{\"path\": \"" + path + "\""), HasSubstr("\"ok\": true")));
  EXPECT_EQ(std::count(out_.begin(), out_.end(), '\n'), 1) << "one JSON line";
}

TEST_F(InspectProgram, BadFileExitsTwoListingEveryProblem) {
  const std::string path = dir_.file("bad.h5");
  TinyFile tiny;
  tiny.num_frames[1] = 0;
  tiny.text_video[5] = 9;
  tiny.write(path);
  EXPECT_EQ(run(dir_, path, &out_, &err_), 2) << out_ << err_;
  EXPECT_THAT(out_, HasSubstr("problems    2 found"));
  EXPECT_THAT(out_, HasSubstr("dataset /videos/num_frames, row 1: value 0 is out of range"));
  EXPECT_THAT(out_, HasSubstr("dataset /texts/video, row 5: value 9 is out of range"));
  EXPECT_THAT(err_, HasSubstr(path + ": 2 problem(s) found"));
  EXPECT_EQ(run(dir_, path + " --json", &out_, &err_), 2);
  EXPECT_THAT(out_, HasSubstr("\"problem_count\": 2"));
}

TEST_F(InspectProgram, UnopenableFilesExitTwoNamingTheFile) {
  EXPECT_EQ(run(dir_, dir_.file("none.h5"), &out_, &err_), 2);
  EXPECT_THAT(err_, HasSubstr(dir_.file("none.h5") + ": file not found"));
  const std::string cut = dir_.file("cut.h5");
  write_synthetic(cut, small_options());
  std::filesystem::resize_file(cut, std::filesystem::file_size(cut) / 2);
  EXPECT_EQ(run(dir_, cut, &out_, &err_), 2);
  EXPECT_THAT(err_, HasSubstr(cut + ": cannot open the HDF5 file, the file looks truncated"));
  EXPECT_THAT(err_, ::testing::Not(HasSubstr("HDF5-DIAG")));
}

TEST_F(InspectProgram, HelpAndBadArguments) {
  EXPECT_EQ(run(dir_, "--help", &out_, &err_), 0);
  EXPECT_THAT(out_, HasSubstr("usage: lica_inspect FILE"));
  EXPECT_THAT(out_, HasSubstr("--json"));
  EXPECT_EQ(run(dir_, "", &out_, &err_), 2);
  EXPECT_THAT(err_, HasSubstr("missing FILE"));
  EXPECT_EQ(run(dir_, "a.h5 b.h5", &out_, &err_), 2);
  EXPECT_THAT(err_, HasSubstr("unexpected argument 'b.h5'"));
}

}  // namespace
}  // namespace lica::data
