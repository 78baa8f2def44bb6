#include "common/stop_signals.h"

#include <atomic>
#include <stdexcept>

namespace lica {
namespace {

volatile std::sig_atomic_t g_received = 0;
std::atomic<bool> g_installed{false};

extern "C" void record_signal(int sig) { g_received = sig; }

}  // namespace

StopSignals::StopSignals() {
  if (g_installed.exchange(true)) throw std::logic_error("StopSignals: already installed");
  g_received = 0;
  struct sigaction action {};
  action.sa_handler = record_signal;
  sigemptyset(&action.sa_mask);
  action.sa_flags = SA_RESTART;  // blocking I/O and MPI calls carry on; the loop polls
  sigaction(SIGTERM, &action, &old_term_);
  sigaction(SIGUSR1, &action, &old_usr1_);
}

StopSignals::~StopSignals() {
  sigaction(SIGTERM, &old_term_, nullptr);
  sigaction(SIGUSR1, &old_usr1_, nullptr);
  g_installed = false;
}

int StopSignals::received() const { return g_received; }

}  // namespace lica
