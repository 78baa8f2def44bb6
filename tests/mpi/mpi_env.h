// The communicator of the multi-process test binary (set up in mpi_test_main.cpp).
#pragma once

#include "dist/communicator.h"

namespace lica::testing {
extern dist::Communicator* g_comm;
inline dist::Communicator& comm() { return *g_comm; }
}  // namespace lica::testing
