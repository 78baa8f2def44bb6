// dist_bench: throughput and the time split of a data-parallel training step.
//   build/dist_bench [options]                     W = 1
//   mpirun -np 2 build/dist_bench [options]        W = 2 (mpi backend on CPUs)
// Runs --steps steps with the gradient all-reduce overlapped with backward, then --steps
// with every bucket held until backward ends, and prints for each: samples/s and the mean
// milliseconds of data, forward, all-gather, loss, backward, exposed all-reduce wait and
// optimizer; the difference of the two waits is the all-reduce time the overlap hides.
#include <glog/logging.h>

#include <cstdio>
#include <filesystem>

#include "bench_util.h"
#include "common/cli.h"
#include "common/error.h"
#include "common/logging.h"
#include "data/batch.h"
#include "data/feature_file.h"
#include "data/pairing.h"
#include "data/synthetic.h"
#include "dist/all_gather.h"
#include "dist/communicator.h"
#include "dist/gradient_reducer.h"
#include "dist/shard.h"
#include "model/dual_encoder.h"
#include "loss/infonce.h"
#include "trainer/schedule.h"

namespace {

using lica::bench::Clock;
using lica::bench::ms_since;

struct Split {
  double data = 0, forward = 0, gather = 0, loss = 0, backward = 0, wait = 0, optimizer = 0,
         total = 0;
};

}  // namespace

