// Forward and BPTT of the diagonal-recurrence cells (CellTraits::kRecurrence == kDiagonal):
// IndRNN, h_t = act(W_ih x_t + b_ih + u * h'_{t-1}), act relu or tanh, u = w_hh [H], h' = h *
// h_mask under recurrent dropout (Li et al. 2018, "Independently Recurrent Neural Network").
// 1. The input projection P = X W_ih^T + b_ih of every position in one GEMM (packed order with
//    lengths, as forward_driver.h's hoisted mode).
// 2. The time loop is elementwise and each (sequence, unit) chain is independent of all
//    others: the team splits the [B, H] state into blocks (units when there are enough to go
//    round, else sequence slots) and every thread runs all T steps of its block with no
//    barrier at all. The activation is the RNN's fused pass (rnn_fwd / rnn_bwd), so every
//    instruction set has its own vectorized copy.
// 3. Backward: the reverse loop gives dA (the pre-activation gradient) of every position,
//    split the same way; then du and db are sums over positions per unit (each unit's sum in
//    one fixed order, whatever the thread count), dW_ih += dA^T X and dx = dA W_ih are GEMMs
//    over all positions.
// The reserve holds only h0 and h_n (cells/common.h, Reserve): the state h_{t-1} each step read
// is y one step back, and the activation's derivative is written from y (h_t); with zoneout
// (rnnfast.h) from the reserve's zo (h~_t, y being the zoned-out h_t), and each chain mixes
// h_t = d h_{t-1} + (1 - d) h~_t after its step (backward: d dh_t straight to dh_{t-1}).
// Not here: a projection, a cell state, a second bias (validate() rejects them).
#include <algorithm>
#include <cstring>
#include <exception>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

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

// The block of the [slots, units] state one thread of nt owns: units [u0, u1) of slots
// [j0, j1). Units in multiples of 16 (no two threads write the same cache line of a row)
// when there are at least 16 per thread; otherwise slots.
struct Block {
  int64_t j0, j1, u0, u1;
};

inline Block block_of(int tid, int nt, int64_t B, int64_t H) {
  Block b{0, B, 0, H};
  if (nt <= 1) return b;
  if (H >= 16 * static_cast<int64_t>(nt))
    slice(H, tid, nt, 16, &b.u0, &b.u1);
  else
    slice(B, tid, nt, 1, &b.j0, &b.j1);
  return b;
}

// Threads for a loop of `elems` elementwise updates (a handful of flops each).
inline int loop_threads(int64_t elems) { return threads_for(static_cast<double>(elems) * 8.0); }

// Runs body(tid, nt) on a team of nt threads (inline when nt == 1), each thread holding the
// region's FTZ/DAZ state (TeamThread).
template <typename F>
void run_blocks(int nt, F&& body) {
  if (nt <= 1) {
    body(0, 1);
    return;
  }
  const TeamFork fork(nt);
#pragma omp parallel num_threads(nt)
  {
    const TeamThread member(fork);
    body(omp_get_thread_num(), omp_get_num_threads());
  }
}

}  // namespace

