// loader_bench: can the loader feed training? On a feature file of at least 1 GB (made once,
// then reused), prints
//   - a raw sequential read of the file (warm page cache);
//   - pread(2) of exactly the rows of every batch, without HDF5 or conversion: the ceiling for
//     any loader of scattered rows (float16 stays float16);
//   - the loader reading one epoch of shuffled batches (warm): synchronously with the rows read
//     through H5Dread and by pread (FeatureFile's direct reads), and prefetching with
//     --readers reader threads;
//   - what the demo training step consumes (configs/demo.yaml's model on this file's dims);
//   - training with the prefetching loader: the share of step time spent waiting for data.
//   build/loader_bench [--file /tmp/lica_loader_bench.h5] [--videos 8500] [--batch 256]
//                      [--readers 1] [--json]     --json: the figures as one JSON line too
// Targets (issue 7): warm loader >= 70% of the raw read, and >= 1.5x the step's consumption.
#include <fcntl.h>
#include <hdf5.h>
#include <unistd.h>

#include <algorithm>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <vector>

#include "common/cli.h"
#include "common/cpu_memory.h"
#include "common/logging.h"
#include "data/loader.h"
#include "data/pairing.h"
#include "data/synthetic.h"
#include "data/validate_rows.h"
#include "dist/local_communicator.h"
#include "run/config.h"
#include "run/model_options.h"
#include "trainer/loss_options.h"
#include "trainer/schedule.h"
#include "trainer/step.h"

namespace {

using Clock = std::chrono::steady_clock;
namespace data = lica::data;
namespace tr = lica::trainer;

double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

// Reads the whole file in 8 MB blocks; returns MB/s.
double raw_read_mb_s(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY);
  if (fd < 0) throw lica::Error("cannot open " + path);
  std::vector<char> buf(8 << 20);
  const auto t = Clock::now();
  int64_t total = 0;
  for (ssize_t n; (n = ::read(fd, buf.data(), buf.size())) > 0;) total += n;
  const double s = seconds_since(t);
  ::close(fd);
  return static_cast<double>(total) / 1e6 / s;
}

// The ceiling for any loader of scattered rows: pread(2) of the same rows of every batch at
// the offsets of the contiguous feature datasets, no HDF5 and no conversion. MB/s, warm.
double direct_rows_mb_s(const std::string& path, const std::vector<data::Sample>& samples,
                        int64_t batch, int64_t steps) {
  struct Rows {
    const char* dataset;
    bool video;
  };
  const int fd = ::open(path.c_str(), O_RDONLY);
  if (fd < 0) throw lica::Error("cannot open " + path);
  const hid_t file = H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  double seconds = 0, bytes = 0;
  for (const Rows& r : {Rows{"/videos/features", true}, Rows{"/texts/features", false}}) {
    const hid_t ds = H5Dopen2(file, r.dataset, H5P_DEFAULT);
    const haddr_t offset = H5Dget_offset(ds);  // HADDR_UNDEF unless contiguous
    const hid_t space = H5Dget_space(ds);
    hsize_t dims[3] = {0, 0, 0};
    H5Sget_simple_extent_dims(space, dims, nullptr);
    const hid_t type = H5Dget_type(ds);
    const size_t row_bytes = dims[1] * dims[2] * H5Tget_size(type);
    H5Tclose(type), H5Sclose(space), H5Dclose(ds);
    if (offset == HADDR_UNDEF) throw lica::Error(std::string(r.dataset) + " is not contiguous");
    std::vector<char> buf(static_cast<size_t>(batch) * row_bytes);
    for (int round = 0; round < 2; ++round) {  // round 0 warms the cache
      const auto t = Clock::now();
      for (int64_t s = 0; s < steps; ++s) {
        std::vector<int64_t> rows;
        for (int64_t k = s * batch; k < (s + 1) * batch; ++k) {
          const auto& sample = samples[static_cast<size_t>(k)];
          rows.push_back(r.video ? sample.video : sample.text);
        }
        std::sort(rows.begin(), rows.end());
        for (size_t i = 0; i < rows.size(); ++i) {
          const auto at = static_cast<off_t>(offset + static_cast<haddr_t>(rows[i]) * row_bytes);
          if (::pread(fd, buf.data() + i * row_bytes, row_bytes, at) != static_cast<ssize_t>(row_bytes)) {
            throw lica::Error("short read of " + path);
          }
        }
      }
      if (round == 1) seconds += seconds_since(t), bytes += static_cast<double>(steps * batch * row_bytes);
    }
  }
  H5Fclose(file);
  ::close(fd);
  return bytes / 1e6 / seconds;
}

