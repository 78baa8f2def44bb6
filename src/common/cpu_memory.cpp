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
  return no_mmap && no_trim;
#else
  return false;
#endif
}

}  // namespace lica