template <typename T, typename K, bool Z>
void run_forward_diagonal(T* y, T* h_n, T* c_n, T* reserve, const T* x, const T* h0, const T* c0,
                          const int64_t* lengths, const T* h_mask, const Weights<T>& w,
                          const Dims& d, bool reverse, const Zoneout<T>& zo) {
  static_assert(K::kRecurrence == Recurrence::kDiagonal && K::kGates == 1 && !K::kHasC,
                "a diagonal cell has one gate and no cell state");
  (void)c_n;
  (void)c0;
  using Pr = Precision<T>;
  using Mm = Products<Pr>;
  const int64_t NT = d.T, B = d.B, I = d.I, H = d.H;
  const Rows row(d);
  const Layout L(d, lengths, reverse);
  const int64_t NR = L.rows();

  // 1. P = X W_ih^T + b_ih over every position (packed order with lengths).
  Workspace& ws = thread_workspace();
  const T* xin = x;
  if (L.packed) {
    T* xp = ws.get<T>(kXp, static_cast<size_t>(NR * I));
    L.gather(x, I, xp);
    xin = xp;
  }
  T* P = ws.get<T>(kP, static_cast<size_t>(NR * H));
  Mm::full(false, true, NR, H, I, xin, I, w.w_ih, I, T(0), P, H, w.b_ih);

  Reserve<T> res(K::kCell, d, reserve, Z);
  if (res.zo && L.packed) std::fill_n(res.zo + NR * H, (NT * B - NR) * H, T(0));  // unused rows
  if (lengths) {  // positions past a sequence's end: zero output
    for (int64_t b = 0; b < B; ++b)
      for (int64_t t = lengths[b]; t < NT; ++t) std::fill_n(y + row(t, b) * H, H, T(0));
  }
  // The state by slot, updated in place: each (slot, unit) is read and written by one thread.
  T* h = ws.get<T>(kH, static_cast<size_t>(B * H), /*zero=*/true);
  for (int64_t j = 0; j < B; ++j)
    if (h0) std::memcpy(h + j * H, h0 + L.seq(j) * H, sizeof(T) * H);
  if (res.h0) {
    if (h0)
      std::memcpy(res.h0, h0, sizeof(T) * B * H);
    else
      std::fill_n(res.h0, B * H, T(0));
  }

  const auto& pw = passes<Pr>();
  const T* u = w.w_hh;
  const int nt = loop_threads(NR * H);
  std::vector<std::vector<T>> scratch(static_cast<size_t>(nt > 1 ? nt : 1));
  std::vector<std::exception_ptr> errors(scratch.size());
  run_blocks(nt, [&](const int tid, const int nth) {
    try {
      const Block bl = block_of(tid, nth, B, H);
      const int64_t nu = bl.u1 - bl.u0;
      if (nu <= 0 || bl.j1 <= bl.j0) return;
      std::vector<T>& r = scratch[static_cast<size_t>(tid)];  // u * h' of one slot (zoneout:
      r.resize(static_cast<size_t>(Z ? 2 * nu : nu));         // then h_{t-1})
      const T* ub = u + bl.u0;
      for (int64_t s = 0; s < NT; ++s) {
        const int64_t j1 = std::min(bl.j1, L.running(s));
        for (int64_t j = bl.j0; j < j1; ++j) {
          const int64_t b = L.seq(j);
          const int64_t t = time_index(s, b, NT, lengths, reverse);
          T* hj = h + j * H + bl.u0;
          if (h_mask) {
            const T* mb = h_mask + b * H + bl.u0;
            for (int64_t k = 0; k < nu; ++k) r[k] = ub[k] * (hj[k] * mb[k]);
          } else {
            for (int64_t k = 0; k < nu; ++k) r[k] = ub[k] * hj[k];
          }
          if constexpr (Z) std::memcpy(r.data() + nu, hj, sizeof(T) * nu);
          pw.rnn_fwd(nu, P + L.pos(s, j) * H + bl.u0, r.data(), hj, y + row(t, b) * H + bl.u0,
                     nullptr, K::kRelu);
          if constexpr (Z) {  // hj holds h~_t: kept for backward, then zoned out
            if (res.zo) std::memcpy(res.zo + L.pos(s, j) * H + bl.u0, hj, sizeof(T) * nu);
            zoneout_mix(nu, zo.h ? zo.h + row(t, b) * H + bl.u0 : nullptr, zo.h_prob, r.data() + nu,
                        hj);
            std::memcpy(y + row(t, b) * H + bl.u0, hj, sizeof(T) * nu);
          }
        }
      }
    } catch (...) {
      errors[static_cast<size_t>(tid)] = std::current_exception();
    }
  });
  for (auto& e : errors)
    if (e) std::rethrow_exception(e);
  // Each sequence's state stops changing at its last step: it is h_n.
  for (int64_t b = 0; b < B; ++b) {
    const T* hf = h + L.slot_of(b) * H;
    if (h_n) std::memcpy(h_n + b * H, hf, sizeof(T) * H);
    if (res.h_last) std::memcpy(res.h_last + b * H, hf, sizeof(T) * H);
  }
}

