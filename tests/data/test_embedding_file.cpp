// The embedding file format (data/embedding_file.h): written by hand, read back exactly;
// failed writes and broken files.
#include <gtest/gtest.h>

#include <filesystem>
#include <functional>

#include "common/error.h"
#include "data/embedding_file.h"
#include "data/h5.h"
#include "data_test_util.h"

namespace lica::data {
namespace {

namespace fs = std::filesystem;
using test_util::TempDir;

class EmbeddingFile : public ::testing::Test {
 protected:
  // A small valid file written by hand: 3 videos, 4 captions (one of a video not exported).
  static Embeddings handmade(int64_t dim = 5) {
    Embeddings e;
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

  TempDir dir_;
};

double max_abs_diff(const torch::Tensor& a, const torch::Tensor& b) {
  EXPECT_EQ(a.sizes(), b.sizes());
  if (a.sizes() != b.sizes()) return 1e30;
  return a.numel() == 0 ? 0.0 : (a - b).abs().max().item<double>();
}

TEST_F(EmbeddingFile, HandmadeFileReadsBackExactly) {
  const auto e = handmade();
  const auto out = fs::path(dir_.file("hand.h5"));
  write_embeddings(out.string(), e);
  const auto back = read_embeddings(out.string());
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

TEST_F(EmbeddingFile, AFailedWriteLeavesTheOldFileAndNoTemporary) {
  const auto out = fs::path(dir_.file("keep.h5"));
  write_embeddings(out.string(), handmade());
  auto bad = handmade();
  bad.texts.index.pop_back();  // 4 captions, 3 indices: a caller bug
  EXPECT_THROW(write_embeddings(out.string(), bad), Error);
  EXPECT_FALSE(fs::exists(out.string() + ".tmp"));
  EXPECT_EQ(read_embeddings(out.string()).texts.size(), 4);
}

// Each broken file: the error names the file and the dataset (or attribute) and the rule.
TEST_F(EmbeddingFile, BrokenFilesNameTheFileAndTheDataset) {
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
    const auto path = dir_.file("broken_" + c.name + ".h5");
    write_embeddings(path, handmade());
    {
      h5::File f = h5::open_file(path, /*writable=*/true);
      c.breakit(f.get());
    }
    try {
      read_embeddings(path);
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
}  // namespace lica::data
