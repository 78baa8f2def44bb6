// Error types shared by every layer. Programs map them to exit codes at main():
// InputError (bad config, bad data, bad arguments) -> 2, anything else -> 1.
#pragma once

#include <stdexcept>
#include <string>

namespace lica {

// An internal failure: a bug or an environment problem the user's input did not cause.
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// The user's input is wrong. The message names the file, dataset or key, the value and
// what was expected.
class InputError : public Error {
 public:
  using Error::Error;
};

// Exit codes of every lica program.
constexpr int kExitOk = 0;
constexpr int kExitInternal = 1;
constexpr int kExitBadInput = 2;
// Stopped by SIGTERM/SIGUSR1 after writing a checkpoint: requeue and resume (EX_TEMPFAIL).
constexpr int kExitRequeue = 75;

}  // namespace lica
