// Retrieval for users: top_k_search against a brute-force ranking (ties included), and the
// lica_search program on exported embeddings and on feature files, both directions, errors.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <numeric>
#include <sstream>

#include "common/error.h"
#include "data/embedding_file.h"
#include "dist/local_communicator.h"
#include "support/search_data.h"
#include "eval/search.h"

namespace lica::eval {
namespace {

namespace fs = std::filesystem;

struct Hit {
  int64_t index;
  double score;
};

// The reference: every score in float64 from the L2-normalised rows, all candidates sorted by
// score descending, then index ascending; the first k.
std::vector<std::vector<Hit>> brute_force(const torch::Tensor& queries,
                                          const torch::Tensor& candidates, int64_t k) {
  const auto q = queries.to(torch::kDouble), c = candidates.to(torch::kDouble);
  const auto qn = q / q.norm(2, 1, true), cn = c / c.norm(2, 1, true);
  const auto s = qn.mm(cn.t());  // [Q, C]
  std::vector<std::vector<Hit>> out;
  for (int64_t i = 0; i < s.size(0); ++i) {
    std::vector<Hit> all;
    for (int64_t j = 0; j < s.size(1); ++j) all.push_back({j, s[i][j].item<double>()});
    std::stable_sort(all.begin(), all.end(),
                     [](const Hit& a, const Hit& b) { return a.score > b.score; });
    all.resize(std::min<size_t>(all.size(), static_cast<size_t>(k)));
    out.push_back(all);
  }
  return out;
}

std::vector<std::vector<SearchHit>> search(const torch::Tensor& q, const torch::Tensor& c,
                                           int64_t k, int64_t chunk) {
  std::vector<std::vector<SearchHit>> out;
  top_k_search(q, c, k, chunk, [&](int64_t i, const std::vector<SearchHit>& hits) {
    EXPECT_EQ(i, static_cast<int64_t>(out.size()));
    out.push_back(hits);
  });
  return out;
}

// Indices must match exactly; scores to 1e-5 (float32 dot products of unit vectors of
// dimension <= 16, against float64).
void expect_same(const std::vector<std::vector<SearchHit>>& got,
                 const std::vector<std::vector<Hit>>& want) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    ASSERT_EQ(got[i].size(), want[i].size()) << "query " << i;
    for (size_t j = 0; j < got[i].size(); ++j) {
      EXPECT_EQ(got[i][j].index, want[i][j].index) << "query " << i << " hit " << j;
      EXPECT_NEAR(got[i][j].score, want[i][j].score, 1e-5) << "query " << i << " hit " << j;
    }
  }
}

TEST(TopKSearch, EqualsBruteForceAcrossChunks) {
  torch::manual_seed(3);
  const auto q = torch::randn({50, 8}), c = torch::randn({37, 8}) * 3;
  expect_same(search(q, c, 5, 7), brute_force(q, c, 5));   // 8 chunks, the last of 1
  expect_same(search(q, c, 1, 64), brute_force(q, c, 1));  // one chunk
}

TEST(TopKSearch, KBeyondTheCandidatesGivesAllOfThem) {
  torch::manual_seed(4);
  const auto q = torch::randn({3, 4}), c = torch::randn({6, 4});
  const auto got = search(q, c, 100, 2);
  ASSERT_EQ(got[0].size(), 6u);
  expect_same(got, brute_force(q, c, 6));
}

TEST(TopKSearch, EqualScoresGoToTheSmallerIndex) {
  // Candidates 1, 4, 6 and 8 are the same vector; 2 is the query's opposite.
  torch::manual_seed(5);
  auto c = torch::randn({10, 6});
  const auto v = torch::randn({6});
  for (int64_t j : {8, 6, 4, 1}) c[j] = v;
  c[2] = -v;
  const auto q = v.unsqueeze(0);  // [1, 6]
  for (int64_t k : {1, 2, 3, 4}) {
    const auto got = search(q, c, k, 1);
    ASSERT_EQ(got[0].size(), static_cast<size_t>(k));
    const std::vector<int64_t> expected = {1, 4, 6, 8};
    for (int64_t j = 0; j < k; ++j) {
      EXPECT_EQ(got[0][j].index, expected[j]) << "k " << k;
      EXPECT_EQ(got[0][j].score, got[0][0].score);  // exact ties
    }
  }
  EXPECT_EQ(search(q, c, 10, 1)[0].back().index, 2);  // the opposite comes last
  // Ties at the k-th place behind better candidates: scores 1 (5), 0.707 (3 and 7), 0.577 (8),
  // 0 (0, 2 and 4), -0.707 (6), -1 (1).
  const auto d = torch::tensor({0., 1., 0., -1., 0., 0., 0., 0., 1., 1., 1., 0., 0., -1., 0.,
                                1., 0., 0., -1., 1., 0., 1., 1., 0., 1., -1., -1.})
                     .view({9, 3})
                     .to(torch::kFloat);
  const auto q2 = torch::tensor({2.f, 0.f, 0.f}).view({1, 3});
  const std::vector<int64_t> order = {5, 3, 7, 8, 0, 2, 4, 6, 1};
  for (int64_t k = 1; k <= 9; ++k) {
    const auto got = search(q2, d, k, 1);
    ASSERT_EQ(got[0].size(), static_cast<size_t>(k));
    for (int64_t j = 0; j < k; ++j) EXPECT_EQ(got[0][j].index, order[j]) << "k " << k;
  }
  expect_same(search(q2, d, 9, 4), brute_force(q2, d, 9));
}