// This rank's (W = 1) batches of one epoch of `samples`.
data::BatchPlan epoch_plan(const std::vector<data::Sample>& samples, int64_t batch) {
  return [&samples, batch](int64_t step) {
    data::BatchRows rows;
    for (int64_t k = step * batch; k < (step + 1) * batch; ++k) {
      rows.video_rows.push_back(samples[static_cast<size_t>(k)].video);
      rows.text_rows.push_back(samples[static_cast<size_t>(k)].text);
    }
    return rows;
  };
}

}  // namespace

int main(int argc, char** argv) {
  lica::keep_freed_cpu_memory();  // as lica_dist_train: the loader's batches reuse freed memory
  lica::init_logging(argv[0]);
  return lica::run_program([&] {
    std::string path = "/tmp/lica_loader_bench.h5", config = "configs/demo.yaml";
    int64_t videos = 8500, batch = 256, depth = 4, train_steps = 12, readers = 1;
    bool json = false;
    lica::CommandLine cli("loader_bench",
                          "[--file PATH] [--videos N] [--batch B] [--depth D] [--readers R] "
                          "[--config FILE] [--json]",
                          "Loader throughput against a raw read of the same file and against what\n"
                          "the training step consumes (see the header of bench/loader_bench.cpp).");
    cli.option("file", "feature file; made if missing (float16, 12 frames, 32 tokens, 512 dims)", &path);
    cli.option("videos", "videos when making the file (8500 gives about 1.1 GB)", &videos);
    cli.option("batch", "global batch", &batch);
    cli.option("depth", "prefetch queue depth", &depth);
    cli.option("readers", "reader threads of the prefetching loader (data.reader_threads)", &readers);
    cli.flag("json", "also print the figures as one JSON line (scripts/gpu_check.sh)", &json);
    cli.option("config", "config whose model is the training step", &config);
    cli.option("train-steps", "training steps timed", &train_steps);
    if (!cli.parse(argc, argv)) return lica::kExitOk;

    if (!std::filesystem::exists(path)) {
      data::SyntheticOptions so;
      so.videos = videos;
      so.frames = 12, so.tokens = 32, so.video_dim = 512, so.text_dim = 512;
      so.min_tokens = 8;
      const auto t = Clock::now();
      data::write_synthetic(path, so);
      std::printf("made %s in %.0f s\n", path.c_str(), seconds_since(t));
    }
    const auto file_bytes = static_cast<double>(std::filesystem::file_size(path));
    raw_read_mb_s(path);  // warm the page cache
    const double raw = raw_read_mb_s(path);

    const auto file = data::FeatureFile::open(path);
    const auto& split = file.split("train");
    const auto samples = data::epoch_samples(file, split, data::Pairing::kOneCaption, 1, 0);
    const int64_t steps = static_cast<int64_t>(samples.size()) / batch;
    // Bytes stored per sample: one video row and one caption row (float16 = 2 bytes).
    const double sample_bytes = 2.0 * static_cast<double>(file.max_frames() * file.video_dim() +
                                                          file.max_tokens() * file.text_dim());
    std::printf("file %s: %.2f GB, %lld videos, %lld captions, F=%lld L=%lld Dv=%lld Dt=%lld; "
                "%lld train batches of %lld (%.2f MB each)\n",
                path.c_str(), file_bytes / 1e9, static_cast<long long>(file.num_videos()),
                static_cast<long long>(file.num_texts()), static_cast<long long>(file.max_frames()),
                static_cast<long long>(file.max_tokens()), static_cast<long long>(file.video_dim()),
                static_cast<long long>(file.text_dim()), static_cast<long long>(steps),
                static_cast<long long>(batch), sample_bytes * static_cast<double>(batch) / 1e6);

    const auto loader_rate = [&](const data::FeatureFile& from, int64_t d, int64_t threads) {
      double rate = 0;
      for (int round = 0; round < 2; ++round) {  // round 0 warms the cache
        data::PrefetchLoader loader(from, epoch_plan(samples, batch), 0, steps, {d, false, threads});
        const auto t = Clock::now();
        for (int64_t s = 0; s < steps; ++s) loader.next();
        rate = static_cast<double>(steps * batch) / seconds_since(t);
      }
      return rate;  // samples/s
    };
    const double sync_rate = loader_rate(file, 0, 1);
    const double prefetch_rate = loader_rate(file, depth, readers);
    auto through_hdf5 = data::FeatureFile::open(path);
    through_hdf5.set_direct_reads(false);
    const double hdf5_rate = loader_rate(through_hdf5, 0, 1);
    const double direct = direct_rows_mb_s(path, samples, batch, steps);

    // The demo training step on this file's dims, on batches already in memory.
    auto cfg = lica::run::load_config(config);
    cfg.data.path = path;
    cfg.trainer.batch_size = batch;
    lica::run::validate(cfg, config);
    lica::model::DualEncoder model(lica::run::dual_encoder_options(cfg, file));
    auto optimizer = tr::make_adamw(*model, cfg.trainer.lr, cfg.trainer.weight_decay);
    lica::dist::LocalCommunicator comm;
    const auto loss_opt = tr::loss_options(cfg);
    const auto train_step = [&](const data::Batch& b) {
      const auto losses = tr::step_losses(model, nullptr, comm, b, 0, loss_opt);
      optimizer->zero_grad();
      losses.total.backward();
      optimizer->step();
    };
    const int64_t timed = std::min(train_steps, steps);
    std::vector<data::Batch> in_memory;
    {
      data::PrefetchLoader loader(file, epoch_plan(samples, batch), 0, timed, {0});
      for (int64_t s = 0; s < timed; ++s) in_memory.push_back(loader.next());
    }
    train_step(in_memory[0]);  // warm-up
    auto t = Clock::now();
    for (const auto& b : in_memory) train_step(b);
    const double step_rate = static_cast<double>(timed * batch) / seconds_since(t);

    // Training fed by the prefetching loader: how long does the step wait for data?
    data::PrefetchLoader loader(file, epoch_plan(samples, batch), 0, timed, {depth, false, readers});
    t = Clock::now();
    for (int64_t s = 0; s < timed; ++s) train_step(loader.next());
    const double fed_s = seconds_since(t);

    // data.validate full: every row of every split checked before training, warm (the file's
    // bytes, as stored, over the time).
    const auto check = data::check_rows_finite(file, data::rows_of_splits(file, file.split_names()));
    const double validate = check.megabytes / check.seconds;

    const auto mb = [&](double samples_per_s) { return samples_per_s * sample_bytes / 1e6; };
    std::printf("\n%-44s %12s %10s %10s\n", "", "samples/s", "MB/s", "vs raw");
    std::printf("%-44s %12s %10.0f %9.0f%%\n", "raw sequential read (warm)", "-", raw, 100.0);
    std::printf("%-44s %12s %10.0f %9.0f%%\n", "data.validate full, every split row (warm)", "-",
                validate, 100 * validate / raw);
    std::printf("%-44s %12.0f %10.0f %9.0f%%\n", "pread of the batches' rows, no HDF5 (warm)",
                direct * 1e6 / sample_bytes, direct, 100 * direct / raw);
    std::printf("%-44s %12.0f %10.0f %9.0f%%\n", "loader, synchronous, rows through H5Dread",
                hdf5_rate, mb(hdf5_rate), 100 * mb(hdf5_rate) / raw);
    std::printf("%-44s %12.0f %10.0f %9.0f%%\n",
                file.reads_directly() ? "loader, synchronous, rows by pread (warm)"
                                      : "loader, synchronous (warm)",
                sync_rate, mb(sync_rate), 100 * mb(sync_rate) / raw);
    std::printf("%-44s %12.0f %10.0f %9.0f%%\n",
                ("loader, prefetch depth " + std::to_string(depth) + ", " +
                 std::to_string(readers) + " reader" + (readers > 1 ? "s" : "") + " (warm)")
                    .c_str(),
                prefetch_rate, mb(prefetch_rate), 100 * mb(prefetch_rate) / raw);
    std::printf("%-44s %12.0f %10.0f %9.0f%%\n",
                ("demo training step (" + std::to_string(torch::get_num_threads()) + " threads)").c_str(),
                step_rate, mb(step_rate), 100 * mb(step_rate) / raw);
    std::printf("\nloader / step consumption: %.1fx (target >= 1.5x)\n", prefetch_rate / step_rate);
    std::printf("loader / raw read: %.0f%% (target >= 70%%)\n", 100 * mb(prefetch_rate) / raw);
    std::printf("training fed by the loader: %lld steps in %.2f s, waiting for data %.3f s (%.1f%%)\n",
                static_cast<long long>(timed), fed_s, loader.wait_seconds(),
                100 * loader.wait_seconds() / fed_s);
    if (json) {
      std::printf("{\"bench\": \"loader_bench\", \"batch\": %lld, \"readers\": %lld, "
                  "\"depth\": %lld, \"sample_bytes\": %.0f, \"samples_per_s\": %.1f, "
                  "\"sync_samples_per_s\": %.1f, \"hdf5_samples_per_s\": %.1f, "
                  "\"pread_samples_per_s\": %.1f}\n",
                  static_cast<long long>(batch), static_cast<long long>(readers),
                  static_cast<long long>(depth), sample_bytes, prefetch_rate, sync_rate, hdf5_rate,
                  direct * 1e6 / sample_bytes);
    }
    return lica::kExitOk;
  });
}
