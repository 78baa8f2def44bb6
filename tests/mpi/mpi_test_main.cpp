// main() of the multi-process tests: ctest starts this binary under `mpirun -np N`; every
// rank runs every test, each comparing the distributed result with the single-process one
// computed on the same rank. A failure on any rank makes mpirun exit non-zero.
//
// `--throw-on-rank R` instead makes rank R throw inside run_or_abort while the others wait
// in a barrier: the job must end (tests/mpi/abort_test.sh checks how).
// `--stall-rank R` makes rank R sleep far past a 2 s collective timeout while the others
// all-reduce: their watchdogs must end the job (tests/mpi/timeout_test.sh).
#include <gtest/gtest.h>

#include <chrono>
#include <cstring>
#include <thread>

#include "common/cli.h"
#include "common/error.h"
#include "common/logging.h"
#include "dist/abort_on_error.h"
#include "mpi/mpi_env.h"

namespace lica::testing {
dist::Communicator* g_comm = nullptr;
}

int main(int argc, char** argv) {
  lica::init_logging(argv[0]);
  if (argc == 3 && std::strcmp(argv[1], "--stall-rank") == 0) {
    const int stalled = std::atoi(argv[2]);
    auto comm = lica::dist::make_communicator("mpi", {/*timeout_s=*/2.0});
    auto t = torch::ones({1024});
    if (comm->rank() == stalled) std::this_thread::sleep_for(std::chrono::seconds(120));
    comm->all_reduce_sum(t);  // never completes on the others: rank `stalled` is away
    return 0;
  }
  auto comm = lica::dist::make_communicator("mpi");
  lica::testing::g_comm = comm.get();
  if (argc == 3 && std::strcmp(argv[1], "--throw-on-rank") == 0) {
    const int bad = std::atoi(argv[2]);
    return lica::run_program([&] {
      return lica::dist::run_or_abort(*comm, [&]() -> int {
        if (comm->rank() == bad) throw lica::Error("injected failure on rank " + std::to_string(bad));
        comm->barrier();  // never returns: rank `bad` does not arrive
        return 0;
      });
    });
  }
  ::testing::InitGoogleTest(&argc, argv);
  if (comm->rank() != 0) {
    // Only rank 0 prints the report; every rank's result still decides its exit code.
    auto& listeners = ::testing::UnitTest::GetInstance()->listeners();
    delete listeners.Release(listeners.default_result_printer());
  }
  const int rc = RUN_ALL_TESTS();
  comm->barrier();
  return rc;
}
