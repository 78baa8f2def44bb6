// Runs the lica_make_synthetic program (when it has been built) and checks its exit codes.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "data/feature_file.h"
#include "data_test_util.h"

namespace lica::data {
namespace {

using test_util::TempDir;
using ::testing::HasSubstr;

const std::string kProgram = std::string(LICA_BIN_DIR) + "/lica_make_synthetic";

// Runs the program with `args`, stdout+stderr into `output`; returns the exit code.
int run(const TempDir& dir, const std::string& args, std::string* output) {
  const std::string log = dir.file("out.txt");
  int status = std::system((kProgram + " " + args + " > " + log + " 2>&1").c_str());
  std::ifstream in(log);
  std::stringstream s;
  s << in.rdbuf();
  *output = s.str();
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

class MakeSynthetic : public ::testing::Test {
 protected:
  void SetUp() override {
    // The build makes lica_data_tests depend on the program, so it must be there.
    ASSERT_TRUE(std::filesystem::exists(kProgram)) << kProgram << " is not built";
  }
  TempDir dir_;
  std::string out_;
};

TEST_F(MakeSynthetic, HelpListsFlagsWithDefaults) {
  EXPECT_EQ(run(dir_, "--help", &out_), 0);
  EXPECT_THAT(out_, HasSubstr("--out PATH"));
  EXPECT_THAT(out_, HasSubstr("--caption-specificity"));
  EXPECT_THAT(out_, HasSubstr("(default 1000)"));
  EXPECT_THAT(out_, HasSubstr("--float32"));
}

TEST_F(MakeSynthetic, WritesAFileAndSummarises) {
  const std::string path = dir_.file("s.h5");
  EXPECT_EQ(run(dir_, "--out " + path + " --videos 30 --clusters=3 --seed 2 --float32", &out_), 0)
      << out_;
  EXPECT_THAT(out_, HasSubstr(path + ": 30 videos"));
  EXPECT_THAT(out_, HasSubstr("test=6/"));
  EXPECT_EQ(FeatureFile::open(path).num_videos(), 30);
}

TEST_F(MakeSynthetic, BadArgumentsExitTwo) {
  const std::string path = dir_.file("s.h5");
  EXPECT_EQ(run(dir_, "--videos 30", &out_), 2);  // no --out
  EXPECT_THAT(out_, HasSubstr("missing --out"));
  EXPECT_EQ(run(dir_, "--out " + path + " --videos ten", &out_), 2);
  EXPECT_THAT(out_, HasSubstr("--videos: expected a number, got 'ten'"));
  EXPECT_EQ(run(dir_, "--out " + path + " --colour red", &out_), 2);
  EXPECT_THAT(out_, HasSubstr("unknown option '--colour'"));
  EXPECT_EQ(run(dir_, "--out " + path + " --frames", &out_), 2);
  EXPECT_EQ(run(dir_, "--out " + path + " --min-frames 20", &out_), 2);  // InputError
  EXPECT_THAT(out_, HasSubstr("min_frames (--min-frames): value 20"));
  EXPECT_FALSE(std::filesystem::exists(path));
}

}  // namespace
}  // namespace lica::data