TEST(TopKSearch, BadArgumentsAreInputErrors) {
  const auto q = torch::randn({2, 4}), c = torch::randn({3, 5});
  EXPECT_THROW(search(q, torch::randn({3, 4}), 0, 1), InputError);
  try {
    search(q, c, 2, 1);
    ADD_FAILURE() << "no error";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("queries 4-dimensional, candidates 5-dimensional"),
              std::string::npos) << e.what();
  }
  EXPECT_EQ(parse_search_direction("v2t"), SearchDirection::kVideoToText);
  EXPECT_THROW(parse_search_direction("t2t"), InputError);
}

// ---- the program ----

struct Result {
  int code;
  std::string out, err;
};

Result run(const std::string& args, const fs::path& scratch) {
  const auto out = scratch / "stdout.txt", err = scratch / "stderr.txt";
  const std::string cmd = std::string(LICA_BIN_DIR) + "/" + args + " > " + out.string() + " 2> " +
                          err.string();
  const int status = std::system(cmd.c_str());
  auto slurp = [](const fs::path& p) {
    std::ifstream in(p);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  };
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, slurp(out), slurp(err)};
}

std::string read_text(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

class SearchProgram : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = fs::temp_directory_path() / ("lica_search_" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    dist::LocalCommunicator comm;
    const auto cfg = testing::make_search_data(dir_, comm);
    std::ofstream(dir_ / "c.yaml") << "data:\n  path: " << cfg.data.path << "\n"
                                   << "eval:\n  batch_size: 8\n  chunk_size: 7\n";
    export_ = run("lica_eval --config " + (dir_ / "c.yaml").string() + " --checkpoint " +
                      checkpoint() + " --output " + (dir_ / "eval.json").string() + " --export " +
                      (dir_ / "emb.h5").string(),
                  dir_);
  }
  static void TearDownTestSuite() { fs::remove_all(dir_); }

  static std::string checkpoint() { return testing::checkpoint_of(dir_).string(); }
  static std::string path(const std::string& name) { return (dir_ / name).string(); }
  static std::string search_args() { return "lica_search --config " + path("c.yaml"); }

  // Checks the JSON lines of `output` against the brute-force top k of `queries` x
  // `candidates`.
  static void expect_matches_brute_force(const std::string& output,
                                         const data::EmbeddingSection& queries,
                                         const data::EmbeddingSection& candidates, int64_t k) {
    const auto want = brute_force(queries.embeddings, candidates.embeddings, k);
    std::istringstream in(output);
    int64_t i = 0;
    for (std::string line; std::getline(in, line); ++i) {
      ASSERT_LT(i, queries.size());
      const auto j = YAML::Load(line);
      EXPECT_EQ(j["query"].as<std::string>(), queries.ids[i]);
      EXPECT_EQ(j["query_index"].as<int64_t>(), i);
      const auto results = j["results"];
      ASSERT_EQ(results.size(), want[i].size()) << line;
      for (size_t h = 0; h < want[i].size(); ++h) {
        EXPECT_EQ(results[h]["index"].as<int64_t>(), want[i][h].index) << line;
        EXPECT_EQ(results[h]["id"].as<std::string>(), candidates.ids[want[i][h].index]) << line;
        EXPECT_NEAR(results[h]["score"].as<double>(), want[i][h].score, 1e-5) << line;
      }
    }
    EXPECT_EQ(i, queries.size());
  }

  static fs::path dir_;
  static Result export_;
};
fs::path SearchProgram::dir_;
Result SearchProgram::export_;

