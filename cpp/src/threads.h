// Thread-count plumbing shared by the kernels: one process-wide setting, read at every call.
#pragma once

#include <cstdint>
#if defined(__x86_64__) || defined(_M_X64) || defined(__SSE__)
#include <xmmintrin.h>
#define RNNFAST_HAS_MXCSR 1
#endif
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

// Flush-to-zero (FTZ) and denormals-are-zero (DAZ) on the calling thread for this object's
// lifetime; the thread's previous floating-point control state is restored at destruction.
// Every kernel entry point and every parallel region body holds one, so all threads of a call
// compute without subnormal floats and leave the way they came (docs/NUMERICS.md). Why: a loss
// on the final state alone lets BPTT gradients decay through the subnormal range over the
// steps, where Intel cores take a microcode assist per operation (docs/NUMERICS.md). The flags change only values below the smallest normal float (1.2e-38;
// 2.2e-308 in double), which are replaced by zero. A no-op off x86.
class DenormalsOff {
 public:
  DenormalsOff() {
#ifdef RNNFAST_HAS_MXCSR
    saved_ = _mm_getcsr();
    if ((saved_ & kFlags) != kFlags) _mm_setcsr(saved_ | kFlags);
#endif
  }
  ~DenormalsOff() {
#ifdef RNNFAST_HAS_MXCSR
    if ((saved_ & kFlags) != kFlags) _mm_setcsr(saved_);
#endif
  }
  DenormalsOff(const DenormalsOff&) = delete;
  DenormalsOff& operator=(const DenormalsOff&) = delete;

 private:
#ifdef RNNFAST_HAS_MXCSR
  static constexpr unsigned kFlags = 0x8040;  // MXCSR bit 15 FTZ, bit 6 DAZ
  unsigned saved_ = 0;
#endif
};

}  // namespace detail
}  // namespace rnnfast
