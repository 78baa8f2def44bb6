// End to end: the programs as a user runs them. Makes a small synthetic set, trains on it,
// and checks what lands in the run directory, the learning itself, determinism and the
// exit codes for bad input.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <yaml-cpp/yaml.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "run/config.h"

namespace lica::trainer {
namespace {

namespace fs = std::filesystem;

struct Result {
  int code;
  std::string output;  // stdout and stderr together
};

// Runs `command` (a shell command line), capturing its output.
Result run_command(const std::string& command, const fs::path& scratch) {
  const auto out = scratch / "output.txt";
  const std::string cmd = command + " > " + out.string() + " 2>&1";
  const int status = std::system(cmd.c_str());
  std::ifstream in(out);
  std::stringstream text;
  text << in.rdbuf();
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, text.str()};
}

// Runs one of the programs: `args` starts with its name.
Result run(const std::string& args, const fs::path& scratch) {
  return run_command(std::string(LICA_BIN_DIR) + "/" + args, scratch);
}

std::vector<YAML::Node> read_jsonl(const fs::path& path) {
  std::vector<YAML::Node> records;
  std::ifstream in(path);
  for (std::string line; std::getline(in, line);) records.push_back(YAML::Load(line));
  return records;
}

constexpr int kTestVideos = 100;  // 400 videos x test_fraction 0.25

class TrainEndToEnd : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = fs::temp_directory_path() / ("lica_e2e_" + std::to_string(::getpid()));
    fs::create_directories(dir_);
    auto r = run("lica_make_synthetic --out " + (dir_ / "s.h5").string() +
                     " --videos 400 --test-fraction 0.25 --val-fraction 0.1 --seed 5",
                 dir_);
    ASSERT_EQ(r.code, 0) << r.output;
    std::ofstream(dir_ / "c.yaml") << "data:\n  path: " << (dir_ / "s.h5").string() << "\n"
                                   << "model:\n  embed_dim: 64\n"
                                   << "trainer:\n  epochs: 8\n  batch_size: 32\n  lr: 2.0e-3\n"
                                   << "  log_every: 5\n  threads: 1\n"
                                   << "eval:\n  every_epochs: 4\n";
    first_ = run("lica_dist_train --config " + (dir_ / "c.yaml").string() +
                     " --set run.dir=" + (dir_ / "run1").string(),
                 dir_);
  }
  static void TearDownTestSuite() { fs::remove_all(dir_); }

  static fs::path dir_;
  static Result first_;
};
fs::path TrainEndToEnd::dir_;
Result TrainEndToEnd::first_;

TEST_F(TrainEndToEnd, WritesTheRunDirectory) {
  ASSERT_EQ(first_.code, 0) << first_.output;
  const auto run1 = dir_ / "run1";
  // The resolved config is the file plus the override, and reads back identically.
  auto expect = run::load_config((dir_ / "c.yaml").string());
  run::apply_override(expect, "run.dir=" + run1.string());
  EXPECT_TRUE(run::load_config((run1 / "config.yaml").string()) == expect);
  std::ifstream log(run1 / "train.log");
  std::stringstream text;
  text << log.rdbuf();
  EXPECT_NE(text.str().find("samples/s"), std::string::npos);
  EXPECT_NE(text.str().find("eta"), std::string::npos);
  // Progress and test metrics reach the terminal too.
  EXPECT_NE(first_.output.find("loss"), std::string::npos);
  EXPECT_NE(first_.output.find("t2v R@1"), std::string::npos);
}

