// lica_loss_bench: time and peak memory of the LICA intra-modal term (one modality),
// forward and backward, direct vs chunked vs fused form, for global batches B. Every form
// starts from the embeddings (the direct and chunked forms build s · V · Tᵀ first).
// With --term contrastive: the symmetric InfoNCE instead, direct vs tiled (--tile columns).
// With --term joint: the loss of a large-batch LICA step, W = 1, top_k 8 by default: the
// tiled InfoNCE alone, the tiled InfoNCE plus both fused LICA terms, and the three in one
// pass (loss/contrastive_lica_fused.h); the neighbour pairs are chosen before the clock runs.
// With --term pairs: the fused form's neighbour selection alone (lica_pairs), affinity rows
// whole (one tile of B columns) vs streamed in tiles of --tile columns.
//   build/lica_loss_bench [--batches 256,1024,4096,8192] [--top-k 16] [--max-gb 12]
//   build/lica_loss_bench --term contrastive --batches 16384,32768,65536,131072
//   build/lica_loss_bench --term joint --top-k 8 --tile 1024 --batches 4096,16384
//   build/lica_loss_bench --term pairs --top-k 8 --tile 1024 --batches 16384,65536,262144
// Each measurement runs in a forked child, so its peak resident memory (above the inputs)
// is its own. The direct form is skipped where its [B, k, B] temporaries would pass --max-gb.
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <sstream>

#include "common/cli.h"
#include "common/error.h"
#include "common/logging.h"
#include "loss/contrastive_lica_fused.h"
#include "loss/infonce.h"
#include "loss/infonce_tiled.h"
#include "loss/lica.h"
#include "loss/lica_fused.h"

namespace {

using Clock = std::chrono::steady_clock;

double peak_rss_mb() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_maxrss) / 1024.0;
}

struct Figures {
  double forward_ms = 0, backward_ms = 0, peak_mb = 0;
};

// Random unit rows [batch, dim], the embeddings every measurement starts from.
torch::Tensor unit_embeddings(int64_t batch, int64_t dim) {
  auto x = torch::randn({batch, dim});
  return x / x.norm(2, 1, true);
}

// One warm-up, then the timed forward (`loss()`) and backward into `video` and `text`; the
// peak memory above what was resident before.
template <typename Loss>
Figures timed(torch::Tensor& video, torch::Tensor& text, Loss&& loss_of) {
  const double base = peak_rss_mb();
  Figures f;
  for (int round = 0; round < 2; ++round) {  // round 0 warms up
    video.mutable_grad() = torch::Tensor();
    text.mutable_grad() = torch::Tensor();
    auto t = Clock::now();
    const torch::Tensor loss = loss_of();
    loss.item<float>();
    f.forward_ms = std::chrono::duration<double, std::milli>(Clock::now() - t).count();
    t = Clock::now();
    loss.backward();
    video.grad().sum().item<float>();
    f.backward_ms = std::chrono::duration<double, std::milli>(Clock::now() - t).count();
  }
  f.peak_mb = peak_rss_mb() - base;
  return f;
}

// Runs in the child: the LICA term of one modality in `form`.
Figures measure(int64_t batch, int64_t top_k, lica::loss::LicaForm form) {
  using namespace lica::loss;
  torch::manual_seed(0);
  auto video = unit_embeddings(batch, 256).requires_grad_(true);
  auto text = unit_embeddings(batch, 256).requires_grad_(true);
  const auto scale = torch::scalar_tensor(20.0);
  const auto affinity_rows = unit_rows(torch::randn({batch, 64}));
  LicaOptions o;
  o.top_k = top_k;
  o.form = form;
  return timed(video, text, [&] {
    if (form == LicaForm::kFused) {
      return fused_intra_consistency_loss(video, text, scale,
                                          lica_pairs(affinity_rows, 0, batch, o), o.divergence,
                                          o.tile_cols);
    }
    return intra_consistency_loss(torch::log_softmax(scale * video.matmul(text.t()), 1),
                                  affinity_rows.matmul(affinity_rows.t()), o);
  });
}

// Runs in the child: the symmetric InfoNCE of one process over B pairs (D = 256), direct
// (tile 0) or tiled.
Figures measure_contrastive(int64_t batch, int64_t tile) {
  torch::manual_seed(0);
  auto video = unit_embeddings(batch, 256).requires_grad_(true);
  auto text = unit_embeddings(batch, 256).requires_grad_(true);
  const auto scale = torch::scalar_tensor(20.0);
  return timed(video, text, [&] {
    return tile > 0 ? lica::loss::tiled_infonce_loss(video, text, video, text, scale, 0, tile)
                    : lica::loss::infonce_loss(video, text, scale);
  });
}

