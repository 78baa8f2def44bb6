// The embedding file (data/embedding_file.h) and lica_eval's export (eval/export_embeddings.h):
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
#include "eval/encode_split.h"
#include "run/model_options.h"
#include "eval/inference.h"
#include "eval/export_embeddings.h"

namespace lica::eval {
namespace {

namespace fs = std::filesystem;

class ExportEmbeddings : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = fs::temp_directory_path() / ("lica_embedding_file_" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    dist::LocalCommunicator comm;
    cfg_ = testing::make_search_data(dir_, comm);
  }
  static void TearDownTestSuite() { fs::remove_all(dir_); }

  static fs::path dir_;
  static run::Config cfg_;
};
fs::path ExportEmbeddings::dir_;
run::Config ExportEmbeddings::cfg_;

double max_abs_diff(const torch::Tensor& a, const torch::Tensor& b) {
  EXPECT_EQ(a.sizes(), b.sizes());
  if (a.sizes() != b.sizes()) return 1e30;
  return a.numel() == 0 ? 0.0 : (a - b).abs().max().item<double>();
}

TEST_F(ExportEmbeddings, ExportEqualsTheEncodedSplitWithItsIdsAndRows) {
  dist::LocalCommunicator comm;
  const auto out = dir_ / "export.h5";
  const auto summary =
      export_embeddings(cfg_, testing::checkpoint_of(dir_).string(), "test", out.string(), comm);
  const auto e = data::read_embeddings(out.string());

  // The reference: the same checkpoint through the evaluation's own encoder.
  const auto resolved = resolve_for_inference(cfg_, testing::checkpoint_of(dir_).string(), comm);
  const auto file = run::open_features(resolved.config);
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

TEST_F(ExportEmbeddings, WithoutVideoIdsTheIdIsTheRowAndRowsOutsideTheExportAreMinusOne) {
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

}  // namespace
}  // namespace lica::eval