TEST_F(SearchProgram, TextToVideoOnExportedEmbeddingsEqualsBruteForce) {
  ASSERT_EQ(export_.code, 0) << export_.out << export_.err;
  EXPECT_NE(export_.out.find("wrote " + path("emb.h5") + ": 16 videos"), std::string::npos)
      << export_.out;
  const auto r = run(search_args() + " --candidates " + path("emb.h5") + " --queries " +
                         path("emb.h5") + " --top-k 5 --output " + path("t2v.jsonl"),
                     dir_);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "");
  EXPECT_FALSE(fs::exists(path("t2v.jsonl.tmp")));
  const auto e = data::read_embeddings(path("emb.h5"));
  expect_matches_brute_force(read_text(path("t2v.jsonl")), e.texts, e.videos, 5);
  EXPECT_NE(r.err.find("queries x 16 candidates, top 5"), std::string::npos) << r.err;
}

TEST_F(SearchProgram, FeatureFileInputsGiveTheSameLinesAsTheirExport) {
  ASSERT_EQ(export_.code, 0) << export_.err;
  const auto from_export = run(search_args() + " --candidates " + path("emb.h5") + " --queries " +
                                   path("emb.h5") + " --top-k 4", dir_);
  ASSERT_EQ(from_export.code, 0) << from_export.err;
  ASSERT_FALSE(from_export.out.empty());
  // Both sides encoded from the feature file, to stdout.
  const auto both = run(search_args() + " --checkpoint " + checkpoint() + " --candidates " +
                            path("s.h5") + " --queries " + path("s.h5") + " --split test --top-k 4",
                        dir_);
  ASSERT_EQ(both.code, 0) << both.err;
  EXPECT_EQ(both.out, from_export.out);
  // Mixed: exported candidates, encoded queries.
  const auto mixed = run(search_args() + " --checkpoint " + checkpoint() + " --candidates " +
                             path("emb.h5") + " --queries " + path("s.h5") +
                             " --split test --top-k 4", dir_);
  ASSERT_EQ(mixed.code, 0) << mixed.err;
  EXPECT_EQ(mixed.out, from_export.out);
}

TEST_F(SearchProgram, VideoToTextEqualsBruteForce) {
  ASSERT_EQ(export_.code, 0) << export_.err;
  const auto r = run(search_args() + " --direction v2t --candidates " + path("emb.h5") +
                         " --queries " + path("emb.h5") + " --top-k 1000", dir_);
  ASSERT_EQ(r.code, 0) << r.err;
  const auto e = data::read_embeddings(path("emb.h5"));
  // K beyond the candidates: every caption, ranked.
  expect_matches_brute_force(r.out, e.videos, e.texts, e.texts.size());
}

TEST_F(SearchProgram, BadInputExitsTwoNamingTheFileAndDataset) {
  ASSERT_EQ(export_.code, 0) << export_.err;
  // A feature file without a checkpoint.
  auto r = run(search_args() + " --candidates " + path("s.h5") + " --queries " + path("emb.h5") +
                   " --top-k 3", dir_);
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find(path("s.h5") + " is a feature file"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("--checkpoint"), std::string::npos) << r.err;
  // Embedding dims differ between the files.
  data::Embeddings other;
  other.videos.present = true;
  other.videos.embeddings = torch::randn({3, 7});
  other.videos.ids = {"x", "y", "z"};
  other.videos.index = {0, 1, 2};
  data::write_embeddings(path("d7.h5"), other);
  r = run(search_args() + " --candidates " + path("d7.h5") + " --queries " + path("emb.h5") +
              " --top-k 3", dir_);
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("embedding dims differ: queries " + path("emb.h5") +
                       " (captions, D = 16) and candidates " + path("d7.h5") +
                       " (videos, D = 7)"), std::string::npos) << r.err;
  // A missing section: d7.h5 has no captions to query with.
  r = run(search_args() + " --candidates " + path("emb.h5") + " --queries " + path("d7.h5") +
              " --top-k 3", dir_);
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find(path("d7.h5") + ": group /texts is missing"), std::string::npos) << r.err;
  // A broken embedding file.
  fs::copy_file(path("emb.h5"), path("broken.h5"));
  {
    data::h5::File f = data::h5::open_file(path("broken.h5"), true);
    data::h5::remove(f.get(), "/videos/index");
  }
  r = run(search_args() + " --candidates " + path("broken.h5") + " --queries " + path("emb.h5") +
              " --top-k 3", dir_);
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find(path("broken.h5") + ": /videos/index is missing"), std::string::npos)
      << r.err;
  // K < 1, and --help.
  r = run(search_args() + " --candidates " + path("emb.h5") + " --queries " + path("emb.h5") +
              " --top-k 0", dir_);
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("--top-k: 0, expected at least 1"), std::string::npos) << r.err;
  r = run("lica_search --help", dir_);
  EXPECT_EQ(r.code, 0);
  EXPECT_NE(r.out.find("--candidates"), std::string::npos);
}

}  // namespace
}  // namespace lica::eval
