// Graceful stop on SIGTERM and SIGUSR1 (docs/design.md §6): the handler only records the signal; the
// training loop polls requested() at step boundaries, agrees with the other ranks, writes a
// checkpoint and exits with kExitRequeue. The flag is process-wide because a signal handler
// can reach nothing else; at most one StopSignals may exist at a time.
#pragma once

#include <csignal>

namespace lica {

class StopSignals {
 public:
  // Installs the handlers; the destructor restores the previous ones.
  StopSignals();
  ~StopSignals();
  StopSignals(const StopSignals&) = delete;
  StopSignals& operator=(const StopSignals&) = delete;

  // The signal received since construction (SIGTERM or SIGUSR1), or 0.
  int received() const;

 private:
  struct sigaction old_term_ {}, old_usr1_ {};
};

}  // namespace lica
