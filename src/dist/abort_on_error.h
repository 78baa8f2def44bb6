// A failing rank ends the whole job (docs/design.md §5): the others would otherwise wait forever in
// their next collective.
#pragma once

#include <functional>

#include "dist/communicator.h"

namespace lica::dist {

// Runs `body`. If it throws in a job of several ranks, logs "rank R: <reason>" and aborts
// every process with exit code 2 (lica::InputError) or 1 (anything else). With one rank the
// exception propagates unchanged (run_program maps it to the exit code).
int run_or_abort(Communicator& comm, const std::function<int()>& body);

}  // namespace lica::dist
