#include "common/cpu_memory.h"

#include <limits>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace lica {

bool keep_freed_cpu_memory() {
#if defined(__GLIBC__)
  // Every block from the heap (no mmap), and the heap never trimmed: freed activations are
  // reused by the next step without page faults.
  const bool no_mmap = mallopt(M_MMAP_MAX, 0) == 1;
  const bool no_trim = mallopt(M_TRIM_THRESHOLD, std::numeric_limits<int>::max()) == 1;
  // One arena for every thread. The loader thread allocates each batch and the training
  // thread frees it; in a thread's own arena those 20 MB blocks come from heaps of at most
  // 64 MB that glibc unmaps as soon as they are empty (the trim threshold does not apply), so
  // every batch was faulted in again: the prefetching loader ran at a fifth of a synchronous
  // read on the 2-core machine (build/loader_bench), about 50 ms a batch instead of 5.
  const bool one_arena = mallopt(M_ARENA_MAX, 1) == 1;
  return no_mmap && no_trim && one_arena;
#else
  return false;
#endif
}

}  // namespace lica