template <typename T, typename K, bool Z>
void run_backward_diagonal(T* dx, T* dh0, T* dc0, const WeightGrads<T>& dw, const T* reserve,
                           const T* dy, const T* dh_n, const T* dc_n, const T* x, const T* y,
                           const int64_t* lengths, const T* h_mask, const Weights<T>& w,
                           const Dims& d, bool reverse, const Zoneout<T>& zo) {
  static_assert(K::kRecurrence == Recurrence::kDiagonal && K::kGates == 1 && !K::kHasC,
                "a diagonal cell has one gate and no cell state");
  (void)dc0;
  (void)dc_n;
  using Pr = Precision<T>;
  using Mm = Products<Pr>;
  const int64_t NT = d.T, B = d.B, I = d.I, H = d.H;
  const Rows row(d);
  const Layout L(d, lengths, reverse);
  const int64_t NR = L.rows();
  const Reserve<T> res(K::kCell, d, const_cast<T*>(reserve), Z);

  // y must be the output of the forward that wrote the reserve (as backward_driver.h checks).
  for (int64_t b = 0; b < B; ++b) {
    const int64_t t = time_index(seq_len(b, NT, lengths) - 1, b, NT, lengths, reverse);
    if (std::memcmp(y + row(t, b) * H, res.h_last + b * H, sizeof(T) * H) != 0)
      throw std::invalid_argument(
          "y: expected the output y of the forward call that wrote the reserve, got an array "
          "whose last step differs from that forward's h_n (sequence " +
          std::to_string(b) + ")");
  }
  // The state h_{t-1} step t of sequence b read (before the mask): y one step back, or h0.
  auto h_prev = [&](int64_t t, int64_t b) {
    const int64_t tp = prev_time(t, b, NT, lengths, reverse);
    return tp >= 0 ? y + row(tp, b) * H : res.h0 + b * H;
  };

  Workspace& ws = thread_workspace();
  // dA, the pre-activation gradient of every position (every row is written by the loop);
  // it lives in the forward's slot of P.
  T* dA = ws.get<T>(kP, static_cast<size_t>(NR * H));
  T* dh = ws.get<T>(kDh, static_cast<size_t>(B * H), /*zero=*/true);  // by slot
  for (int64_t j = 0; j < B; ++j)
    if (dh_n) std::memcpy(dh + j * H, dh_n + L.seq(j) * H, sizeof(T) * H);

  const auto& pw = passes<Pr>();
  const T* u = w.w_hh;
  const int nt = loop_threads(NR * H);
  std::vector<std::exception_ptr> errors(static_cast<size_t>(nt > 1 ? nt : 1));
  // dh_t += dy_t; dA_t = dh_t * act'(h_t); dh_{t-1} = dA_t * u (* h_mask): per (slot, unit).
  // Zoneout: d dh_t is kept for dh_{t-1}, (1 - d) dh_t goes through act'(h~_t).
  run_blocks(nt, [&](const int tid, const int nth) {
    try {
      const Block bl = block_of(tid, nth, B, H);
      const int64_t nu = bl.u1 - bl.u0;
      if (nu <= 0 || bl.j1 <= bl.j0) return;
      const T* ub = u + bl.u0;
      std::vector<T> kept(static_cast<size_t>(Z ? nu : 0));
      for (int64_t s = NT - 1; s >= 0; --s) {
        const int64_t j1 = std::min(bl.j1, L.running(s));
        for (int64_t j = bl.j0; j < j1; ++j) {
          const int64_t b = L.seq(j);
          const int64_t t = time_index(s, b, NT, lengths, reverse);
          const int64_t yrow = row(t, b) * H + bl.u0;
          T* dhj = dh + j * H + bl.u0;
          T* da = dA + L.pos(s, j) * H + bl.u0;
          if (dy) {
            const T* dyb = dy + yrow;
            for (int64_t k = 0; k < nu; ++k) dhj[k] += dyb[k];
          }
          if constexpr (Z) {
            zoneout_split(nu, zo.h ? zo.h + yrow : nullptr, zo.h_prob, dhj, kept.data());
            pw.rnn_bwd(nu, res.zo + L.pos(s, j) * H + bl.u0, dhj, da, nullptr, K::kRelu);
          } else {
            pw.rnn_bwd(nu, y + yrow, dhj, da, nullptr, K::kRelu);
          }
          if (h_mask) {
            const T* mb = h_mask + b * H + bl.u0;
            for (int64_t k = 0; k < nu; ++k) dhj[k] = da[k] * ub[k] * mb[k];
          } else {
            for (int64_t k = 0; k < nu; ++k) dhj[k] = da[k] * ub[k];
          }
          if constexpr (Z)
            for (int64_t k = 0; k < nu; ++k) dhj[k] += kept[k];
        }
      }
    } catch (...) {
      errors[static_cast<size_t>(tid)] = std::current_exception();
    }
  });
  for (auto& e : errors)
    if (e) std::rethrow_exception(e);
  // An ended sequence's gradient passed its earlier steps untouched: dh by slot is dh0.
  for (int64_t j = 0; j < B; ++j)
    if (dh0) std::memcpy(dh0 + L.seq(j) * H, dh + j * H, sizeof(T) * H);

  // du += sum over positions of dA * h'_{t-1} (h' = h * h_mask: what u multiplied), db +=
  // sum of dA: per unit, over positions in processing order, the team split by units only
  // (each sum the same, bitwise, for any thread count).
  if (dw.dw_hh || dw.db_ih) {
    const int nu_t = H >= 32 ? loop_threads(NR * H) : 1;
    const int ntu = static_cast<int>(std::min<int64_t>(nu_t, H / 16 > 0 ? H / 16 : 1));
    std::vector<std::exception_ptr> sum_errors(static_cast<size_t>(ntu > 1 ? ntu : 1));
    run_blocks(ntu, [&](const int tid, const int nth) {
      try {
        int64_t k0 = 0, k1 = H;
        if (nth > 1) slice(H, tid, nth, 16, &k0, &k1);
        const int64_t n = k1 - k0;
        if (n <= 0) return;
        std::vector<T> su(static_cast<size_t>(dw.dw_hh ? n : 0), T(0));
        std::vector<T> sb(static_cast<size_t>(dw.db_ih ? n : 0), T(0));
        for (int64_t s = 0; s < NT; ++s)
          for (int64_t j = 0; j < L.running(s); ++j) {
            const int64_t b = L.seq(j);
            const T* da = dA + L.pos(s, j) * H + k0;
            if (dw.dw_hh) {
              const T* hp = h_prev(time_index(s, b, NT, lengths, reverse), b) + k0;
              if (h_mask) {
                const T* mb = h_mask + b * H + k0;
                for (int64_t k = 0; k < n; ++k) su[k] += da[k] * (hp[k] * mb[k]);
              } else {
                for (int64_t k = 0; k < n; ++k) su[k] += da[k] * hp[k];
              }
            }
            if (dw.db_ih)
              for (int64_t k = 0; k < n; ++k) sb[k] += da[k];
          }
        for (int64_t k = 0; k < static_cast<int64_t>(su.size()); ++k) dw.dw_hh[k0 + k] += su[k];
        for (int64_t k = 0; k < static_cast<int64_t>(sb.size()); ++k) dw.db_ih[k0 + k] += sb[k];
      } catch (...) {
        sum_errors[static_cast<size_t>(tid)] = std::current_exception();
      }
    });
    for (auto& e : sum_errors)
      if (e) std::rethrow_exception(e);
  }

  // The input side: one GEMM each over all positions.
  if (dx) {
    if (!L.packed) {
      Mm::full(false, false, NR, I, H, dA, H, w.w_ih, I, T(0), dx, I);
    } else {  // in packed order, then to the caller's rows (zeros past each sequence's end)
      T* dxp = ws.get<T>(kDxp, static_cast<size_t>(NR * I));
      Mm::full(false, false, NR, I, H, dA, H, w.w_ih, I, T(0), dxp, I);
      L.scatter(dxp, I, dx);
      for (int64_t b = 0; b < B; ++b)
        for (int64_t t = lengths[b]; t < NT; ++t) std::fill_n(dx + row(t, b) * I, I, T(0));
    }
  }
  if (dw.dw_ih) {
    const T* xin = x;
    if (L.packed) {
      T* xp = ws.get<T>(kXp, static_cast<size_t>(NR * I));
      L.gather(x, I, xp);
      xin = xp;
    }
    Mm::full(true, false, H, I, NR, dA, H, xin, I, T(1), dw.dw_ih, I);
  }
}