// Runs in the child: lica_pairs over all B anchors (D' = 256, chunk_rows 1024) with the
// affinity columns in tiles of `tile` (>= B: whole rows). forward_ms is its time.
Figures measure_pairs(int64_t batch, int64_t top_k, int64_t tile) {
  using namespace lica::loss;
  torch::manual_seed(0);
  const auto unit = unit_embeddings(batch, 256);
  LicaOptions o;
  o.top_k = top_k;
  o.tile_cols = tile;
  const double base = peak_rss_mb();
  Figures f;
  for (int round = 0; round < 2; ++round) {  // round 0 warms up
    const auto t = Clock::now();
    const auto pairs = lica_pairs(unit, 0, batch, o);
    pairs.weight.sum().item<float>();
    f.forward_ms = std::chrono::duration<double, std::milli>(Clock::now() - t).count();
  }
  f.peak_mb = peak_rss_mb() - base;
  return f;
}

// Runs in the child: the step's loss at W = 1 in one of three ways (see --term joint), D = 256;
// the loss is nce + ½ (intra_v + intra_t), as the step weighs it at λ = 1.
Figures measure_joint(int64_t batch, int64_t top_k, int64_t tile, const std::string& way) {
  using namespace lica::loss;
  torch::manual_seed(0);
  auto video = unit_embeddings(batch, 256).requires_grad_(true);
  auto text = unit_embeddings(batch, 256).requires_grad_(true);
  const auto scale = torch::scalar_tensor(20.0);
  LicaOptions o;
  o.top_k = top_k;
  o.tile_cols = tile;
  const auto pairs_v = lica_pairs(unit_rows(video), 0, batch, o);
  const auto pairs_t = lica_pairs(unit_rows(text), 0, batch, o);
  return timed(video, text, [&] {
    if (way == "one-pass") {
      const auto t = fused_contrastive_lica(video, text, scale, 0, batch, pairs_v, pairs_t,
                                            o.divergence, tile);
      return t.nce + 0.5 * (t.intra_video + t.intra_text);
    }
    auto nce = tiled_infonce_loss(video, text, video, text, scale, 0, tile);
    if (way == "nce") return nce;
    return nce + 0.5 * (fused_intra_consistency_loss(video, text, scale, pairs_v, o.divergence, tile) +
                        fused_intra_consistency_loss(text, video, scale, pairs_t, o.divergence, tile));
  });
}

