#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>
#include <iterator>
#include <set>

#include "common/error.h"
#include "data/feature_file.h"
#include "data/inspect.h"
#include "data/pairing.h"
#include "data/synthetic.h"
#include "data_test_util.h"

namespace lica::data {
namespace {

using test_util::TempDir;
using ::testing::HasSubstr;

SyntheticOptions small_options() {
  SyntheticOptions opt;
  opt.videos = 300;  // more than one chunk of 256 videos
  opt.clusters = 6;
  opt.video_dim = 12;
  opt.text_dim = 10;
  opt.latent_dim = 8;
  opt.seed = 3;
  return opt;
}

std::vector<int64_t> all_rows(int64_t n) {
  std::vector<int64_t> rows(static_cast<size_t>(n));
  std::iota(rows.begin(), rows.end(), 0);
  return rows;
}

std::vector<int32_t> read_int32(const std::string& path, const std::string& name) {
  h5::File file = h5::open_file(path);
  return h5::read_int32(h5::open_dataset(file.get(), name));
}

std::vector<std::string> read_strings(const std::string& path, const std::string& name) {
  h5::File file = h5::open_file(path);
  return h5::read_strings(h5::open_dataset(file.get(), name));
}

// Every dataset of the two files equal (or, with expect_equal false, features differ).
void compare_files(const std::string& a_path, const std::string& b_path, bool expect_equal) {
  FeatureFile a = FeatureFile::open(a_path), b = FeatureFile::open(b_path);
  if (!expect_equal) {
    EXPECT_FALSE(a.num_texts() == b.num_texts() && a.num_frames() == b.num_frames() &&
                 torch::equal(a.read_videos({0, 1, 2}), b.read_videos({0, 1, 2})));
    return;
  }
  ASSERT_EQ(a.num_texts(), b.num_texts());
  EXPECT_EQ(a.num_frames(), b.num_frames());
  EXPECT_EQ(a.num_tokens(), b.num_tokens());
  EXPECT_EQ(a.text_video(), b.text_video());
  EXPECT_EQ(read_int32(a_path, "/videos/cluster"), read_int32(b_path, "/videos/cluster"));
  EXPECT_EQ(read_strings(a_path, "/videos/ids"), read_strings(b_path, "/videos/ids"));
  EXPECT_EQ(read_strings(a_path, "/texts/raw"), read_strings(b_path, "/texts/raw"));
  for (const char* s : {"train", "val", "test"}) {
    EXPECT_EQ(a.split(s).videos, b.split(s).videos);
    EXPECT_EQ(a.split(s).texts, b.split(s).texts);
  }
  EXPECT_TRUE(torch::equal(a.read_videos(all_rows(a.num_videos())),
                           b.read_videos(all_rows(b.num_videos()))));
  EXPECT_TRUE(
      torch::equal(a.read_texts(all_rows(a.num_texts())), b.read_texts(all_rows(b.num_texts()))));
}

TEST(Synthetic, SameOptionsSameContentsOtherSeedOtherContents) {
  TempDir dir;
  SyntheticOptions opt = small_options();
  write_synthetic(dir.file("a.h5"), opt);
  write_synthetic(dir.file("b.h5"), opt);
  compare_files(dir.file("a.h5"), dir.file("b.h5"), true);
  // The files themselves are byte-identical (no timestamps in the HDF5 object headers).
  auto bytes = [](const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
  };
  EXPECT_TRUE(bytes(dir.file("a.h5")) == bytes(dir.file("b.h5")));
  opt.seed = 4;
  write_synthetic(dir.file("c.h5"), opt);
  compare_files(dir.file("a.h5"), dir.file("c.h5"), false);
}

TEST(Synthetic, SplitsAreDisjointAndCoverEverything) {
  TempDir dir;
  SyntheticOptions opt = small_options();
  opt.val_fraction = 0;  // still one video
  write_synthetic(dir.file("s.h5"), opt);
  FeatureFile f = FeatureFile::open(dir.file("s.h5"));
  std::set<int64_t> videos, texts;
  size_t video_count = 0, text_count = 0;
  for (const std::string& name : f.split_names()) {
    const SplitIndex& s = f.split(name);
    videos.insert(s.videos.begin(), s.videos.end());
    texts.insert(s.texts.begin(), s.texts.end());
    video_count += s.videos.size();
    text_count += s.texts.size();
    EXPECT_TRUE(std::is_sorted(s.videos.begin(), s.videos.end()));
  }
  EXPECT_EQ(f.split_names(), (std::vector<std::string>{"test", "train", "val"}));
  EXPECT_EQ(video_count, videos.size());  // disjoint
  EXPECT_EQ(text_count, texts.size());
  EXPECT_EQ(static_cast<int64_t>(videos.size()), f.num_videos());  // covering
  EXPECT_EQ(static_cast<int64_t>(texts.size()), f.num_texts());
  EXPECT_EQ(f.split("val").videos.size(), 1u);
  EXPECT_EQ(f.split("test").videos.size(), 60u);
}

TEST(Synthetic, CountsVaryWithinBounds) {
  TempDir dir;
  SyntheticOptions opt = small_options();
  opt.min_frames = 3, opt.frames = 7, opt.min_tokens = 2, opt.tokens = 9;
  opt.min_captions = 1, opt.max_captions = 4;
  write_synthetic(dir.file("s.h5"), opt);
  FeatureFile f = FeatureFile::open(dir.file("s.h5"));
  auto minmax = [](const std::vector<int32_t>& v) {
    auto [lo, hi] = std::minmax_element(v.begin(), v.end());
    return std::make_pair(*lo, *hi);
  };
  // 300 draws of a few values each reach both ends.
  EXPECT_EQ(minmax(f.num_frames()), std::make_pair(3, 7));
  EXPECT_EQ(minmax(f.num_tokens()), std::make_pair(2, 9));
  std::vector<int32_t> captions(static_cast<size_t>(f.num_videos()), 0);
  for (int32_t v : f.text_video()) ++captions[static_cast<size_t>(v)];
  EXPECT_EQ(minmax(captions), std::make_pair(1, 4));
  EXPECT_TRUE(std::is_sorted(f.text_video().begin(), f.text_video().end()));
}

TEST(Synthetic, PaddingIsZeroAndValidPositionsAreNot) {
  TempDir dir;
  write_synthetic(dir.file("s.h5"), small_options());
  FeatureFile f = FeatureFile::open(dir.file("s.h5"));
  torch::Tensor v = f.read_videos(all_rows(f.num_videos()));  // [V, F, Dv]
  for (int64_t i = 0; i < f.num_videos(); ++i) {
    const int64_t n = f.num_frames()[i];
    ASSERT_TRUE(v[i].slice(0, n).abs().sum().item<float>() == 0) << "video " << i;
    ASSERT_TRUE(v[i].slice(0, 0, n).abs().sum(-1).gt(0).all().item<bool>()) << "video " << i;
  }
  torch::Tensor t = f.read_texts(all_rows(f.num_texts()));  // [T, L, Dt]
  for (int64_t i = 0; i < f.num_texts(); ++i) {
    ASSERT_TRUE(t[i].slice(0, f.num_tokens()[i]).abs().sum().item<float>() == 0) << i;
  }
}

TEST(Synthetic, Float16ByDefaultFloat32AsOption) {
  TempDir dir;
  SyntheticOptions opt = small_options();
  opt.videos = 10;
  opt.clusters = 2;
  write_synthetic(dir.file("h.h5"), opt);
  opt.float32 = true;
  write_synthetic(dir.file("f.h5"), opt);
  for (const auto& [name, kind] :
       {std::make_pair("h.h5", h5::Kind::kFloat16), std::make_pair("f.h5", h5::Kind::kFloat32)}) {
    h5::File file = h5::open_file(dir.file(name));
    for (const char* ds : {"/videos/features", "/texts/features"}) {
      h5::Dataset d = h5::open_dataset(file.get(), ds);
      EXPECT_EQ(h5::kind_of(h5::dataset_type(d).get()), kind) << name << " " << ds;
    }
    EXPECT_EQ(h5::read_int_attribute(file.get(), "lica_schema"), 1);
  }
}

TEST(Synthetic, NamesOfVideosAndCaptions) {
  TempDir dir;
  write_synthetic(dir.file("s.h5"), small_options());
  std::vector<std::string> ids = read_strings(dir.file("s.h5"), "/videos/ids");
  std::vector<std::string> raw = read_strings(dir.file("s.h5"), "/texts/raw");
  ASSERT_EQ(ids.size(), 300u);
  EXPECT_EQ(ids[123], "video000123");
  EXPECT_EQ(raw[0], "caption 0 of video000000");
  EXPECT_EQ(raw[1], "caption 1 of video000000");  // every video has at least 2 captions
}

// Caption (video) features of one cluster resemble each other more than across clusters:
// mean-pooled, centred features, mean cosine over pairs of different videos.
TEST(Synthetic, ClusterStructureInBothModalities) {
  TempDir dir;
  SyntheticOptions opt = small_options();
  write_synthetic(dir.file("s.h5"), opt);
  FeatureFile f = FeatureFile::open(dir.file("s.h5"));
  const std::vector<int32_t> cluster = read_int32(dir.file("s.h5"), "/videos/cluster");
  auto pooled = [](torch::Tensor x, const std::vector<int32_t>& counts) {  // [n, D]
    torch::Tensor n = torch::tensor(counts).to(torch::kFloat).unsqueeze(1);
    torch::Tensor mean = x.sum(1) / n;
    mean = mean - mean.mean(0, true);
    return mean / mean.norm(2, 1, true);
  };
  auto same_minus_other = [&](torch::Tensor e, const std::vector<int64_t>& video) {
    torch::Tensor cos = e.matmul(e.t());
    std::vector<int64_t> of_video;
    for (int64_t v : video) of_video.push_back(cluster[v]);
    torch::Tensor k = torch::tensor(of_video);
    torch::Tensor vid = torch::tensor(video);
    torch::Tensor same_cluster = k.unsqueeze(0) == k.unsqueeze(1);
    torch::Tensor other_video = vid.unsqueeze(0) != vid.unsqueeze(1);
    double same = cos.masked_select(same_cluster & other_video).mean().item<double>();
    double other = cos.masked_select(~same_cluster).mean().item<double>();
    return std::make_pair(same, other);
  };
  std::vector<int64_t> text_video(f.text_video().begin(), f.text_video().end());
  auto [t_same, t_other] =
      same_minus_other(pooled(f.read_texts(all_rows(f.num_texts())), f.num_tokens()), text_video);
  auto [v_same, v_other] = same_minus_other(
      pooled(f.read_videos(all_rows(f.num_videos())), f.num_frames()), all_rows(f.num_videos()));
  // Without clusters both means would be about equal (~0).
  EXPECT_GT(t_same - t_other, 0.3) << t_same << " vs " << t_other;
  EXPECT_GT(v_same - v_other, 0.3) << v_same << " vs " << v_other;
}

TEST(Synthetic, InvalidOptionsNameTheOption) {
  TempDir dir;
  auto error = [&](SyntheticOptions opt) {
    try {
      write_synthetic(dir.file("x.h5"), opt);
    } catch (const InputError& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  SyntheticOptions opt;
  opt.min_frames = 20;
  EXPECT_THAT(error(opt), HasSubstr("min_frames (--min-frames): value 20 is out of range"));
  opt = SyntheticOptions();
  opt.max_captions = 1;
  EXPECT_THAT(error(opt), HasSubstr("max_captions"));
  opt = SyntheticOptions();
  opt.caption_specificity = 1.5;
  EXPECT_THAT(error(opt), HasSubstr("caption_specificity"));
  opt = SyntheticOptions();
  opt.test_fraction = 0.6, opt.val_fraction = 0.4;
  EXPECT_THAT(error(opt), HasSubstr("leaves no training video"));
  opt = SyntheticOptions();
  opt.frame_noise = std::nan("");
  EXPECT_THAT(error(opt), HasSubstr("frame_noise"));
  EXPECT_FALSE(std::filesystem::exists(dir.file("x.h5")));
  EXPECT_THROW(write_synthetic("/nonexistent/dir/x.h5", small_options()), InputError);
}

// Label noise: round(P · T_train) train captions point to another train video in /texts/video,
// the true one is in /texts/true_video (the clean file's /texts/video), everything else equals
// the clean file, the validator and lica_inspect accept it, training pairs follow /texts/video.
TEST(Synthetic, CaptionNoiseMovesAFractionOfTrainCaptionsToOtherTrainVideos) {
  TempDir dir;
  SyntheticOptions opt = small_options();
  const SyntheticSummary clean_summary = write_synthetic(dir.file("clean.h5"), opt);
  EXPECT_EQ(clean_summary.moved_captions, 0);
  opt.caption_noise = 0.2;
  const SyntheticSummary summary = write_synthetic(dir.file("a.h5"), opt);
  write_synthetic(dir.file("b.h5"), opt);
  FeatureFile clean = FeatureFile::open(dir.file("clean.h5"));
  // Opening validates it: every video of a split has a caption in the split.
  FeatureFile noisy = FeatureFile::open(dir.file("a.h5"));
  const SplitIndex& train = noisy.split("train");
  const std::set<int64_t> train_videos(train.videos.begin(), train.videos.end());
  const std::set<int64_t> train_texts(train.texts.begin(), train.texts.end());
  ASSERT_EQ(summary.train_captions, static_cast<int64_t>(train.texts.size()));
  const int64_t expected = std::llround(0.2 * static_cast<double>(train.texts.size()));
  EXPECT_EQ(summary.moved_captions, expected);

  const std::vector<int32_t> true_video = read_int32(dir.file("a.h5"), "/texts/true_video");
  EXPECT_EQ(true_video, clean.text_video());
  int64_t moved = 0;
  for (int64_t t = 0; t < noisy.num_texts(); ++t) {
    const int32_t now = noisy.text_video()[static_cast<size_t>(t)];
    if (now == true_video[static_cast<size_t>(t)]) continue;
    ++moved;
    EXPECT_TRUE(train_texts.count(t)) << "caption " << t << " moved but is not a train caption";
    EXPECT_TRUE(train_videos.count(now)) << "caption " << t << " moved to non-train video " << now;
  }
  EXPECT_EQ(moved, expected);  // a moved caption always points to another video

  // Val, test and everything but /texts/video are the clean file's.
  for (const char* s : {"train", "val", "test"}) {
    EXPECT_EQ(noisy.split(s).videos, clean.split(s).videos) << s;
    EXPECT_EQ(noisy.split(s).texts, clean.split(s).texts) << s;
  }
  EXPECT_EQ(read_int32(dir.file("a.h5"), "/videos/cluster"),
            read_int32(dir.file("clean.h5"), "/videos/cluster"));
  EXPECT_TRUE(torch::equal(noisy.read_texts(all_rows(noisy.num_texts())),
                           clean.read_texts(all_rows(clean.num_texts()))));
  EXPECT_TRUE(torch::equal(noisy.read_videos(all_rows(noisy.num_videos())),
                           clean.read_videos(all_rows(clean.num_videos()))));

  // Training pairs each caption with its /texts/video, noisy or not.
  for (const Sample& s : epoch_samples(noisy, train, Pairing::kAllCaptions, 1, 0)) {
    EXPECT_EQ(s.video, noisy.text_video()[static_cast<size_t>(s.text)]);
  }
  EXPECT_NO_THROW(epoch_samples(noisy, train, Pairing::kOneCaption, 1, 0));
  // lica_inspect: no problem, the extra dataset listed as outside the schema.
  const Inspection inspection = inspect_file(dir.file("a.h5"));
  EXPECT_TRUE(inspection.problems.empty()) << inspection.problems.front();
  EXPECT_THAT(inspection.other_datasets, ::testing::Contains("/texts/true_video"));

  // The same seed gives the same bytes; another seed moves other captions.
  auto bytes = [](const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
  };
  EXPECT_TRUE(bytes(dir.file("a.h5")) == bytes(dir.file("b.h5")));
  opt.seed = 4;
  write_synthetic(dir.file("c.h5"), opt);
  EXPECT_NE(read_int32(dir.file("c.h5"), "/texts/video"), noisy.text_video());

  // More than the captions that may move (each train video keeps one): an error naming it.
  opt.caption_noise = 0.9;
  try {
    write_synthetic(dir.file("x.h5"), opt);
    ADD_FAILURE() << "caption_noise 0.9 accepted";
  } catch (const InputError& e) {
    EXPECT_THAT(e.what(), HasSubstr("caption_noise (--caption-noise): value 0.9"));
    EXPECT_THAT(e.what(), HasSubstr("train videos keeps one caption"));
  }
  EXPECT_FALSE(std::filesystem::exists(dir.file("x.h5")));
}

}  // namespace
}  // namespace lica::data