#define RNNFAST_DIAGONAL(T, C, Z)                                                                \
  template void run_forward_diagonal<T, CellTraits<C>, Z>(                                       \
      T*, T*, T*, T*, const T*, const T*, const T*, const int64_t*, const T*, const Weights<T>&, \
      const Dims&, bool, const Zoneout<T>&);                                                     \
  template void run_backward_diagonal<T, CellTraits<C>, Z>(                                      \
      T*, T*, T*, const WeightGrads<T>&, const T*, const T*, const T*, const T*, const T*,       \
      const T*, const int64_t*, const T*, const Weights<T>&, const Dims&, bool,                  \
      const Zoneout<T>&);
RNNFAST_DIAGONAL(float, Cell::INDRNN_RELU, false)
RNNFAST_DIAGONAL(float, Cell::INDRNN_TANH, false)
RNNFAST_DIAGONAL(double, Cell::INDRNN_RELU, false)
RNNFAST_DIAGONAL(double, Cell::INDRNN_TANH, false)
RNNFAST_DIAGONAL(float, Cell::INDRNN_RELU, true)
RNNFAST_DIAGONAL(float, Cell::INDRNN_TANH, true)
RNNFAST_DIAGONAL(double, Cell::INDRNN_RELU, true)
RNNFAST_DIAGONAL(double, Cell::INDRNN_TANH, true)
#undef RNNFAST_DIAGONAL

}  // namespace detail
}  // namespace rnnfast
