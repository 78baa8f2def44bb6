// The embedding file (data/embedding_file.h) and lica_eval's export (trainer/export_embeddings.h):
// the export is exactly what encode_videos / encode_texts give for the checkpoint, with the
// feature file's ids and rows; a broken file is an InputError naming the file and dataset.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <functional>

#include "common/error.h"
#include "data/embedding_file.h"
#include "data/h5.h"
#include "dist/local_communicator.h"
#include "support/search_data.h"
#include "trainer/encode_split.h"
#include "trainer/build_model.h"
#include "trainer/evaluate_checkpoint.h"
#include "trainer/export_embeddings.h"

namespace lica::trainer {
namespace {

namespace fs = std::filesystem;

class EmbeddingFileTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = fs::temp_directory_path() / ("lica_embedding_file_" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    dist::LocalCommunicator comm;
    cfg_ = testing::make_search_data(dir_, comm);
  }
  static void TearDownTestSuite() { fs::remove_all(dir_); }

  // A small valid file written by hand: 3 videos, 4 captions (one of a video not exported).
  static data::Embeddings handmade(int64_t dim = 5) {
    data::Embeddings e;
    e.videos.present = e.texts.present = true;
    e.videos.embeddings = torch::randn({3, dim});
    e.videos.ids = {"a", "b", "c"};
    e.videos.index = {4, 0, 9};
    e.texts.embeddings = torch::randn({4, dim});
    e.texts.ids = {"10", "11", "12", "30"};
    e.texts.index = {10, 11, 12, 30};
    e.text_video = {0, 0, 2, -1};
    e.text_raw = {"one", "two", "three", "four"};
    e.source = "s.h5";
    e.split = "test";
    e.checkpoint = "ck";
    e.step = 7;
    return e;
  }

