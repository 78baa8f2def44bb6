// lica_loss_bench: time and peak memory of the LICA intra-modal term (one modality),
// forward and backward, direct vs chunked vs fused form, for global batches B. Every form
// starts from the embeddings (the direct and chunked forms build s · V · Tᵀ first).
//   build/lica_loss_bench [--batches 256,1024,4096,8192] [--top-k 16] [--max-gb 12]
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
#include "loss/lica_fused.h"
#include "loss/lica.h"

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

// Runs in the child: one warm-up, then the timed forward and backward.
Figures measure(int64_t batch, int64_t top_k, lica::loss::LicaForm form) {
  using namespace lica::loss;
  torch::manual_seed(0);
  auto unit = [&](int64_t dim) {
    auto x = torch::randn({batch, dim});
    return x / x.norm(2, 1, true);
  };
  auto video = unit(256).requires_grad_(true), text = unit(256).requires_grad_(true);
  const auto scale = torch::scalar_tensor(20.0);
  const auto affinity_rows = unit_rows(torch::randn({batch, 64}));
  LicaOptions o;
  o.top_k = top_k;
  o.form = form;
  const double base = peak_rss_mb();
  Figures f;
  for (int round = 0; round < 2; ++round) {  // round 0 warms up
    video.mutable_grad() = torch::Tensor();
    text.mutable_grad() = torch::Tensor();
    auto t = Clock::now();
    torch::Tensor loss;
    if (form == LicaForm::kFused) {
      loss = fused_intra_consistency_loss(video, text, scale,
                                          lica_pairs(affinity_rows, 0, batch, o), o.divergence,
                                          o.tile_cols);
    } else {
      loss = intra_consistency_loss(torch::log_softmax(scale * video.matmul(text.t()), 1),
                                    affinity_rows.matmul(affinity_rows.t()), o);
    }
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

}  // namespace

int main(int argc, char** argv) {
  lica::init_logging(argv[0]);
  return lica::run_program([&] {
    std::string batches = "256,1024,4096,8192";
    int64_t top_k = 16, threads = 0;
    double max_gb = 12.0;
    lica::CommandLine cli("lica_loss_bench", "[options]",
                          "Time and peak memory of the LICA term, direct vs chunked vs fused form.");
    cli.option("batches", "comma-separated global batch sizes", &batches);
    cli.option("top-k", "neighbours per anchor (0 = all)", &top_k);
    cli.option("max-gb", "skip the direct form above this estimated memory", &max_gb);
    cli.option("threads", "LibTorch threads (0 = default)", &threads);
    if (!cli.parse(argc, argv)) return 0;
    if (threads > 0) torch::set_num_threads(static_cast<int>(threads));
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
        int fds[2];
        if (pipe(fds) != 0) throw lica::Error("pipe failed");
        const pid_t pid = fork();
        if (pid == 0) {
          close(fds[0]);
          const Figures f = measure(b, top_k, form);
          if (write(fds[1], &f, sizeof f) != static_cast<ssize_t>(sizeof f)) _exit(1);
          _exit(0);
        }
        close(fds[1]);
        Figures f;
        const bool ok = read(fds[0], &f, sizeof f) == static_cast<ssize_t>(sizeof f);
        close(fds[0]);
        int status = 0;
        waitpid(pid, &status, 0);
        if (!ok) {
          std::printf("%7lld %8s  failed (out of memory?)\n", static_cast<long long>(b), name);
          continue;
        }
        std::printf("%7lld %8s %11.1f %12.1f %12.0f\n", static_cast<long long>(b), name,
                    f.forward_ms, f.backward_ms, f.peak_mb);
        std::fflush(stdout);
      }
    }
    return 0;
  });
}
