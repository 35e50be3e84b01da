// What the ops' front ends share: argument checks (std::invalid_argument naming the argument,
// the expected and the given value), per-thread scratch, and the split of n items over a team.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <exception>
#include <memory>
#include <new>
#include <sstream>
#include <stdexcept>
#include <string>

#include "ops/table.h"
#include "threads.h"

namespace rnnfast {
namespace ops {
namespace detail {

[[noreturn]] inline void fail(const std::string& msg) { throw std::invalid_argument(msg); }

template <typename V>
std::string str(const V& v) {
  std::ostringstream os;
  os << v;
  return os.str();
}

// A size argument >= lo.
inline void check_size(const char* name, int64_t v, int64_t lo, const char* what) {
  if (v < lo) fail(std::string(name) + ": expected " + what + " >= " + str(lo) + ", got " + str(v));
}

// Element counts far from int64 overflow (the product of the given sizes, as doubles).
inline void check_extent(const char* what, double elements) {
  if (elements > 4.0e18) fail(std::string(what) + ": the buffers are too large to address");
}

// A pointer that must be given when its buffer holds elements.
inline void need(const void* p, const char* name, const char* shape, int64_t elements) {
  if (!p && elements > 0)
    fail(std::string(name) + ": expected a " + shape + " buffer, got a null pointer");
}

inline void check_reduction(Reduction r) {
  const int v = static_cast<int>(r);
  if (v < 0 || v > 2) fail("reduction: expected None (0), Mean (1) or Sum (2), got " + str(v));
}

// A real option in [lo, hi] (or [lo, hi) with hi_open); NaN is never valid.
inline void check_real(const char* name, double v, double lo, double hi = HUGE_VAL,
                       bool hi_open = false) {
  const bool bad = !(v >= lo) || (hi_open ? v >= hi : v > hi);
  if (bad) {
    std::string want = hi == HUGE_VAL ? ">= " + str(lo)
                                      : "in [" + str(lo) + ", " + str(hi) + (hi_open ? ")" : "]");
    fail(std::string(name) + ": expected a value " + want + ", got " + str(v));
  }
}

// Scratch memory per OS thread that outlives a call (as rnnfast's Workspace): each slot grows to
// the largest size its thread has needed. Calls from different threads share nothing.
enum OpsSlot : int {
  kSortCounts,
  kSortOrder,
  kRowLoss,
  kBlockIn,
  kBlockOut,
  kBlockOut2,
  kBlockQ,
  kWeightRun,
  kPosWeightRun,
  kNumOpsSlots
};

class OpsScratch {
 public:
  template <typename T>
  T* get(OpsSlot s, size_t n) {
    const size_t bytes = n * sizeof(T) + 64;
    Buf& b = bufs_[s];
    if (b.size < bytes) {
      b.data.reset();
      b.size = 0;
      b.data.reset(new char[bytes]);
      b.size = bytes;
    }
    void* p = b.data.get();
    size_t space = b.size;
    return static_cast<T*>(std::align(64, n * sizeof(T), p, space));
  }

 private:
  struct Buf {
    std::unique_ptr<char[]> data;
    size_t size = 0;
  };
  Buf bufs_[kNumOpsSlots];
};

inline OpsScratch& scratch() {
  static thread_local OpsScratch s;
  return s;
}

// Threads for work of about `ns` nanoseconds on one thread: a team only when a call is long
// enough that its fork and join are noise -- microseconds on an idle machine, but up to a
// scheduler time slice when the cores are shared. Most of these ops are memory-bound, so a
// second core gains them less than 2x even on an idle machine (docs/ARCHITECTURE.md).
constexpr double kMinTeamNs = 1.0e6;
inline int team_for_ns(double ns) {
  return ns < kMinTeamNs ? 1 : rnnfast::detail::threads_for(1.0e30);
}

// Runs body(i0, i1) over [0, n) in nt equal contiguous parts (nt = 1: on the calling thread).
// An exception (std::bad_alloc from scratch) is rethrown after the team has finished.
template <typename F>
void split(int64_t n, int nt, F body) {
  if (nt <= 1 || n <= 1) {
    if (n > 0) body(int64_t(0), n);
    return;
  }
  std::exception_ptr err;
  const rnnfast::detail::TeamFork fork(nt);
#pragma omp parallel num_threads(nt)
  {
    const int64_t t = omp_get_thread_num(), k = omp_get_num_threads();
    const int64_t i0 = n * t / k, i1 = n * (t + 1) / k;
    try {
      const rnnfast::detail::TeamThread member(fork);  // FTZ/DAZ as the calling thread
      if (i1 > i0) body(i0, i1);
    } catch (...) {
#pragma omp critical(rnnfast_ops_split)
      if (!err) err = std::current_exception();
    }
  }
  if (err) std::rethrow_exception(err);
}

}  // namespace detail
}  // namespace ops
}  // namespace rnnfast
