// Shared by the resume tests (one process, and under mpirun): a small synthetic run, and
// readers of what it leaves behind.
#pragma once

#include <yaml-cpp/yaml.h>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "common/stop_signals.h"
#include "data/synthetic.h"
#include "run/config.h"
#include "trainer/train.h"

namespace lica::testing {

// 400 videos: 280 train, batch 24 (divisible by W = 1..4): 11 steps per epoch, 4 epochs = 44
// steps, validation after each epoch. Dropout is on, so a resume must restore the generator.
inline run::Config resume_config(const std::filesystem::path& data, const std::filesystem::path& run,
                                     double dropout = 0.1) {
  run::Config c;
  c.data.path = data.string();
  c.model.embed_dim = 32;
  c.model.dropout = dropout;
  c.trainer.epochs = 4;
  c.trainer.batch_size = 24;
  c.trainer.lr = 2e-3;
  c.trainer.log_every = 1;
  c.trainer.threads = 1;
  c.trainer.device = "cpu";  // the bitwise claims are the CPU's (test_device.cpp has CUDA's)
  c.checkpoint.every_steps = 10;
  c.checkpoint.keep_last = 2;
  c.run.dir = run.string();
  run::validate(c, "resume test config");
  return c;
}

inline void write_resume_data(const std::filesystem::path& path) {
  data::SyntheticOptions so;
  so.videos = 400;
  so.seed = 3;
  data::write_synthetic(path.string(), so);
}

constexpr int64_t kResumeTotalSteps = 44;

// Trains with SIGTERM raised (a real signal, through StopSignals) on rank `signal_rank`
// right after step `stop_at`.
inline trainer::TrainSummary train_until_signal(const run::Config& cfg, dist::Communicator& comm,
                                               int64_t stop_at, int signal_rank) {
  StopSignals signals;
  trainer::TrainOptions options;
  options.stop_requested = [&] { return signals.received() != 0; };
  options.after_step = [&](int64_t done) {
    if (done == stop_at && comm.rank() == signal_rank) std::raise(SIGTERM);
  };
  return trainer::train(cfg, comm, options);
}

inline trainer::TrainSummary resume_latest(const run::Config& cfg, dist::Communicator& comm) {
  trainer::TrainOptions options;
  options.resume = "latest";
  return trainer::train(cfg, comm, options);
}

inline std::vector<YAML::Node> read_records(const std::filesystem::path& run) {
  std::vector<YAML::Node> records;
  std::ifstream in(run / "metrics.jsonl");
  for (std::string line; std::getline(in, line);) records.push_back(YAML::Load(line));
  return records;
}

// The records with the timings (samples_per_s, step_s, data_wait_s) removed, as text, for exact comparison.
inline std::vector<std::string> comparable_records(const std::filesystem::path& run) {
  std::vector<std::string> out;
  for (auto r : read_records(run)) {
    r.remove("samples_per_s");
    r.remove("step_s");
    r.remove("data_wait_s");
    YAML::Emitter e;
    e << YAML::Flow << r;
    out.push_back(e.c_str());
  }
  return out;
}

}  // namespace lica::testing