// `measure()` in a forked child, so that its peak memory is its own; false if it died.
template <typename Measure>
bool in_child(Measure&& measure, Figures& f) {
  int fds[2];
  if (pipe(fds) != 0) throw lica::Error("pipe failed");
  const pid_t pid = fork();
  if (pid == 0) {
    close(fds[0]);
    const Figures child = measure();
    if (write(fds[1], &child, sizeof child) != static_cast<ssize_t>(sizeof child)) _exit(1);
    _exit(0);
  }
  close(fds[1]);
  const bool ok = read(fds[0], &f, sizeof f) == static_cast<ssize_t>(sizeof f);
  close(fds[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  return ok;
}

void print(int64_t b, const std::string& name, bool ok, const Figures& f) {
  if (!ok) {
    std::printf("%7lld %8s  failed (out of memory?)\n", static_cast<long long>(b), name.c_str());
  } else {
    std::printf("%7lld %8s %11.1f %12.1f %12.0f\n", static_cast<long long>(b), name.c_str(),
                f.forward_ms, f.backward_ms, f.peak_mb);
  }
  std::fflush(stdout);
}

// The selection table: whole rows and streamed, per B.
void pairs_table(const std::string& batches, int64_t top_k, int64_t tile) {
  std::printf("LICA neighbour selection (lica_pairs), D' = 256, top_k=%lld, chunk_rows 1024, "
              "%d threads\n", static_cast<long long>(top_k), torch::get_num_threads());
  std::printf("%7s %8s %11s %12s %12s\n", "B", "columns", "select_ms", "", "peak_MB");
  std::stringstream list(batches);
  for (std::string item; std::getline(list, item, ',');) {
    const int64_t b = std::stoll(item);
    Figures f;
    print(b, "whole", in_child([&] { return measure_pairs(b, top_k, b); }, f), f);
    print(b, "tile" + std::to_string(tile),
          in_child([&] { return measure_pairs(b, top_k, tile); }, f), f);
  }
}

// The joint table: the tiled InfoNCE alone, with both fused LICA terms apart, in one pass.
void joint_table(const std::string& batches, int64_t top_k, int64_t tile) {
  std::printf("step loss at W = 1 (tiled InfoNCE + fused LICA, JS), float32, D = 256, top_k=%lld, "
              "tile %lld, %d threads\n",
              static_cast<long long>(top_k), static_cast<long long>(tile),
              torch::get_num_threads());
  std::printf("%7s %8s %11s %12s %12s\n", "B", "form", "forward_ms", "backward_ms", "peak_MB");
  std::stringstream list(batches);
  for (std::string item; std::getline(list, item, ',');) {
    const int64_t b = std::stoll(item);
    for (const std::string way : {"nce", "separate", "one-pass"}) {
      Figures f;
      print(b, way, in_child([&] { return measure_joint(b, top_k, tile, way); }, f), f);
    }
  }
}

// The InfoNCE table: direct (skipped above --max-gb) and tiled, per B.
void contrastive_table(const std::string& batches, int64_t tile, double max_gb) {
  std::printf("symmetric InfoNCE, float32, D = 256, tile %lld, %d threads\n",
              static_cast<long long>(tile), torch::get_num_threads());
  std::printf("%7s %8s %11s %12s %12s\n", "B", "form", "forward_ms", "backward_ms", "peak_MB");
  std::stringstream list(batches);
  for (std::string item; std::getline(list, item, ',');) {
    const int64_t b = std::stoll(item);
    // The direct form keeps a few [B, B] float tensors (logits, softmax, gradients: about 4).
    const double direct_gb = 4.0 * 4.0 * static_cast<double>(b) * static_cast<double>(b) / 1e9;
    Figures f;
    if (direct_gb > max_gb) {
      std::printf("%7lld %8s %11s %12s %12s  (skipped: needs about %.0f GB)\n",
                  static_cast<long long>(b), "direct", "-", "-", "-", direct_gb);
    } else {
      print(b, "direct", in_child([&] { return measure_contrastive(b, 0); }, f), f);
    }
    print(b, "tiled", in_child([&] { return measure_contrastive(b, tile); }, f), f);
  }
}

}  // namespace

int main(int argc, char** argv) {
  lica::init_logging(argv[0]);
  return lica::run_program([&] {
    std::string batches = "256,1024,4096,8192";
    std::string term = "lica";
    int64_t top_k = 16, threads = 0, tile = 4096;
    double max_gb = 12.0;
    lica::CommandLine cli("lica_loss_bench", "[options]",
                          "Time and peak memory of the LICA term, direct vs chunked vs fused form.");
    cli.option("batches", "comma-separated global batch sizes", &batches);
    cli.option("top-k", "neighbours per anchor (0 = all)", &top_k);
    cli.option("max-gb", "skip the direct form above this estimated memory", &max_gb);
    cli.option("threads", "LibTorch threads (0 = default)", &threads);
    cli.option("term",
               "lica (the intra-modal term), contrastive (the symmetric InfoNCE), joint (InfoNCE "
               "+ LICA apart and in one pass) or pairs (the fused form's neighbour selection)",
               &term);
    cli.option("tile", "columns per tile: the tiled InfoNCE's (--term contrastive, joint), the "
               "selection's (--term pairs)", &tile);
    if (!cli.parse(argc, argv)) return 0;
    if (threads > 0) torch::set_num_threads(static_cast<int>(threads));
    if (term != "lica" && term != "contrastive" && term != "pairs" && term != "joint") {
      throw lica::InputError("--term: expected lica, contrastive, joint or pairs, got '" + term +
                             "'");
    }
    if (tile < 1) throw lica::InputError("--tile: expected >= 1, got " + std::to_string(tile));
    if (term == "contrastive") {
      contrastive_table(batches, tile, max_gb);
      return 0;
    }
    if (term == "joint") {
      joint_table(batches, top_k, tile);
      return 0;
    }
    if (term == "pairs") {
      pairs_table(batches, top_k, tile);
      return 0;
    }
    std::printf("LICA term, one modality, float32, top_k=%lld, %d threads\n",
                static_cast<long long>(top_k), torch::get_num_threads());
    std::printf("%7s %8s %11s %12s %12s\n", "B", "form", "forward_ms", "backward_ms", "peak_MB");
    std::stringstream list(batches);
    for (std::string item; std::getline(list, item, ',');) {
      const int64_t b = std::stoll(item);
      const int64_t k = (top_k <= 0 || top_k >= b - 1) ? b - 1 : top_k;
      using lica::loss::LicaForm;
      for (auto form : {LicaForm::kDirect, LicaForm::kChunked, LicaForm::kFused}) {
        const char* name = form == LicaForm::kDirect    ? "direct"
                           : form == LicaForm::kChunked ? "chunked"
                                                        : "fused";
        // The direct form keeps several [B, k, B] float tensors for backward (about 8).
        const double direct_gb = 8.0 * 4.0 * static_cast<double>(b * k * b) / 1e9;
        if (form == LicaForm::kDirect && direct_gb > max_gb) {
          std::printf("%7lld %8s %11s %12s %12s  (skipped: needs about %.0f GB)\n",
                      static_cast<long long>(b), name, "-", "-", "-", direct_gb);
          continue;
        }
        Figures f;
        print(b, name, in_child([&] { return measure(b, top_k, form); }, f), f);
      }
    }
    return 0;
  });
}