TEST_F(TrainEndToEnd, LossFallsAndTestRecallBeatsChanceFiveTimes) {
  ASSERT_EQ(first_.code, 0) << first_.output;
  const auto records = read_jsonl(dir_ / "run1" / "metrics.jsonl");
  std::vector<double> losses;
  int val = 0;
  const YAML::Node* test = nullptr;
  for (const auto& r : records) {
    const auto type = r["type"].as<std::string>();
    if (type == "train") {
      losses.push_back(r["loss"].as<double>());
      EXPECT_GT(r["samples_per_s"].as<double>(), 0.0);
      EXPECT_GT(r["lr"].as<double>(), 0.0);
    } else if (r["split"].as<std::string>() == "val") {
      ++val;
    } else if (r["split"].as<std::string>() == "test") {
      test = &r;
    }
  }
  EXPECT_EQ(val, 2);  // epochs 4 and 8
  ASSERT_GE(losses.size(), 6u);
  EXPECT_LT(losses.back(), 0.8 * losses.front());
  ASSERT_NE(test, nullptr);
  for (const char* key : {"t2v_r1", "t2v_r5", "t2v_r10", "t2v_mdr", "t2v_mnr", "v2t_r1", "v2t_r5",
                          "v2t_r10", "v2t_mdr", "v2t_mnr", "step"}) {
    EXPECT_TRUE((*test)[key]) << key;
  }
  const double chance = 100.0 / kTestVideos;
  EXPECT_GE((*test)["t2v_r1"].as<double>(), 5.0 * chance);
  EXPECT_GE((*test)["v2t_r1"].as<double>(), 5.0 * chance);
}

// lica_eval on the final checkpoint reproduces the run's own test record exactly, alone and
// sharded over two ranks; a damaged or missing checkpoint is exit 2 naming it.
TEST_F(TrainEndToEnd, EvalOfTheFinalCheckpointReproducesTheTestRecord) {
  ASSERT_EQ(first_.code, 0) << first_.output;
  const auto run1 = dir_ / "run1";
  const auto records = read_jsonl(run1 / "metrics.jsonl");
  const YAML::Node test = records.back();
  ASSERT_EQ(test["split"].as<std::string>(), "test");
  const std::string args = " --config " + (dir_ / "c.yaml").string() + " --checkpoint " +
                           (run1 / "checkpoints" / "latest").string();
  const auto alone = run("lica_eval" + args + " --output " + (dir_ / "eval1.json").string(), dir_);
  ASSERT_EQ(alone.code, 0) << alone.output;
  EXPECT_NE(alone.output.find("test step " + test["step"].as<std::string>()), std::string::npos)
      << alone.output;
  const auto two = run_command(std::string(LICA_MPIRUN) + " --oversubscribe -np 2 " +
                                   LICA_BIN_DIR + "/lica_eval" + args + " --output " +
                                   (dir_ / "eval2.json").string(),
                               dir_);
  ASSERT_EQ(two.code, 0) << two.output;
  for (const char* file : {"eval1.json", "eval2.json"}) {
    const auto got = read_jsonl(dir_ / file).at(0);
    for (const char* key : {"step", "t2v_r1", "t2v_r5", "t2v_r10", "t2v_mdr", "t2v_mnr", "v2t_r1",
                            "v2t_r5", "v2t_r10", "v2t_mdr", "v2t_mnr"}) {
      EXPECT_EQ(got[key].as<std::string>(), test[key].as<std::string>()) << file << " " << key;
    }
  }
  EXPECT_EQ(read_jsonl(dir_ / "eval2.json").at(0)["ranks"].as<int>(), 2);

  const auto missing = run("lica_eval --config " + (dir_ / "c.yaml").string() +
                               " --checkpoint " + (dir_ / "nowhere").string(), dir_);
  EXPECT_EQ(missing.code, 2) << missing.output;
  EXPECT_NE(missing.output.find("no such checkpoint: " + (dir_ / "nowhere").string()),
            std::string::npos) << missing.output;
  const auto help = run("lica_eval --help", dir_);
  EXPECT_EQ(help.code, 0);
  EXPECT_NE(help.output.find("--checkpoint"), std::string::npos);
}

