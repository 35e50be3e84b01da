// Thread-count plumbing shared by the kernels: one process-wide setting, read at every call.
#pragma once

#include <chrono>
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

// Cores taken by another process. When another process keeps a core busy, every fork,
// step barrier and join of a team waits for the scheduler to give the team's other thread a
// time slice (milliseconds): a small call on two threads then runs ten times slower than on
// one. A team thread that starts its region, or waits at a step barrier, more than kLateNs
// after its partner shows it; after kLateInWindow such threads within kLateWindowNs the
// process runs every call on one thread for a backoff
// period (kMinBackoffNs, doubling up to kMaxBackoffNs while teams keep coming late), and the
// first team after the period that runs on time resets it. RNNFAST_CONTENTION=off disables
// it (every call gets its team as before). docs/ARCHITECTURE.md, "Time loop".
// A woken idle thread starts within tens of microseconds; a scheduler's time slice is
// milliseconds.
constexpr int64_t kLateNs = 500 * 1000;
constexpr int64_t kLateWindowNs = 100 * 1000 * 1000;  // 3 late threads within 0.1 s: contended
constexpr int kLateInWindow = 3;
constexpr int64_t kMinBackoffNs = 100 * 1000 * 1000;
constexpr int64_t kMaxBackoffNs = 3200 * 1000 * 1000LL;

inline int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

bool cores_contended();                // in the backoff period: run on one thread
void note_late_thread();               // a team thread came kLateNs late (starts the backoff)
void note_team_done(int64_t fork_ns);  // a team forked at fork_ns finished (on time: resets)

// Threads worth using for `flops` of work: 1 when small, already inside a parallel region, or
// while the cores are contended (unless `adaptive` is false: a split forced by a test).
inline int threads_for(double flops, bool adaptive = true) {
#ifdef _OPENMP
  if (omp_in_parallel()) return 1;
  int n = num_threads();
  if (n <= 1 || flops < 2.0e5) return 1;
  if (adaptive && cores_contended()) return 1;
  return n;
#else
  (void)flops;
  (void)adaptive;
  return 1;
#endif
}

// Flush-to-zero (FTZ) and denormals-are-zero (DAZ) on the calling thread for this object's
// lifetime; the thread's previous floating-point control state is restored at destruction.
// Every kernel entry point and every parallel region body holds one, so all threads of a call
// compute without subnormal floats and leave the way they came (docs/NUMERICS.md). Why: a loss
// on the final state alone lets BPTT gradients decay through the subnormal range over the
// steps, where Intel cores take a microcode assist per operation (docs/NUMERICS.md). The flags
// change only values below the smallest normal float (1.2e-38; 2.2e-308 in double), which are
// replaced by zero. A no-op off x86.
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

// The calling thread of a parallel region holds one across the region: it stamps the fork and,
// when a team of threads > 1 finishes, tells whether it ran on time.
class TeamFork {
 public:
  explicit TeamFork(int threads) : t_(threads > 1 ? now_ns() : 0) {}
  ~TeamFork() {
    if (t_) note_team_done(t_);
  }
  int64_t time() const { return t_; }
  TeamFork(const TeamFork&) = delete;
  TeamFork& operator=(const TeamFork&) = delete;

 private:
  int64_t t_;
};

// Every thread of a parallel region holds one for the region's body: FTZ/DAZ (DenormalsOff)
// and, in a team's other threads, the check that they started on time.
class TeamThread {
 public:
  explicit TeamThread(const TeamFork& fork) {
    if (fork.time() && omp_get_thread_num() != 0 && now_ns() - fork.time() > kLateNs)
      note_late_thread();
  }

 private:
  DenormalsOff flush_;
};

}  // namespace detail
}  // namespace rnnfast
