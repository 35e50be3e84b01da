// Drivers of the scan cells (CellTraits::kRecurrence == kScan): MINGRU and MINLSTM, the
// sequential mode of Feng et al. 2024, "Were RNNs All We Needed?". Their gates read x_t only,
// so every step is, per unit, h_t = a_t * h_{t-1} + b_t with a_t in (0, 1): a linear scan.
//   MINGRU   z = sigmoid(P_z), h~ = P_h:            a = 1 - z,      b = z * h~
//   MINLSTM  f = sigmoid(P_f), i = sigmoid(P_i), h~ = P_h:
//                                                   a = f / (f + i), b = i / (f + i) * h~
// with P = X W_ih^T + b_ih.
// Forward: 1. P over all positions in one GEMM; 2. the gates, elementwise, turning each row of
// P into (a, b) in place and saving the activated gates in the reserve when training; 3. the
// scan. Backward: the adjoint scan g_t = dy_t + a_{t+1} g_{t+1} (g at a sequence's last step
// takes dh_n) backward in time, the gates' derivatives dP per position, then dW_ih += dP^T X
// (db_ih: dP's column sums), dx = dP W_ih, each one product over all positions.
// The scans are split over the team one of two ways (ScanSplit):
//  - by units: each thread owns blocks of (sequence, unit) chains and runs all their steps,
//    with no barrier. A chain is computed by one thread, step by step: bitwise the same
//    result for any thread count, and the same as one call per step (T = 1, h0 = h_n).
//  - by time: the steps are cut into chunks, their number set by T alone (never by the thread
//    count). Each thread composes its chunks' effect on every chain, h_end = A * h_start + B
//    (A the product of the chunk's a, B its end state from h_start = 0), a short sequential
//    pass carries the true start state from chunk to chunk, and each thread re-runs its chunks
//    from it: twice the elementwise work, on all threads, when a few chains (batch 1) cannot
//    keep the team busy over a long T. Bitwise the same for any thread count; against one call
//    per step, the chunks' start states differ by rounding (A * h + B, not step by step).
// The split follows the shape alone (plan_scan), so a call's results never depend on the
// thread count.
// A long product A of gates in (0, 1) underflows towards 0, and to 0 with subnormals flushed:
// that is the correct limit (the chunk's end state no longer depends on its start), so no log
// space is needed (docs/NUMERICS.md).
// RNNFAST_SCAN=units|time forces a split (read once per process); otherwise plan_scan.
// What this does not do: recurrent dropout (there is no recurrent product for h_mask to act
// on: rejected), a cell state, a projection.
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <string>
#include <type_traits>

#include "cells/common.h"
#include "cells/elementwise.h"
#include "cells/pointwise_table.h"
#include "cells/precision.h"
#include "cells/team.h"
#include "cells/traits.h"
#include "gemm/gemm.h"
#include "threads.h"
#include "workspace.h"

