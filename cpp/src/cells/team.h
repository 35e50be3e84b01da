// How a time loop is split over an OpenMP team. One parallel region spans the whole loop.
//  - units: every thread owns a slice of the hidden units with all G gates of each unit
//    (so the fused cell update needs nothing from other threads) and its slice of W_hh stays
//    in its own cache; one barrier per step publishes the new h.
//  - batch: every thread owns a slice of the batch rows and runs them through all steps with
//    the whole W_hh: no synchronisation at all.
// Chosen by a cost model (below) or RNNFAST_TIME_PARALLEL=units|batch.
#pragma once

#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <thread>

#include "cells/common.h"
#include "threads.h"

namespace rnnfast {
namespace detail {

struct Split {
  int threads = 1;
  bool by_units = true;  // else by batch rows
};

// A step's recurrent product must be worth a barrier: below this many flops per step (well
// under a microsecond of one core) the team costs more than it saves; just above it two
// threads already win (docs/ARCHITECTURE.md, "Time loop").
constexpr double kMinStepFlops = 1.0e5;

// prefer_rows (the kRowNorm cells): split by batch rows whenever every thread gets at least two
// rows, since by units every row normalization needs the other threads' partial sums behind
// a barrier of its own (two or three more per step); by rows it is local to each thread.
inline Split choose_split(int64_t B, int64_t H, int64_t Ho, int G, size_t elem, int64_t T,
                          bool prefer_rows = false) {
  Split s;
  // RNNFAST_TIME_PARALLEL=units|batch forces that split over all threads (tests, benchmarks).
  const char* env = std::getenv("RNNFAST_TIME_PARALLEL");
  const bool force_units = env && std::strcmp(env, "units") == 0;
  const bool force_batch = env && std::strcmp(env, "batch") == 0;
  if (force_units || force_batch) {
    s.threads = threads_for(1e30, /*adaptive=*/false);
    s.by_units = !(force_batch && B >= s.threads);
    return s;
  }
  const double step_flops = 2.0 * B * G * H * Ho;
  s.threads = step_flops < kMinStepFlops ? 1 : threads_for(step_flops * T);
  if (s.threads <= 1) return s;
  if (prefer_rows && B >= 2 * s.threads) {
    s.by_units = false;
    return s;
  }
  // Batch rows need enough rows per thread to fill the micro-kernel's tile (>= 16) and the
  // whole recurrent weight must fit a core's L2 cache (about 1 MB) as each thread streams all
  // of it at every step; otherwise the unit split halves each thread's weights.
  // 1 MiB still counts: at LSTM B=64, H=256 (exactly 1 MiB of W_hh) the batch split wins
  // (docs/ARCHITECTURE.md).
  const double weight_bytes = static_cast<double>(G) * H * Ho * elem;
  const bool rows_enough = B / s.threads >= 16;
  s.by_units = !(rows_enough && weight_bytes <= 1.1e6);
  if (s.by_units && H < 16 * s.threads) {  // too few units to split: use rows if any
    if (B >= s.threads) s.by_units = false;
  }
  return s;
}

// The per-step barrier of a time loop. Each thread counts its arrivals in a cache line of its
// own and waits until every other thread's count has caught up with its own: one line changes
// hands per thread and step (a shared counter and generation flag took two to three, and
// their contention: half the barrier's cost, docs/ARCHITECTURE.md). Counts only grow, so a fast
// thread can never mistake the next step's arrival for this one's, and a thread leaves step s only
// once all have arrived at it. It spins briefly (a step's partner usually arrives within
// microseconds) and then yields the core instead of spinning on: on a loaded machine a waiting
// thread that keeps spinning takes the very core its late partner needs.
class StepBarrier {
 public:
  // For a team of up to n threads.
  explicit StepBarrier(int n) : count_(n > 1 ? new Count[n] : nullptr) {}
  // Thread tid of the team's nth (nth <= n: the team the runtime actually gave).
  void wait(int tid, int nth) {
    if (nth <= 1 || !count_) return;
    const int64_t mine = count_[tid].v.load(std::memory_order_relaxed) + 1;
    count_[tid].v.store(mine, std::memory_order_release);
    for (int j = 0; j < nth; ++j) {
      if (j == tid) continue;
      int64_t since = 0;  // when the spinning ended
      bool late = false;
      for (int i = 0; count_[j].v.load(std::memory_order_acquire) < mine; ++i) {
        if (i < kSpins) {
#if defined(__x86_64__) || defined(__i386__)
          __builtin_ia32_pause();
#endif
        } else {
          // A partner this late has lost its core to another process (threads.h).
          if (!since)
            since = now_ns();
          else if (!late && now_ns() - since > kLateNs) {
            late = true;
            note_late_thread();
          }
          std::this_thread::yield();
        }
      }
    }
  }

 private:
  static constexpr int kSpins = 4000;  // a few microseconds of pause instructions
  struct alignas(128) Count {          // two lines: the adjacent-line prefetcher pairs them
    std::atomic<int64_t> v{0};
  };
  std::unique_ptr<Count[]> count_;  // one per thread; none for a team of one
};

// [lo, hi) of n items for thread t of nt, in multiples of `align` where possible.
inline void slice(int64_t n, int t, int nt, int64_t align, int64_t* lo, int64_t* hi) {
  const int64_t blocks = (n + align - 1) / align;
  const int64_t b0 = blocks * t / nt, b1 = blocks * (t + 1) / nt;
  *lo = b0 * align < n ? b0 * align : n;
  *hi = b1 * align < n ? b1 * align : n;
}

// What thread tid of nth owns: rows [b0, b1), hidden units [u0, u1), output columns [v0, v1).
struct Share {
  int64_t b0, b1, u0, u1, v0, v1;
};

inline Share share_of(const Split& sp, int tid, int nth, int64_t B, int64_t H, int64_t Ho) {
  Share s{0, B, 0, H, 0, Ho};
  if (nth > 1) {
    if (sp.by_units) {
      slice(H, tid, nth, 16, &s.u0, &s.u1);
      slice(Ho, tid, nth, 16, &s.v0, &s.v1);
    } else {
      slice(B, tid, nth, 1, &s.b0, &s.b1);
    }
  }
  return s;
}

// The slots thread tid of nth works on in a time loop (common.h, ThreadSlots).
inline ThreadSlots slots_of(const Split& sp, const Share& sh, const Layout& L, int tid, int nth) {
  ThreadSlots t;
  if (nth > 1 && !sp.by_units) {
    if (L.packed) {
      t.f = tid;
      t.q = nth;
    } else {
      t.f = sh.b0;
      t.fixed = sh.b1 - sh.b0;
    }
  } else if (!L.packed) {
    t.fixed = L.B;
  }
  return t;
}

// Runs team(tid, nth) on sp.threads threads, or inline as (0, 1) with one: no parallel region
// to enter, and ids of an outer team (the caller may be one of its threads) never leak in.
template <typename F>
void run_team(const Split& sp, F&& team) {
  if (sp.threads > 1) {
    const TeamFork fork(sp.threads);
#pragma omp parallel num_threads(sp.threads)
    {
      const TeamThread member(fork);
      team(omp_get_thread_num(), omp_get_num_threads());
    }
  } else {
    team(0, 1);
  }
}

}  // namespace detail
}  // namespace rnnfast