int main(int argc, char** argv) {
  lica::init_logging(argv[0]);
  return lica::run_program([&] {
    int64_t batch = 256, steps = 20, warmup = 3, embed = 256, layers = 2, threads = 0;
    int64_t videos = 4096, video_dim = 512, text_dim = 512, frames = 12, tokens = 32;
    double bucket_mb = 25.0;
    std::string data_path = "/tmp/lica_dist_bench.h5", backend = "auto";
    lica::CommandLine cli("dist_bench", "[options]",
                          "Time split of a data-parallel training step (run under mpirun for W > 1).");
    cli.option("batch", "global batch size", &batch);
    cli.option("steps", "timed steps per mode", &steps);
    cli.option("warmup", "untimed steps first", &warmup);
    cli.option("embed-dim", "embedding size D", &embed);
    cli.option("layers", "seqTransf layers of the video encoder", &layers);
    cli.option("bucket-mb", "gradient bucket size", &bucket_mb);
    cli.option("threads", "LibTorch threads per rank (0 = default)", &threads);
    cli.option("data", "feature file (made if missing)", &data_path);
    cli.option("videos", "videos in a made file", &videos);
    cli.option("video-dim", "Dv of a made file", &video_dim);
    cli.option("text-dim", "Dt of a made file", &text_dim);
    cli.option("frames", "F of a made file", &frames);
    cli.option("tokens", "L of a made file", &tokens);
    cli.option("backend", "auto | local | mpi", &backend);
    if (!cli.parse(argc, argv)) return 0;
    auto comm = lica::dist::make_communicator(backend);
    const int world = comm->world_size();
    if (threads > 0) torch::set_num_threads(static_cast<int>(threads));
    if (batch % world != 0) throw lica::InputError("--batch must be divisible by the world size");
    if (comm->rank() == 0 && !std::filesystem::exists(data_path)) {
      lica::data::SyntheticOptions so;
      so.videos = videos, so.video_dim = video_dim, so.text_dim = text_dim;
      so.frames = frames, so.tokens = tokens, so.min_frames = frames / 2, so.min_tokens = 4;
      so.test_fraction = 0.05, so.val_fraction = 0.05;
      lica::data::write_synthetic(data_path, so);
    }
    comm->barrier();
    const auto file = lica::data::FeatureFile::open(data_path);
    const auto& split = file.split("train");

    torch::manual_seed(0);
    lica::model::DualEncoderOptions o;
    o.video.input_dim = file.video_dim(), o.video.embed_dim = embed;
    o.video.max_frames = file.max_frames(), o.video.layers = layers;
    o.text.input_dim = file.text_dim(), o.text.embed_dim = embed;
    o.text.max_tokens = file.max_tokens();
    lica::model::DualEncoder model(o);
    lica::dist::broadcast_parameters(*comm, model->parameters());
    lica::dist::GradientReducer reducer(*comm, model->parameters(), bucket_mb);
    auto optimizer = lica::trainer::make_adamw(*model, 1e-4, 0.2);
    const auto samples = lica::data::epoch_samples(file, split, lica::data::Pairing::kOneCaption, 0, 0);
    const auto per_epoch = static_cast<int64_t>(samples.size()) / batch;
    if (per_epoch == 0) throw lica::InputError("--batch exceeds the training samples");

    auto run_mode = [&](bool overlap, int64_t count, int64_t first_step) {
      Split s;
      for (int64_t i = 0; i < count; ++i) {
        const int64_t begin = ((first_step + i) % per_epoch) * batch;
        const auto [r0, r1] = lica::dist::shard_range(batch, comm->rank(), world);
        comm->barrier();  // time each step from a common start
        const auto t_step = Clock::now();
        auto t = Clock::now();
        std::vector<int64_t> vrows, trows;
        for (int64_t k = begin + r0; k < begin + r1; ++k) {
          vrows.push_back(samples[static_cast<size_t>(k)].video);
          trows.push_back(samples[static_cast<size_t>(k)].text);
        }
        const auto b = lica::data::make_batch(file, vrows, trows);
        s.data += ms_since(t);
        t = Clock::now();
        auto v = model->encode_video(b.video, b.video_mask);
        auto x = model->encode_text(b.text, b.text_mask);
        s.forward += ms_since(t);
        t = Clock::now();
        auto all_v = lica::dist::all_gather_with_grad(*comm, v);
        auto all_x = lica::dist::all_gather_with_grad(*comm, x);
        s.gather += ms_since(t);
        t = Clock::now();
        auto loss = lica::loss::infonce_loss(v, x, all_v, all_x, model->scale(), r0);
        s.loss += ms_since(t);
        t = Clock::now();
        optimizer->zero_grad();
        reducer.prepare(overlap);
        loss.backward();
        s.backward += ms_since(t);
        t = Clock::now();
        reducer.finish();
        s.wait += ms_since(t);
        t = Clock::now();
        optimizer->step();
        model->clamp_logit_scale();
        s.optimizer += ms_since(t);
        s.total += ms_since(t_step);
      }
      for (double* f : {&s.data, &s.forward, &s.gather, &s.loss, &s.backward, &s.wait,
                        &s.optimizer, &s.total}) {
        *f /= static_cast<double>(count);
      }
      return s;
    };
    run_mode(true, warmup, 0);
    const auto overlapped = run_mode(true, steps, warmup);
    const auto held = run_mode(false, steps, warmup + steps);
    int64_t params = 0;
    for (const auto& p : model->parameters()) params += p.numel();
    if (comm->rank() == 0) {
      std::printf("dist_bench: W=%d backend=%s batch=%lld (%lld per rank) D=%lld layers=%lld "
                  "params=%lld (%.1f MB grads) buckets=%lld threads/rank=%d\n",
                  world, comm->backend().c_str(), static_cast<long long>(batch),
                  static_cast<long long>(batch / world), static_cast<long long>(embed),
                  static_cast<long long>(layers), static_cast<long long>(params),
                  static_cast<double>(params) * 4 / 1e6, static_cast<long long>(reducer.num_buckets()),
                  torch::get_num_threads());
      std::printf("%-22s %9s %7s %8s %7s %7s %9s %8s %8s %8s\n", "mode (ms per step)", "samples/s",
                  "data", "forward", "gather", "loss", "backward", "ar_wait", "optim", "total");
      for (auto [name, s] : {std::pair{"overlapped all-reduce", overlapped},
                             std::pair{"all-reduce after bwd", held}}) {
        std::printf("%-22s %9.0f %7.2f %8.2f %7.2f %7.2f %9.2f %8.2f %8.2f %8.2f\n", name,
                    static_cast<double>(batch) / (s.total / 1e3), s.data, s.forward, s.gather,
                    s.loss, s.backward, s.wait, s.optimizer, s.total);
      }
      std::printf("exposed all-reduce wait: %.2f ms overlapped vs %.2f ms after backward "
                  "(overlap hides %.2f ms per step)\n",
                  overlapped.wait, held.wait, held.wait - overlapped.wait);
    }
    return 0;
  });
}