namespace rnnfast {
namespace detail {
namespace {

// Units per chain block of the split by units (a cache line of floats).
constexpr int64_t kUnitBlock = 16;
// The split by time: at most kMaxChunks chunks, of at least kMinChunk steps.
constexpr int64_t kMaxChunks = 64;
constexpr int64_t kMinChunk = 4;
// Units per block of the gates' elementwise pass (a stack buffer per gate).
constexpr int64_t kGateBlock = 256;

enum class ScanSplit { kUnits, kTime };

// RNNFAST_SCAN: 0 unset (by shape), 1 units, 2 time. Read once per process.
int scan_override() {
  static const int v = [] {
    const char* e = std::getenv("RNNFAST_SCAN");
    if (e && std::strcmp(e, "units") == 0) return 1;
    if (e && std::strcmp(e, "time") == 0) return 2;
    return 0;
  }();
  return v;
}

// The split by time is chosen for a few chains over many steps: at most kTimeMaxBlocks blocks
// of kUnitBlock units in all (batch 1 or 2 of a small layer) and at least kTimeMinSteps steps.
// Per thread, the split by units runs ceil(blocks / nth) chain blocks of T steps and the split
// by time 2 * blocks / nth (each chunk runs twice), so with that few blocks time wins from
// about 2 * blocks threads on, and on one thread costs twice the scan's elementwise work, which
// at that size is small. The choice depends on the shape alone, never on the thread count:
// results are bitwise the same for any thread count.
constexpr int64_t kTimeMaxBlocks = 2;
constexpr int64_t kTimeMinSteps = 512;

// The team and the split of a scan of `flops`. A forced split (RNNFAST_SCAN) takes every
// thread, as a forced RNNFAST_TIME_PARALLEL does (team.h).
struct ScanPlan {
  int threads = 1;
  ScanSplit split = ScanSplit::kUnits;
};

ScanPlan plan_scan(int64_t B, int64_t H, int64_t NT, double flops) {
  ScanPlan p;
  const int o = scan_override();
  if (o != 0) {
    p.threads = threads_for(1e30, /*adaptive=*/false);
    p.split = o == 1 ? ScanSplit::kUnits : ScanSplit::kTime;
    return p;
  }
  p.threads = threads_for(flops);
  const int64_t blocks = B * ((H + kUnitBlock - 1) / kUnitBlock);
  if (blocks <= kTimeMaxBlocks && NT >= kTimeMinSteps) p.split = ScanSplit::kTime;
  return p;
}

// The chunks of the split by time: n of cl steps (the last one shorter).
struct Chunks {
  int64_t cl = 1, n = 1;
  explicit Chunks(int64_t NT) {
    cl = std::max<int64_t>(kMinChunk, (NT + kMaxChunks - 1) / kMaxChunks);
    n = (NT + cl - 1) / cl;
  }
};

template <typename T, typename K>
void reject_h_mask(const T* h_mask) {
  if (h_mask)
    throw std::invalid_argument(std::string("h_mask: expected none (") + K::kName +
                                "'s gates read x only: no recurrent product for a dropout mask "
                                "on h_{t-1}), got a pointer");
}

// a of one position, unit k, from the saved gates (row g, gate stride H).
template <typename T, typename K>
inline T coef_a(const T* g, int64_t H, int64_t k) {
  if constexpr (K::kCell == Cell::MINGRU) {
    return T(1) - g[k];
  } else {
    return g[k] / (g[k] + g[H + k]);
  }
}

// The gates of one row of P (gate stride H, units [0, H)): the activated gates to sg (when
// training; stride H), and P's first two blocks overwritten with a and b.
template <typename T, typename K>
void gate_row(const PointwiseTable<T>& pw, T* p, int64_t H, T* sg) {
  alignas(64) T s0[kGateBlock];
  alignas(64) T s1[kGateBlock];
  for (int64_t k0 = 0; k0 < H; k0 += kGateBlock) {
    const int64_t m = std::min(kGateBlock, H - k0);
    if constexpr (K::kCell == Cell::MINGRU) {
      T* pa = p + k0;
      T* pb = p + H + k0;
      pw.eval(0, m, pa, s0);  // z
      for (int64_t k = 0; k < m; ++k) {
        const T z = s0[k], ht = pb[k];
        if (sg) {
          sg[k0 + k] = z;
          sg[H + k0 + k] = ht;
        }
        pa[k] = T(1) - z;
        pb[k] = z * ht;
      }
    } else {
      T* pa = p + k0;
      T* pb = p + H + k0;
      const T* ph = p + 2 * H + k0;
      pw.eval(0, m, pa, s0);  // f
      pw.eval(0, m, pb, s1);  // i
      for (int64_t k = 0; k < m; ++k) {
        const T f = s0[k], i = s1[k], ht = ph[k];
        if (sg) {
          sg[k0 + k] = f;
          sg[H + k0 + k] = i;
          sg[2 * H + k0 + k] = ht;
        }
        const T s = f + i;
        pa[k] = f / s;
        pb[k] = i / s * ht;
      }
    }
  }
}

// dP of one position for units [u0, u1) from g = dL/dh_t, the saved gates (stride H) and the
// state h_{t-1} the step read. Returns nothing; a of the position is coef_a.
//   MINGRU:  dP_z = g (h~ - h_{t-1}) z (1 - z),  dP_h = g z
//   MINLSTM: with s = f + i, h = f/s h_{t-1} + i/s h~:
//            dL/df = g i (h_{t-1} - h~) / s^2,  dL/di = g f (h~ - h_{t-1}) / s^2,
//            dP_f = dL/df f (1 - f),  dP_i = dL/di i (1 - i),  dP_h = g i / s
template <typename T, typename K>
inline void dgate(const T* sg, int64_t H, const T* hp, int64_t k, T g, T* dp) {
  if constexpr (K::kCell == Cell::MINGRU) {
    const T z = sg[k], ht = sg[H + k];
    dp[k] = g * (ht - hp[k]) * (z * (T(1) - z));
    dp[H + k] = g * z;
  } else {
    const T f = sg[k], i = sg[H + k], ht = sg[2 * H + k];
    const T s = f + i;
    const T q = g * (ht - hp[k]) / (s * s);  // dL/di / f = -dL/df / i
    dp[k] = -q * i * (f * (T(1) - f));
    dp[H + k] = q * f * (i * (T(1) - i));
    dp[2 * H + k] = g * i / s;
  }
}

// Runs body(tid, nth) on nth threads (one region; DenormalsOff in each), or inline.
template <typename F>
void team(int nth, F&& body) {
  Split sp;
  sp.threads = nth;
  run_team(sp, std::forward<F>(body));
}

// The rows of the per-position arrays that step s of slot j uses, and its time index.
struct Step {
  int64_t pos, t;
};

template <typename T, typename K>
void scan_forward(T* y, T* h_n, T* reserve, const T* x, const T* h0, const int64_t* lengths,
                  const T* h_mask, const Weights<T>& w, const Dims& d, bool reverse) {
  using Pr = Precision<T>;
  using Mm = Products<Pr>;
  reject_h_mask<T, K>(h_mask);
  constexpr int G = K::kGates;
  const int64_t NT = d.T, B = d.B, I = d.I, H = d.H, GH = G * H;
  const Rows row(d);
  const Layout L(d, lengths, reverse);
  const int64_t NR = L.rows();

  // 1. P = X W_ih^T + b_ih, always through the packed product (never the unpacked one of a few
  //    rows): each row of P is then the same sum whatever the number of rows, so a call per
  //    step reproduces a whole call bit for bit.
  Workspace& ws = thread_workspace();
  const T* xin = x;
  if (L.packed) {
    T* xp = ws.get<T>(kXp, static_cast<size_t>(NR * I));
    L.gather(x, I, xp);
    xin = xp;
  }
  T* P = ws.get<T>(kP, static_cast<size_t>(NR * GH));
  typename Mm::Packed& Wx = Mm::packed(ws, kPackGemm);
  Wx.pack(w.w_ih, I, /*transB=*/true, I, GH);
  Mm::packed_product(NR, xin, I, false, Wx, T(0), P, GH, w.b_ih);

  Reserve<T> res(K::kCell, d, reserve);
  if (res.gates && L.packed)  // rows past sum(lengths) are unused: zeros, not stale memory
    std::fill_n(res.gates + NR * GH, (NT * B - NR) * GH, T(0));
  if (res.h0) {
    if (h0)
      std::memcpy(res.h0, h0, sizeof(T) * B * H);
    else
      std::fill_n(res.h0, B * H, T(0));
  }
  if (lengths) {  // positions past a sequence's end: zero output
    for (int64_t b = 0; b < B; ++b)
      for (int64_t t = lengths[b]; t < NT; ++t) std::fill_n(y + row(t, b) * H, H, T(0));
  }

  // 2. The gates: P's rows become (a, b), split by rows.
  const auto& pw = passes<Pr>();
  const int ng = threads_for(static_cast<double>(NR) * GH * 16);
  team(ng, [&](int tid, int nth) {
    const int64_t r0 = NR * tid / nth, r1 = NR * (tid + 1) / nth;
    for (int64_t r = r0; r < r1; ++r)
      gate_row<T, K>(pw, P + r * GH, H, res.gates ? res.gates + r * GH : nullptr);
  });

  // 3. The scan. Step s of slot j: a at P[pos, k], b at P[pos, H + k]; y at row(t, b).
  auto step = [&](int64_t s, int64_t j) {
    const int64_t b = L.seq(j);
    return Step{L.pos(s, j), time_index(s, b, NT, lengths, reverse)};
  };
  const ScanPlan plan = plan_scan(B, H, NT, 4.0 * NT * B * H);
  const int nth = plan.threads;
  const ScanSplit split = plan.split;
  if (split == ScanSplit::kUnits) {
    const int64_t nblk = (H + kUnitBlock - 1) / kUnitBlock, items = B * nblk;
    team(static_cast<int>(std::min<int64_t>(nth, items)), [&](int tid, int n_th) {
      const int64_t i0 = items * tid / n_th, i1 = items * (tid + 1) / n_th;
      for (int64_t j = i0 / nblk; i1 > i0 && j <= (i1 - 1) / nblk; ++j) {
        // this thread's units of slot j: its items within j's blocks
        const int64_t u0 = std::max(i0 - j * nblk, int64_t(0)) * kUnitBlock;
        const int64_t u1 = std::min(std::min(i1 - j * nblk, nblk) * kUnitBlock, H);
        const int64_t b = L.seq(j), len = seq_len(b, NT, lengths);
        const T* hp = h0 ? h0 + b * H : nullptr;
        for (int64_t s = 0; s < len; ++s) {
          const Step st = step(s, j);
          const T* __restrict a = P + st.pos * GH;
          const T* __restrict bb = a + H;
          T* __restrict yo = y + row(st.t, b) * H;
          if (hp)
            for (int64_t k = u0; k < u1; ++k) yo[k] = a[k] * hp[k] + bb[k];
          else
            for (int64_t k = u0; k < u1; ++k) yo[k] = bb[k];
          hp = yo;
        }
      }
    });
  } else {
    const Chunks ch(NT);
    const size_t cbh = static_cast<size_t>(ch.n * B * H);
    T* Ac = ws.get<T>(kC, cbh);  // [chunk, slot, unit] the chunk's product of a
    T* Bc = ws.get<T>(kM, cbh);  // its end state from a zero start
    T* S = ws.get<T>(kH, cbh);   // its true start state
    StepBarrier barrier(nth);
    team(nth, [&](int tid, int n_th) {
      const int64_t c0 = ch.n * tid / n_th, c1 = ch.n * (tid + 1) / n_th;
      // Phase 1: compose chunks 0 .. n-2 (the last one's effect is never needed).
      for (int64_t c = c0; c < std::min(c1, ch.n - 1); ++c) {
        T* A = Ac + c * B * H;
        T* Bs = Bc + c * B * H;
        std::fill_n(A, B * H, T(1));
        std::fill_n(Bs, B * H, T(0));
        for (int64_t s = c * ch.cl; s < std::min((c + 1) * ch.cl, NT); ++s)
          for (int64_t j = 0; j < L.running(s); ++j) {
            const int64_t pos = L.pos(s, j);
            const T* __restrict a = P + pos * GH;
            const T* __restrict bb = a + H;
            T* __restrict Aj = A + j * H;
            T* __restrict Bj = Bs + j * H;
            for (int64_t k = 0; k < H; ++k) {
              Bj[k] = a[k] * Bj[k] + bb[k];
              Aj[k] *= a[k];
            }
          }
      }
      barrier.wait(tid, n_th);
      // Phase 2: the start states, chunk after chunk, this thread's units of every slot.
      {
        int64_t u0, u1;
        slice(H, tid, n_th, kUnitBlock, &u0, &u1);
        for (int64_t j = 0; j < B && u1 > u0; ++j) {
          const int64_t b = L.seq(j);
          T* s0 = S + j * H;
          if (h0)
            std::memcpy(s0 + u0, h0 + b * H + u0, sizeof(T) * (u1 - u0));
          else
            std::fill(s0 + u0, s0 + u1, T(0));
          for (int64_t c = 1; c < ch.n; ++c) {
            const T* A = Ac + ((c - 1) * B + j) * H;
            const T* Bs = Bc + ((c - 1) * B + j) * H;
            const T* prev = S + ((c - 1) * B + j) * H;
            T* cur = S + (c * B + j) * H;
            for (int64_t k = u0; k < u1; ++k) cur[k] = A[k] * prev[k] + Bs[k];
          }
        }
      }
      barrier.wait(tid, n_th);
      // Phase 3: every chunk again from its true start, writing y.
      for (int64_t c = c0; c < c1; ++c) {
        T* Sc = S + c * B * H;
        for (int64_t s = c * ch.cl; s < std::min((c + 1) * ch.cl, NT); ++s)
          for (int64_t j = 0; j < L.running(s); ++j) {
            const Step st = step(s, j);
            const T* __restrict a = P + st.pos * GH;
            const T* __restrict bb = a + H;
            T* __restrict h = Sc + j * H;
            T* __restrict yo = y + row(st.t, L.seq(j)) * H;
            for (int64_t k = 0; k < H; ++k) {
              const T v = a[k] * h[k] + bb[k];
              h[k] = v;
              yo[k] = v;
            }
          }
      }
    });
  }
  // h_n: y at each sequence's last step.
  for (int64_t b = 0; b < B; ++b) {
    const int64_t t = time_index(seq_len(b, NT, lengths) - 1, b, NT, lengths, reverse);
    if (h_n) std::memcpy(h_n + b * H, y + row(t, b) * H, sizeof(T) * H);
    if (res.h_last) std::memcpy(res.h_last + b * H, y + row(t, b) * H, sizeof(T) * H);
  }
}

template <typename T, typename K>
void scan_backward(T* dx, T* dh0, const WeightGrads<T>& dw, const T* reserve, const T* dy,
                   const T* dh_n, const T* x, const T* y, const int64_t* lengths, const T* h_mask,
                   const Weights<T>& w, const Dims& d, bool reverse) {
  using Pr = Precision<T>;
  using Mm = Products<Pr>;
  reject_h_mask<T, K>(h_mask);
  constexpr int G = K::kGates;
  const int64_t NT = d.T, B = d.B, I = d.I, H = d.H, GH = G * H;
  const Rows row(d);
  const Layout L(d, lengths, reverse);
  const int64_t NR = L.rows();
  const Reserve<T> res(K::kCell, d, const_cast<T*>(reserve));
  // y must be the output of the forward that wrote the reserve (backward_driver.h says why).
  for (int64_t b = 0; b < B; ++b) {
    const int64_t t = time_index(seq_len(b, NT, lengths) - 1, b, NT, lengths, reverse);
    if (std::memcmp(y + row(t, b) * H, res.h_last + b * H, sizeof(T) * H) != 0)
      throw std::invalid_argument(
          "y: expected the output y of the forward call that wrote the reserve, got an array "
          "whose last step differs from that forward's h_n (sequence " +
          std::to_string(b) + ")");
  }
  Workspace& ws = thread_workspace();
  T* dP = ws.get<T>(kP, static_cast<size_t>(NR * GH));  // every row written below
  // The state h_{t-1} step t of sequence b read: y one step back, or h0 at its first step.
  auto h_prev = [&](int64_t t, int64_t b) {
    const int64_t tp = prev_time(t, b, NT, lengths, reverse);
    return tp >= 0 ? y + row(tp, b) * H : res.h0 + b * H;
  };
  // One step of the adjoint scan on units [u0, u1) of slot j at step s: g = dy_t + c (c: the
  // gradient reaching h_t from later steps and dh_n), dP from g, then c = a * g (to h_{t-1}).
  auto adjoint_step = [&](int64_t s, int64_t j, int64_t u0, int64_t u1, T* __restrict c) {
    const int64_t b = L.seq(j), pos = L.pos(s, j);
    const int64_t t = time_index(s, b, NT, lengths, reverse);
    const T* sg = res.gates + pos * GH;
    const T* hp = h_prev(t, b);
    const T* dyr = dy ? dy + row(t, b) * H : nullptr;
    T* dp = dP + pos * GH;
    for (int64_t k = u0; k < u1; ++k) {
      const T g = dyr ? dyr[k] + c[k] : c[k];
      dgate<T, K>(sg, H, hp, k, g, dp);
      c[k] = coef_a<T, K>(sg, H, k) * g;
    }
  };
  const ScanPlan plan = plan_scan(B, H, NT, 8.0 * NT * B * H);
  const int nth = plan.threads;
  const ScanSplit split = plan.split;
  // The carries, by slot [B, H]: dh_n to start with, dh0 at the end.
  T* carry = ws.get<T>(kDh, static_cast<size_t>(B * H));
  for (int64_t j = 0; j < B; ++j) {
    const int64_t b = L.seq(j);
    if (dh_n)
      std::memcpy(carry + j * H, dh_n + b * H, sizeof(T) * H);
    else
      std::fill_n(carry + j * H, H, T(0));
  }
  if (split == ScanSplit::kUnits) {
    const int64_t nblk = (H + kUnitBlock - 1) / kUnitBlock, items = B * nblk;
    team(static_cast<int>(std::min<int64_t>(nth, items)), [&](int tid, int n_th) {
      const int64_t i0 = items * tid / n_th, i1 = items * (tid + 1) / n_th;
      for (int64_t j = i0 / nblk; i1 > i0 && j <= (i1 - 1) / nblk; ++j) {
        const int64_t u0 = std::max(i0 - j * nblk, int64_t(0)) * kUnitBlock;
        const int64_t u1 = std::min(std::min(i1 - j * nblk, nblk) * kUnitBlock, H);
        const int64_t len = seq_len(L.seq(j), NT, lengths);
        for (int64_t s = len - 1; s >= 0; --s) adjoint_step(s, j, u0, u1, carry + j * H);
      }
    });
  } else {
    const Chunks ch(NT);
    const size_t cbh = static_cast<size_t>(ch.n * B * H);
    T* Ac = ws.get<T>(kC, cbh);  // [chunk, slot, unit] the chunk's product of a
    T* Bc = ws.get<T>(kM, cbh);  // the carry out of its first step from a zero carry in
    T* S = ws.get<T>(kH, cbh);   // the true carry into its last step
    StepBarrier barrier(nth);
    team(nth, [&](int tid, int n_th) {
      const int64_t c0 = ch.n * tid / n_th, c1 = ch.n * (tid + 1) / n_th;
      // Phase 1: compose chunks 1 .. n-1, last step first (chunk 0's is never needed).
      for (int64_t c = std::max(c0, int64_t(1)); c < c1; ++c) {
        T* A = Ac + c * B * H;
        T* Bs = Bc + c * B * H;
        std::fill_n(A, B * H, T(1));
        std::fill_n(Bs, B * H, T(0));
        for (int64_t s = std::min((c + 1) * ch.cl, NT) - 1; s >= c * ch.cl; --s)
          for (int64_t j = 0; j < L.running(s); ++j) {
            const int64_t b = L.seq(j), pos = L.pos(s, j);
            const T* sg = res.gates + pos * GH;
            const T* __restrict dyr =
                dy ? dy + row(time_index(s, b, NT, lengths, reverse), b) * H : nullptr;
            T* __restrict Aj = A + j * H;
            T* __restrict Bj = Bs + j * H;
            for (int64_t k = 0; k < H; ++k) {
              const T a = coef_a<T, K>(sg, H, k);
              Bj[k] = a * (dyr ? dyr[k] + Bj[k] : Bj[k]);
              Aj[k] *= a;
            }
          }
      }
      barrier.wait(tid, n_th);
      // Phase 2: the carries into each chunk, from the last chunk down, this thread's units.
      {
        int64_t u0, u1;
        slice(H, tid, n_th, kUnitBlock, &u0, &u1);
        for (int64_t j = 0; j < B && u1 > u0; ++j) {
          T* top = S + ((ch.n - 1) * B + j) * H;
          std::memcpy(top + u0, carry + j * H + u0, sizeof(T) * (u1 - u0));
          for (int64_t c = ch.n - 2; c >= 0; --c) {
            const T* A = Ac + ((c + 1) * B + j) * H;
            const T* Bs = Bc + ((c + 1) * B + j) * H;
            const T* above = S + ((c + 1) * B + j) * H;
            T* cur = S + (c * B + j) * H;
            for (int64_t k = u0; k < u1; ++k) cur[k] = A[k] * above[k] + Bs[k];
          }
        }
      }
      barrier.wait(tid, n_th);
      // Phase 3: every chunk again from its true carry, writing dP; chunk 0's carry out is dh0.
      for (int64_t c = c0; c < c1; ++c) {
        T* Sc = S + c * B * H;
        for (int64_t s = std::min((c + 1) * ch.cl, NT) - 1; s >= c * ch.cl; --s)
          for (int64_t j = 0; j < L.running(s); ++j) adjoint_step(s, j, 0, H, Sc + j * H);
      }
    });
    std::memcpy(carry, S, sizeof(T) * B * H);  // chunk 0's carry out
  }
  if (dh0)
    for (int64_t j = 0; j < B; ++j) std::memcpy(dh0 + L.seq(j) * H, carry + j * H, sizeof(T) * H);

  // Weight and input gradients: one product each over all positions.
  if (dx) {
    if (!L.packed) {
      Mm::full(false, false, NR, I, GH, dP, GH, w.w_ih, I, T(0), dx, I);
    } else {  // in packed order, then to the caller's rows (zeros past each sequence's end)
      T* dxp = ws.get<T>(kDxp, static_cast<size_t>(NR * I));
      Mm::full(false, false, NR, I, GH, dP, GH, w.w_ih, I, T(0), dxp, I);
      L.scatter(dxp, I, dx);
      for (int64_t b = 0; b < B; ++b)
        for (int64_t t = lengths[b]; t < NT; ++t) std::fill_n(dx + row(t, b) * I, I, T(0));
    }
  }
  // db_ih: dP's column sums, taken by the dW_ih product as it packs dP^T (backward_driver.h), or in
  // a pass of their own, by columns, each summed in order of the rows.
  T* sums = dw.db_ih ? ws.get<T>(kBiasSums, static_cast<size_t>(GH), true) : nullptr;
  if (dw.dw_ih) {
    const T* xin = x;
    if (L.packed) {
      T* xp = ws.get<T>(kXp, static_cast<size_t>(NR * I));
      L.gather(x, I, xp);
      xin = xp;
    }
    Mm::full(true, false, GH, I, NR, dP, GH, xin, I, T(1), dw.dw_ih, I, nullptr, sums);
  } else if (sums) {
    team(threads_for(static_cast<double>(NR) * GH * 4), [&](int tid, int n_th) {
      const int64_t q0 = GH * tid / n_th, q1 = GH * (tid + 1) / n_th;
      for (int64_t r = 0; r < NR; ++r)
        for (int64_t q = q0; q < q1; ++q) sums[q] += dP[r * GH + q];
    });
  }
  if (sums)
    for (int64_t q = 0; q < GH; ++q) dw.db_ih[q] += sums[q];
}

}  // namespace

template <typename T, typename K>
void run_forward_scan(T* y, T* h_n, T* c_n, T* reserve, const T* x, const T* h0, const T* c0,
                      const int64_t* lengths, const T* h_mask, const Weights<T>& w, const Dims& d,
                      bool reverse) {
  (void)c_n;  // no cell state (K::kHasC is false)
  (void)c0;
  scan_forward<T, K>(y, h_n, reserve, x, h0, lengths, h_mask, w, d, reverse);
}

template <typename T, typename K>
void run_backward_scan(T* dx, T* dh0, T* dc0, const WeightGrads<T>& dw, const T* reserve,
                       const T* dy, const T* dh_n, const T* dc_n, const T* x, const T* y,
                       const int64_t* lengths, const T* h_mask, const Weights<T>& w, const Dims& d,
                       bool reverse) {
  (void)dc0;
  (void)dc_n;
  scan_backward<T, K>(dx, dh0, dw, reserve, dy, dh_n, x, y, lengths, h_mask, w, d, reverse);
}

#define RNNFAST_SCAN_INSTANTIATE(T, C)                                                           \
  template void run_forward_scan<T, CellTraits<C>>(T*, T*, T*, T*, const T*, const T*, const T*, \
                                                   const int64_t*, const T*, const Weights<T>&,  \
                                                   const Dims&, bool);                           \
  template void run_backward_scan<T, CellTraits<C>>(                                             \
      T*, T*, T*, const WeightGrads<T>&, const T*, const T*, const T*, const T*, const T*,       \
      const T*, const int64_t*, const T*, const Weights<T>&, const Dims&, bool);
RNNFAST_SCAN_INSTANTIATE(float, Cell::MINGRU)
RNNFAST_SCAN_INSTANTIATE(double, Cell::MINGRU)
RNNFAST_SCAN_INSTANTIATE(float, Cell::MINLSTM)
RNNFAST_SCAN_INSTANTIATE(double, Cell::MINLSTM)
#undef RNNFAST_SCAN_INSTANTIATE

}  // namespace detail
}  // namespace rnnfast
