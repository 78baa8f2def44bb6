#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>
#include <set>

#include "common/error.h"
#include "data/pairing.h"
#include "data/synthetic.h"
#include "data_test_util.h"
#include "support/synthetic_file.h"

namespace lica::data {
namespace {

using test_util::TempDir;
using ::testing::HasSubstr;

// One synthetic file shared by the tests of this file (read only).
class PairingTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir();
    SyntheticOptions opt = testing::synthetic_options(60, 4, 4);
    opt.clusters = 6;
    opt.latent_dim = 4;
    opt.min_captions = 1;
    opt.max_captions = 6;
    file_ = new FeatureFile(testing::write_and_open(dir_->file("p.h5"), opt));
  }
  static void TearDownTestSuite() {
    delete file_;
    delete dir_;
  }
  static TempDir* dir_;
  static FeatureFile* file_;
};
TempDir* PairingTest::dir_ = nullptr;
FeatureFile* PairingTest::file_ = nullptr;

bool same(const std::vector<Sample>& a, const std::vector<Sample>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i].video != b[i].video || a[i].text != b[i].text) return false;
  }
  return true;
}

TEST(Pairing, ParsesNamesAndRejectsOthers) {
  EXPECT_EQ(parse_pairing("one_caption"), Pairing::kOneCaption);
  EXPECT_EQ(parse_pairing("all_captions"), Pairing::kAllCaptions);
  EXPECT_STREQ(pairing_name(Pairing::kAllCaptions), "all_captions");
  EXPECT_THAT([] { parse_pairing("all"); },
              ::testing::ThrowsMessage<InputError>(HasSubstr("'all' is not known")));
}

TEST_F(PairingTest, OneCaptionGivesEachSplitVideoOnceWithOneOfItsSplitCaptions) {
  const SplitIndex& split = file_->split("train");
  const std::set<int64_t> split_texts(split.texts.begin(), split.texts.end());
  std::vector<Sample> samples = epoch_samples(*file_, split, Pairing::kOneCaption, 1, 0);
  ASSERT_EQ(samples.size(), split.videos.size());
  std::multiset<int64_t> videos;
  for (const Sample& s : samples) {
    videos.insert(s.video);
    EXPECT_EQ(split_texts.count(s.text), 1u) << "caption " << s.text << " not in the split";
    EXPECT_EQ(file_->text_video()[s.text], s.video) << "caption " << s.text;
  }
  EXPECT_EQ(videos, std::multiset<int64_t>(split.videos.begin(), split.videos.end()));
}

TEST_F(PairingTest, AllCaptionsGivesEverySplitCaptionOnceWithItsVideo) {
  const SplitIndex& split = file_->split("test");
  std::vector<Sample> samples = epoch_samples(*file_, split, Pairing::kAllCaptions, 1, 3);
  ASSERT_EQ(samples.size(), split.texts.size());
  std::multiset<int64_t> texts;
  for (const Sample& s : samples) {
    texts.insert(s.text);
    EXPECT_EQ(file_->text_video()[s.text], s.video);
  }
  EXPECT_EQ(texts, std::multiset<int64_t>(split.texts.begin(), split.texts.end()));
}

TEST_F(PairingTest, SameSeedAndEpochSameSamplesOtherEpochOrSeedOtherOrder) {
  const SplitIndex& split = file_->split("train");
  for (Pairing p : {Pairing::kOneCaption, Pairing::kAllCaptions}) {
    std::vector<Sample> a = epoch_samples(*file_, split, p, 5, 2);
    EXPECT_TRUE(same(a, epoch_samples(*file_, split, p, 5, 2)));
    EXPECT_FALSE(same(a, epoch_samples(*file_, split, p, 5, 3)));
    EXPECT_FALSE(same(a, epoch_samples(*file_, split, p, 6, 2)));
    // The order is shuffled, not the split's order.
    std::vector<int64_t> order;
    for (const Sample& s : a) order.push_back(p == Pairing::kOneCaption ? s.video : s.text);
    EXPECT_FALSE(std::is_sorted(order.begin(), order.end()));
  }
}

TEST_F(PairingTest, CaptionsDrawnOverEpochsCoverSeveralCaptionsPerVideo) {
  const SplitIndex& split = file_->split("train");
  std::map<int64_t, int> split_captions;
  for (int64_t t : split.texts) ++split_captions[file_->text_video()[t]];
  std::map<int64_t, std::set<int64_t>> drawn;
  for (int64_t epoch = 0; epoch < 30; ++epoch) {
    for (const Sample& s : epoch_samples(*file_, split, Pairing::kOneCaption, 9, epoch)) {
      drawn[s.video].insert(s.text);
    }
  }
  int multi = 0;
  for (const auto& [video, n] : split_captions) {
    // P(one caption of >= 2 drawn 30 times in a row) <= 2^-29: never by chance.
    if (n >= 2) {
      EXPECT_GT(drawn[video].size(), 1u) << "video " << video;
      ++multi;
    }
  }
  EXPECT_GT(multi, 10);
}

TEST_F(PairingTest, OneCaptionRejectsVideoWithoutSplitCaption) {
  SplitIndex split = file_->split("train");
  const int64_t video = file_->text_video()[split.texts.back()];
  while (!split.texts.empty() && file_->text_video()[split.texts.back()] == video) {
    split.texts.pop_back();
  }
  EXPECT_THAT([&] { epoch_samples(*file_, split, Pairing::kOneCaption, 0, 0); },
              ::testing::ThrowsMessage<InputError>(
                  HasSubstr("video " + std::to_string(video) + " has no caption")));
}

}  // namespace
}  // namespace lica::data
