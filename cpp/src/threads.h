// Thread-count plumbing shared by the kernels: one process-wide setting, read at every call.
#pragma once

#include <cstdint>
#ifdef _OPENMP
#include <omp.h>
#else
inline int omp_get_thread_num() { return 0; }
inline int omp_get_num_threads() { return 1; }
#endif

namespace rnnfast {
namespace detail {

int num_threads();  // the count set by set_num_threads (default: OpenMP's max threads)

// Threads worth using for `flops` of work: 1 when small or already inside a parallel region.
inline int threads_for(double flops) {
#ifdef _OPENMP
  if (omp_in_parallel()) return 1;
  int n = num_threads();
  if (n <= 1 || flops < 2.0e5) return 1;
  return n;
#else
  (void)flops;
  return 1;
#endif
}

}  // namespace detail
}  // namespace rnnfast