TEST_F(TrainEndToEnd, SameSeedGivesTheSameRun) {
  ASSERT_EQ(first_.code, 0) << first_.output;
  auto second = run("lica_dist_train --config " + (dir_ / "c.yaml").string() +
                        " --set run.dir=" + (dir_ / "run2").string(),
                    dir_);
  ASSERT_EQ(second.code, 0) << second.output;
  auto a = read_jsonl(dir_ / "run1" / "metrics.jsonl");
  auto b = read_jsonl(dir_ / "run2" / "metrics.jsonl");
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    for (const char* key : {"loss", "logit_scale", "t2v_r1", "v2t_mnr"}) {
      if (a[i][key]) {
        EXPECT_EQ(a[i][key].as<std::string>(), b[i][key].as<std::string>()) << i;
      }
    }
  }
}

TEST_F(TrainEndToEnd, BadInputExitsTwoWithTheReason) {
  const auto cfg = (dir_ / "c.yaml").string();
  auto help = run("lica_dist_train --help", dir_);
  EXPECT_EQ(help.code, 0);
  EXPECT_NE(help.output.find("--config"), std::string::npos);

  std::ofstream(dir_ / "bad.yaml") << "trainer:\n  epochz: 3\n";
  auto unknown = run("lica_dist_train --config " + (dir_ / "bad.yaml").string(), dir_);
  EXPECT_EQ(unknown.code, 2);
  EXPECT_NE(unknown.output.find("trainer.epochz"), std::string::npos) << unknown.output;

  auto range = run("lica_dist_train --config " + cfg + " --set trainer.lr=-1", dir_);
  EXPECT_EQ(range.code, 2);
  EXPECT_NE(range.output.find("trainer.lr"), std::string::npos) << range.output;

  auto missing = run("lica_dist_train --config " + cfg + " --set data.path=/nonexistent/x.h5 " +
                         "--set run.dir=" + (dir_ / "run_missing").string(),
                     dir_);
  EXPECT_EQ(missing.code, 2);
  EXPECT_NE(missing.output.find("/nonexistent/x.h5"), std::string::npos) << missing.output;

  // A feature file cut short (a copy that stopped early) and a file that is not HDF5.
  fs::copy_file(dir_ / "s.h5", dir_ / "cut.h5", fs::copy_options::overwrite_existing);
  fs::resize_file(dir_ / "cut.h5", fs::file_size(dir_ / "s.h5") / 2);
  auto cut = run("lica_dist_train --config " + cfg + " --set data.path=" + (dir_ / "cut.h5").string() +
                     " --set run.dir=" + (dir_ / "run_cut").string(),
                 dir_);
  EXPECT_EQ(cut.code, 2) << cut.output;
  EXPECT_NE(cut.output.find((dir_ / "cut.h5").string() + ": cannot open the HDF5 file, the file looks truncated"),
            std::string::npos) << cut.output;
  auto not_hdf5 = run("lica_dist_train --config " + cfg + " --set data.path=" + cfg +
                          " --set run.dir=" + (dir_ / "run_yaml").string(),
                      dir_);
  EXPECT_EQ(not_hdf5.code, 2) << not_hdf5.output;
  EXPECT_NE(not_hdf5.output.find(cfg + ": not an HDF5 file"), std::string::npos) << not_hdf5.output;

  ASSERT_EQ(first_.code, 0);
  auto reused = run("lica_dist_train --config " + cfg + " --set run.dir=" + (dir_ / "run1").string(),
                    dir_);
  EXPECT_EQ(reused.code, 2);
  EXPECT_NE(reused.output.find("already holds a run"), std::string::npos) << reused.output;

  auto no_config = run("lica_dist_train", dir_);
  EXPECT_EQ(no_config.code, 2);
}

TEST_F(TrainEndToEnd, DumpConfigPrintsTheResolvedConfig) {
  auto r = run("lica_dist_train --config " + (dir_ / "c.yaml").string() +
                   " --set trainer.lr=0.5 --dump-config",
               dir_);
  ASSERT_EQ(r.code, 0) << r.output;
  auto dumped = run::parse_config_yaml(r.output, "dump");
  EXPECT_DOUBLE_EQ(dumped.trainer.lr, 0.5);
  EXPECT_EQ(dumped.model.embed_dim, 64);
}

}  // namespace
}  // namespace lica::trainer
