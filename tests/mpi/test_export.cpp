// lica_eval --export and lica_search under mpirun: the embedding file written at W ranks
// (every rank encodes its share of the batches, rank 0 writes) equals the one written by one
// process, bitwise, and so do the search's lines.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <sstream>

#include "data/embedding_file.h"
#include "dist/local_communicator.h"
#include "mpi/mpi_env.h"
#include "support/search_data.h"
#include "eval/export_embeddings.h"
#include "eval/search.h"

namespace lica {
namespace {

namespace fs = std::filesystem;
using testing::comm;

// A fresh folder named by rank 0 (prefix + its pid) and broadcast, so all ranks share it.
std::string shared_temp_dir(const std::string& prefix) {
  std::string dir;
  if (comm().rank() == 0) {
    dir = (fs::temp_directory_path() / (prefix + std::to_string(::getpid()))).string();
    fs::remove_all(dir);
    fs::create_directories(dir);
  }
  dist::broadcast_string(comm(), dir, 0);
  return dir;
}

TEST(Export, EmbeddingFileAtWRanksEqualsOneProcess) {
  const std::string dir = shared_temp_dir("lica_mpi_export_");
  const auto cfg = testing::make_search_data(dir, comm());
  const std::string spec = testing::checkpoint_of(dir).string();
  const auto wide = fs::path(dir) / "w.h5";
  const auto s = eval::export_embeddings(cfg, spec, "test", wide.string(), comm());
  EXPECT_EQ(s.videos, 16);
  if (comm().rank() == 0) {
    dist::LocalCommunicator one;
    const auto single = fs::path(dir) / "w1.h5";
    eval::export_embeddings(cfg, spec, "test", single.string(), one);
    const auto a = data::read_embeddings(wide.string());
    const auto b = data::read_embeddings(single.string());
    const double dv = (a.videos.embeddings - b.videos.embeddings).abs().max().item<double>();
    const double dt = (a.texts.embeddings - b.texts.embeddings).abs().max().item<double>();
    std::printf("export W=%d vs W=1: %lld videos, %lld captions, max |dv| %g, max |dt| %g\n",
                comm().world_size(), static_cast<long long>(a.videos.size()),
                static_cast<long long>(a.texts.size()), dv, dt);
    // Every batch is encoded as at W = 1 (encode_split.h), so the bytes are the same.
    EXPECT_EQ(dv, 0.0);
    EXPECT_EQ(dt, 0.0);
    EXPECT_EQ(a.videos.ids, b.videos.ids);
    EXPECT_EQ(a.videos.index, b.videos.index);
    EXPECT_EQ(a.texts.ids, b.texts.ids);
    EXPECT_EQ(a.texts.index, b.texts.index);
    EXPECT_EQ(a.text_video, b.text_video);
    EXPECT_EQ(a.text_raw, b.text_raw);
    EXPECT_GT(a.texts.size(), 16);
  }
  comm().barrier();
  if (comm().rank() == 0) fs::remove_all(dir);
}

// Both sides encoded from the feature file at W ranks; rank 0 searches and writes. The other
// ranks return without waiting for it (no collective spans rank 0's search).
TEST(Search, LinesAtWRanksEqualOneProcess) {
  const std::string dir = shared_temp_dir("lica_mpi_search_");
  const auto cfg = testing::make_search_data(dir, comm());
  eval::SearchOptions opt;
  opt.checkpoint = testing::checkpoint_of(dir).string();
  opt.queries = opt.candidates = cfg.data.path;
  opt.split = "test";
  opt.top_k = 4;
  for (auto direction : {eval::SearchDirection::kTextToVideo,
                         eval::SearchDirection::kVideoToText}) {
    opt.direction = direction;
    std::ostringstream wide;
    const auto s = eval::run_search(cfg, opt, wide, comm());
    if (comm().rank() != 0) {
      EXPECT_EQ(wide.str(), "") << "only rank 0 writes";
      continue;
    }
    dist::LocalCommunicator one;
    std::ostringstream single;
    eval::run_search(cfg, opt, single, one);
    const bool t2v = direction == eval::SearchDirection::kTextToVideo;
    EXPECT_EQ(t2v ? s.candidates : s.queries, 16);  // the test split's videos
    EXPECT_GT(t2v ? s.queries : s.candidates, 16);  // its captions
    const std::string lines = wide.str();
    EXPECT_EQ(std::count(lines.begin(), lines.end(), '\n'), s.queries);
    EXPECT_EQ(lines, single.str());
  }
  comm().barrier();
  if (comm().rank() == 0) fs::remove_all(dir);
}

}  // namespace
}  // namespace lica