  static fs::path dir_;
  static Config cfg_;
};
fs::path EmbeddingFileTest::dir_;
Config EmbeddingFileTest::cfg_;

double max_abs_diff(const torch::Tensor& a, const torch::Tensor& b) {
  EXPECT_EQ(a.sizes(), b.sizes());
  if (a.sizes() != b.sizes()) return 1e30;
  return a.numel() == 0 ? 0.0 : (a - b).abs().max().item<double>();
}

TEST_F(EmbeddingFileTest, ExportEqualsTheEncodedSplitWithItsIdsAndRows) {
  dist::LocalCommunicator comm;
  const auto out = dir_ / "export.h5";
  const auto summary =
      export_embeddings(cfg_, testing::checkpoint_of(dir_).string(), "test", out.string(), comm);
  const auto e = data::read_embeddings(out.string());

  // The reference: the same checkpoint through the evaluation's own encoder.
  const auto resolved = resolve_for_inference(cfg_, testing::checkpoint_of(dir_).string(), comm);
  const auto file = open_features(resolved.config);
  const auto& split = file.split("test");
  auto model = load_dual_encoder(resolved, file);
  const auto videos = encode_videos(model, file, split.videos, cfg_.eval.batch_size, comm);
  const auto texts = encode_texts(model, file, split.texts, cfg_.eval.batch_size, comm);

  ASSERT_TRUE(e.videos.present && e.texts.present);
  EXPECT_EQ(e.videos.embeddings.sizes(), (std::vector<int64_t>{16, 16}));
  EXPECT_EQ(e.texts.size(), static_cast<int64_t>(split.texts.size()));
  EXPECT_EQ(summary.videos, 16);
  EXPECT_EQ(summary.dim, 16);
  // Bitwise: the export is the encoder's output, stored as float32.
  EXPECT_EQ(max_abs_diff(e.videos.embeddings, videos.all), 0.0);
  EXPECT_EQ(max_abs_diff(e.texts.embeddings, texts.all), 0.0);

  data::h5::File h = data::h5::open_file(file.path());
  const auto ids = data::h5::read_strings(data::h5::open_dataset(h.get(), "/videos/ids"));
  const auto raw = data::h5::read_strings(data::h5::open_dataset(h.get(), "/texts/raw"));
  ASSERT_EQ(e.texts.size(), static_cast<int64_t>(e.text_raw.size()));
  for (size_t i = 0; i < split.videos.size(); ++i) {
    EXPECT_EQ(e.videos.index[i], split.videos[i]);
    EXPECT_EQ(e.videos.ids[i], ids[split.videos[i]]);
  }
  for (size_t i = 0; i < split.texts.size(); ++i) {
    const int64_t row = split.texts[i];
    EXPECT_EQ(e.texts.index[i], row);
    EXPECT_EQ(e.texts.ids[i], std::to_string(row));
    EXPECT_EQ(e.text_raw[i], raw[row]);
    ASSERT_GE(e.text_video[i], 0);  // a split's captions belong to its videos
    EXPECT_EQ(split.videos[e.text_video[i]], file.text_video()[row]);
  }
  EXPECT_EQ(e.source, file.path());
  EXPECT_EQ(e.split, "test");
  EXPECT_EQ(e.step, resolved.step);
  EXPECT_EQ(e.checkpoint, resolved.checkpoint.string());
  EXPECT_FALSE(fs::exists(out.string() + ".tmp"));
  EXPECT_TRUE(data::is_embedding_file(out.string()));
  EXPECT_FALSE(data::is_embedding_file(file.path()));
}

TEST_F(EmbeddingFileTest, WithoutVideoIdsTheIdIsTheRowAndRowsOutsideTheExportAreMinusOne) {
  // A copy of the feature file without the optional /videos/ids and /texts/raw.
  const auto copy = dir_ / "noids.h5";
  fs::copy_file(dir_ / "s.h5", copy, fs::copy_options::overwrite_existing);
  {
    data::h5::File f = data::h5::open_file(copy.string(), /*writable=*/true);
    data::h5::remove(f.get(), "/videos/ids");
    data::h5::remove(f.get(), "/texts/raw");
  }
  const auto file = data::FeatureFile::open(copy.string());
  // Two videos, and captions of a third one.
  data::SplitIndex rows;
  rows.videos = {5, 2};
  for (int64_t t = 0; t < file.num_texts(); ++t) {
    const int v = file.text_video()[t];
    if (v == 2 || v == 5 || v == 7) rows.texts.push_back(t);
  }
  const int64_t n = static_cast<int64_t>(rows.texts.size());
  const auto e = data::make_embeddings(file, rows, torch::randn({2, 3}), torch::randn({n, 3}));
  EXPECT_EQ(e.videos.ids, (std::vector<std::string>{"5", "2"}));
  EXPECT_TRUE(e.text_raw.empty());
  for (int64_t i = 0; i < n; ++i) {
    const int v = file.text_video()[rows.texts[i]];
    EXPECT_EQ(e.text_video[i], v == 5 ? 0 : v == 2 ? 1 : -1);
  }
  const auto out = dir_ / "noids_emb.h5";
  data::write_embeddings(out.string(), e);
  const auto back = data::read_embeddings(out.string());
  EXPECT_EQ(back.text_video, e.text_video);
  EXPECT_TRUE(back.text_raw.empty());
}

TEST_F(EmbeddingFileTest, HandmadeFileReadsBackExactly) {
  const auto e = handmade();
  const auto out = dir_ / "hand.h5";
  data::write_embeddings(out.string(), e);
  const auto back = data::read_embeddings(out.string());
  EXPECT_EQ(max_abs_diff(back.videos.embeddings, e.videos.embeddings), 0.0);
  EXPECT_EQ(max_abs_diff(back.texts.embeddings, e.texts.embeddings), 0.0);
  EXPECT_EQ(back.videos.ids, e.videos.ids);
  EXPECT_EQ(back.videos.index, e.videos.index);
  EXPECT_EQ(back.texts.ids, e.texts.ids);
  EXPECT_EQ(back.texts.index, e.texts.index);
  EXPECT_EQ(back.text_video, e.text_video);
  EXPECT_EQ(back.text_raw, e.text_raw);
  EXPECT_EQ(back.source, "s.h5");
  EXPECT_EQ(back.split, "test");
  EXPECT_EQ(back.checkpoint, "ck");
  EXPECT_EQ(back.step, 7);
  EXPECT_EQ(back.dim(), 5);
}

TEST_F(EmbeddingFileTest, AFailedWriteLeavesTheOldFileAndNoTemporary) {
  const auto out = dir_ / "keep.h5";
  data::write_embeddings(out.string(), handmade());
  auto bad = handmade();
  bad.texts.index.pop_back();  // 4 captions, 3 indices: a caller bug
  EXPECT_THROW(data::write_embeddings(out.string(), bad), Error);
  EXPECT_FALSE(fs::exists(out.string() + ".tmp"));
  EXPECT_EQ(data::read_embeddings(out.string()).texts.size(), 4);
}

// Each broken file: the error names the file and the dataset (or attribute) and the rule.
TEST_F(EmbeddingFileTest, BrokenFilesNameTheFileAndTheDataset) {
  namespace h5 = data::h5;
  struct Case {
    std::string name;
    std::function<void(hid_t)> breakit;
    std::vector<std::string> expected;  // substrings of the message besides the path
  };
  auto replace_float = [](hid_t f, const std::string& name, std::vector<int64_t> dims) {
    h5::remove(f, name);
    int64_t n = 1;
    for (int64_t d : dims) n *= d;
    std::vector<float> zeros(static_cast<size_t>(n), 0.0f);
    auto d = h5::create_dataset(f, name, H5T_IEEE_F32LE, dims);
    h5::write_rows(d, 0, dims[0], H5T_NATIVE_FLOAT, zeros.data());
  };
  const std::vector<Case> cases = {
      {"no_attribute", [](hid_t f) { H5Adelete(f, "lica_embeddings"); },
       {"attribute lica_embeddings is missing"}},
      {"no_ids", [](hid_t f) { h5::remove(f, "/texts/ids"); },
       {"/texts/ids is missing"}},
      {"rank1", [&](hid_t f) { replace_float(f, "/videos/embeddings", {3}); },
       {"dataset /videos/embeddings has shape [3]", "rank 2"}},
      {"dim_mismatch", [&](hid_t f) { replace_float(f, "/texts/embeddings", {4, 6}); },
       {"/videos/embeddings has D = 5", "/texts/embeddings has D = 6"}},
      {"count_mismatch", [](hid_t f) {
         h5::remove(f, "/videos/index");
         h5::write_int32(f, "/videos/index", {0, 1});
       },
       {"dataset /videos/index has shape [2], expected [3]"}},
      {"video_out_of_range", [](hid_t f) {
         h5::remove(f, "/texts/video");
         h5::write_int32(f, "/texts/video", {0, 3, 1, -1});
       },
       {"dataset /texts/video, row 1: value 3, expected -1..2"}},
      {"nan", [&](hid_t f) {
         h5::remove(f, "/texts/embeddings");
         std::vector<float> v(20, 0.5f);
         v[13] = std::nanf("");
         auto d = h5::create_dataset(f, "/texts/embeddings", H5T_IEEE_F32LE, {4, 5});
         h5::write_rows(d, 0, 4, H5T_NATIVE_FLOAT, v.data());
       },
       {"dataset /texts/embeddings, row 2: not finite"}},
  };
  for (const auto& c : cases) {
    const auto path = (dir_ / ("broken_" + c.name + ".h5")).string();
    data::write_embeddings(path, handmade());
    {
      h5::File f = h5::open_file(path, /*writable=*/true);
      c.breakit(f.get());
    }
    try {
      data::read_embeddings(path);
      ADD_FAILURE() << c.name << ": no error";
    } catch (const InputError& e) {
      const std::string what = e.what();
      EXPECT_EQ(what.rfind(path + ":", 0), 0u) << c.name << ": " << what;
      for (const auto& s : c.expected) {
        EXPECT_NE(what.find(s), std::string::npos) << c.name << ": " << what;
      }
    }
  }
}

}  // namespace
}  // namespace lica::trainer
