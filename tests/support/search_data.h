// Shared by the embedding-file and search tests (one process, and under mpirun): a small
// synthetic feature file and a checkpoint of a briefly trained model on it.
#pragma once

#include <filesystem>
#include <string>

#include "data/synthetic.h"
#include "dist/communicator.h"
#include "run/config.h"
#include "support/synthetic_file.h"
#include "trainer/train.h"

namespace lica::testing {

// 80 videos (16 test videos, ~55 test captions), features of 24 / 20 dims, embeddings of 16;
// eval.batch_size 8 so that the test split is several encoding batches (sharded at W > 1).
inline run::Config search_config(const std::filesystem::path& dir) {
  run::Config c;
  c.data.path = (dir / "s.h5").string();
  c.data.val_split = "";
  c.model.embed_dim = 16;
  c.trainer.epochs = 1;
  c.trainer.batch_size = 24;  // divisible by W = 1..4 (tests/mpi)
  c.trainer.threads = 1;
  c.trainer.device = "cpu";  // up to 4 ranks on one machine (tests/mpi), bitwise comparisons
  c.eval.every_epochs = 0;
  c.eval.batch_size = 8;
  c.checkpoint.every_steps = 0;
  c.run.dir = (dir / "run").string();
  run::validate(c, "search test config");
  return c;
}

// Writes the data into `dir` and trains one epoch (on `comm`'s ranks); returns the config and
// leaves the checkpoint at checkpoint_of(dir).
inline run::Config make_search_data(const std::filesystem::path& dir, dist::Communicator& comm) {
  if (comm.rank() == 0) {
    auto so = testing::synthetic_options(80, 24, 20, /*seed=*/11);
    so.frames = 6;
    so.tokens = 8;
    so.test_fraction = 0.2;
    data::write_synthetic((dir / "s.h5").string(), so);
  }
  comm.barrier();
  const auto cfg = search_config(dir);
  trainer::train(cfg, comm);
  return cfg;
}

inline std::filesystem::path checkpoint_of(const std::filesystem::path& dir) {
  return dir / "run" / "checkpoints" / "latest";
}

}  // namespace lica::testing
