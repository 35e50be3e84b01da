// Forward of one recurrent layer, one direction, for RNN (tanh/relu), LSTM (+ projection), GRU.
// 1. P = X W_ih^T + biases for all steps in one GEMM (hoisted out of the time loop), or, when
//    that measures faster (fuse_input), per step inside the loop.
// 2. Time loop inside ONE OpenMP parallel region (team.h): per step each thread multiplies
//    h_{t-1} by its own packed slice of W_hh^T, runs the fused elementwise pass of the cell
//    (pointwise_<isa>.cc) on its slice, and a barrier publishes h_t (none in batch split).
//    A projected LSTM adds h = m W_hr^T, split by output columns, behind one more barrier.
// h is double-buffered so one barrier per step suffices. No heap allocation inside the loop.
// In inference (reserve == nullptr) nothing is saved for backward.
#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <new>
#include <stdexcept>
#include <utility>
#include <vector>

#include "cells/common.h"
#include "cells/pointwise_table.h"
#include "cells/team.h"
#include "gemm/gemm.h"
#include "threads.h"
#include "workspace.h"

namespace rnnfast {
namespace {

using detail::time_index;

// Largest state (bytes of a thread's rows of h) that a step prefetches whole.
constexpr int64_t kPrefetchState = 16 * 1024;

// Prefetches `rows` rows of `cols` elements, `ld` apart, into L1 (one request per cache line).
template <typename T>
void prefetch_rows(const T* p, int64_t rows, int64_t cols, int64_t ld) {
  const int64_t bytes = cols * static_cast<int64_t>(sizeof(T));
  for (int64_t r = 0; r < rows; ++r) {
    const char* a = reinterpret_cast<const char*>(p + r * ld);
    for (int64_t o = 0; o < bytes; o += 64) __builtin_prefetch(a + o, 0, 3);
  }
}

// Where the input projection x_t W_ih^T (+ biases) of every step is computed:
//  - kHoisted: one GEMM over all steps before the loop, into P [T*B, G*H] (shared);
//  - kFused: by each thread at each step, into the step's product (x_t W_ih^T, then
//    += h_{t-1} W_hh^T);
//  - kTeam: by each thread for its own gate columns of all steps, inside the loop's parallel
//    region before the first step, into a buffer of its own [T*B, G*units].
// Hoisted, the loop reads P back from memory step by step (26 MB at LSTM large); fused, a
// step's inputs never leave the thread's cache, but each step streams the thread's slice of
// W_ih too, which pays when the step's product has enough rows to be compute bound, or when
// both slices stay in L2; with many weights per thread and few rows it loses. The GRU's n
// gate keeps the input and recurrent parts apart (r * (W_hn h + b_hn)): fused, its recurrent
// part goes to a buffer of its own. With a few rows per step (batch 1, 2, 4) a step is a
// matrix-vector product that streams the weights from L2: kTeam streams only W_hh, and its
// input product runs as a GEMM over all steps without a parallel region of its own. The
// measurements behind the choice below: docs/ARCHITECTURE.md, "Time loop".
// The result is bitwise the same in every mode (the input part is the same sum, passes of kKC
// over I, the state's added onto it), so the choice may depend on the split. Not for the
// unpacked short-sequence path, or <= kDirectMaxRows positions in all (the hoisted product is
// then unpacked, another summation order); kTeam only with the split by units.
// RNNFAST_FUSED_INPUT=0|1|team forces hoisted, fused or team where allowed.
enum class InputMode { kHoisted, kFused, kTeam };

// Largest per-thread buffer of a kTeam input projection (bytes). It stays in the thread's
// workspace after the call, next to the backward's buffers (a hoisted P shares its slot with
// the backward's dG): bounded so that a long sequence cannot hold much memory that way.
constexpr double kTeamInputBytes = 2.0 * 1024 * 1024;

template <typename T>
InputMode input_mode(Cell cell, const Dims& d, const detail::Split& sp, int64_t rows_all,
                     bool direct) {
  if (direct || rows_all <= gemm::kDirectMaxRows) return InputMode::kHoisted;
  const int64_t th = sp.threads > 1 ? sp.threads : 1;
  const int64_t rows = sp.by_units ? d.B : d.B / th;
  const double units = static_cast<double>(d.H) / (sp.by_units ? th : 1);
  const bool team_ok = sp.by_units;
  if (const char* e = std::getenv("RNNFAST_FUSED_INPUT")) {
    if (std::strcmp(e, "0") == 0) return InputMode::kHoisted;
    if (std::strcmp(e, "1") == 0) return InputMode::kFused;
    if (std::strcmp(e, "team") == 0) return team_ok ? InputMode::kTeam : InputMode::kHoisted;
  }
  if (rows < 8 && team_ok &&
      static_cast<double>(rows_all) * num_gates(cell) * units * sizeof(T) <= kTeamInputBytes)
    return InputMode::kTeam;
  const double bytes = static_cast<double>(d.I + d.H_out) * num_gates(cell) * units * sizeof(T);
  // The GRU's larger products gained nothing measurable (B=64 I=H=512, xlarge) while its
  // packed W_ih slices raised a training step's peak by up to 22 MB: by bytes only.
  if (rows >= 8)
    return bytes <= 3.0e6 || (rows >= 32 && cell != Cell::GRU) ? InputMode::kFused
                                                                : InputMode::kHoisted;
  // a few rows: only if W_ih adds at most a quarter to the stream
  return 4 * d.I <= d.H_out ? InputMode::kFused : InputMode::kHoisted;
}

template <typename T, Cell C>
void run_forward(T* y, T* h_n, T* c_n, T* reserve, const T* x, const T* h0, const T* c0,
                 const int64_t* lengths, const T* h_mask, const Weights<T>& w, const Dims& d,
                 bool reverse) {
  constexpr int G = C == Cell::LSTM ? 4 : C == Cell::GRU ? 3 : 1;
  const int64_t NT = d.T, B = d.B, I = d.I, H = d.H, Ho = d.H_out, GH = G * H;
  const bool proj = Ho != H;
  const detail::Rows row(d);
  const detail::Layout L(d, lengths, reverse);
  const int64_t NR = L.rows();  // per-position rows: sum(lengths), or T*B

  const detail::Split sp = detail::choose_split(B, H, Ho, G, sizeof(T), NT);
  // A sequence of one or two steps cannot amortize packing: multiply the weights as they are.
  const bool direct = NT <= 2 && B <= 16;  // B, not a thread's rows: the same for any split
  const InputMode mode = input_mode<T>(C, d, sp, NR, direct);
  const bool fuse = mode == InputMode::kFused, team_in = mode == InputMode::kTeam;

  // 1. Input projection of every step, biases folded in (GRU keeps b_hn apart: it sits
  //    inside r * (W_hn h + b_hn)); or, fused, at each step into the recurrent product.
  //    Packed, the projection reads x's running rows gathered in packed order.
  detail::Workspace& ws = detail::thread_workspace();
  const T* xin = x;
  if (L.packed) {
    T* xp = ws.get<T>(detail::kXp, static_cast<size_t>(NR * I));
    L.gather(x, I, xp);
    xin = xp;
  }
  T* bias = nullptr;
  if (w.b_ih) {  // added by the GEMM as it stores P: no extra pass over P
    bias = ws.get<T>(detail::kBias, static_cast<size_t>(GH));
    for (int64_t j = 0; j < GH; ++j)
      bias[j] = w.b_ih[j] + ((C != Cell::GRU || j < 2 * H) ? w.b_hh[j] : T(0));
  }
  T* P = nullptr;
  if (mode == InputMode::kHoisted) {
    P = ws.get<T>(detail::kP, static_cast<size_t>(NR * GH));
    gemm::gemm<T>(false, true, NR, GH, I, xin, I, w.w_ih, I, T(0), P, GH, bias);
  }
  const T* b_hn = (C == Cell::GRU && w.b_hh) ? w.b_hh + 2 * H : nullptr;

  detail::Reserve<T> res(C, d, reserve);
  if (L.packed) {  // the reserve's rows past sum(lengths) are unused: zeros, not stale memory
    const int64_t spare = NT * B - NR;
    if (res.gates) std::fill_n(res.gates + NR * GH, spare * GH, T(0));
    if (res.c) std::fill_n(res.c + NR * H, spare * H, T(0));
    if (res.hn) std::fill_n(res.hn + NR * H, spare * H, T(0));
  }
  // Positions past a sequence's end: zero output.
  if (lengths) {
    for (int64_t b = 0; b < B; ++b)
      for (int64_t t = lengths[b]; t < NT; ++t) std::fill_n(y + row(t, b) * Ho, Ho, T(0));
  }

  // Shared state, by slot: h double-buffered (read all of h_{t-1}, write own slice of h_t), the
  // dropped-out copy W_hh sees, c and the unprojected m (each thread touches its own units).
  T* hbuf = ws.get<T>(detail::kH, static_cast<size_t>(2 * B * Ho), /*zero=*/true);
  T* hmbuf = h_mask ? ws.get<T>(detail::kHm, static_cast<size_t>(2 * B * Ho), true) : nullptr;
  T* c = C == Cell::LSTM ? ws.get<T>(detail::kC, static_cast<size_t>(B * H), true) : nullptr;
  T* m = proj ? ws.get<T>(detail::kM, static_cast<size_t>(B * H), true) : nullptr;
  for (int64_t j = 0; j < B; ++j) {
    const int64_t b = L.seq(j);
    if (h0) std::memcpy(hbuf + j * Ho, h0 + b * Ho, sizeof(T) * Ho);
    if (C == Cell::LSTM && c0) std::memcpy(c + j * H, c0 + b * H, sizeof(T) * H);
    if (h_mask)
      for (int64_t k = 0; k < Ho; ++k) hmbuf[j * Ho + k] = hbuf[j * Ho + k] * h_mask[b * Ho + k];
  }
  // The initial states, for backward, in the caller's order (zeros when none was given).
  if (res.h0) {
    if (h0) std::memcpy(res.h0, h0, sizeof(T) * B * Ho);
    else std::fill_n(res.h0, B * Ho, T(0));
  }
  if (res.c0) {
    if (c0) std::memcpy(res.c0, c0, sizeof(T) * B * H);
    else std::fill_n(res.c0, B * H, T(0));
  }

  const detail::PointwiseTable<T>& pw = detail::table<T>(detail::active_pointwise());
  std::atomic<bool> failed{false};
  detail::StepBarrier step_barrier(sp.threads);
  std::exception_ptr error;

  detail::run_team(sp, [&](const int tid, const int nth) {
    const detail::Share sh = detail::share_of(sp, tid, nth, B, H, Ho);
    const detail::ThreadSlots ts = detail::slots_of(sp, sh, L, tid, nth);
    const int64_t f = ts.f, q = ts.q, nbmax = ts.at(L, 0);
    const int64_t u0 = sh.u0, u1 = sh.u1, v0 = sh.v0, v1 = sh.v1;
    const int64_t nu = u1 - u0, nv = v1 - v0, gnu = G * nu;
    // Rows between this thread's consecutive slots: in the state buffers, and in the
    // per-position arrays (x gathered or in place, P, the reserve).
    const int64_t hq = q, pq = q * L.slot_stride();
    detail::Workspace& tws = detail::thread_workspace();
    gemm::PackedB<T>& Wt = tws.packed<T>(detail::kPackWh);
    gemm::PackedB<T>& Wx = tws.packed<T>(detail::kPackWx);
    gemm::PackedB<T>& Wn = tws.packed<T>(detail::kPackWn);
    gemm::PackedB<T>& Wr = tws.packed<T>(detail::kPackWr);
    T* R = nullptr;
    T* Rn = nullptr;  // fused GRU: W_hn h_{t-1}, this thread's units
    T* rp = nullptr;
    T* bias_t = nullptr;
    // Where the pass finds this thread's input part of position pos, gate g: hoisted,
    // P[pos, g*H + u0 ..]; kTeam, the thread's own Pt[pos, g*nu ..].
    const T* Pin = P ? P + u0 : nullptr;
    int64_t pin_ld = GH, pin_gs = H;
    // Fused, the GRU's state product covers the r and z gates (added onto the input part)
    // and, apart, the n gate.
    const bool fuse_gru = fuse && C == Cell::GRU;
    const int64_t gnu_h = fuse_gru ? 2 * nu : gnu;
    try {
      // This thread's columns of W_hh^T: gate g of unit u is column g*H + u.
      int64_t* cols = tws.get<int64_t>(detail::kCols, static_cast<size_t>(gnu > nv ? gnu : nv));
      for (int g = 0; g < G; ++g)
        for (int64_t k = 0; k < nu; ++k) cols[g * nu + k] = g * H + u0 + k;
      if (gnu > 0 && !direct) Wt.pack_columns(w.w_hh, Ho, /*transB=*/true, Ho, cols, gnu_h);
      if (fuse_gru && nu > 0) {
        Wn.pack_columns(w.w_hh, Ho, /*transB=*/true, Ho, cols + 2 * nu, nu);
        Rn = tws.get<T>(detail::kRn, static_cast<size_t>(nbmax * nu), true);
      }
      if ((fuse || team_in) && gnu > 0) {  // the same columns of W_ih^T and of the folded biases
        Wx.pack_columns(w.w_ih, I, /*transB=*/true, I, cols, gnu);
        if (bias) {
          bias_t = tws.get<T>(detail::kBiasT, static_cast<size_t>(gnu));
          for (int64_t j = 0; j < gnu; ++j) bias_t[j] = bias[cols[j]];
        }
      }
      if (team_in && gnu > 0) {  // this thread's input part of every position, before the loop
        T* Pt = tws.get<T>(detail::kPt, static_cast<size_t>(NR * gnu));
        gemm::gemm_serial<T>(NR, xin, I, false, Wx, T(0), Pt, gnu, gemm::Walk{}, bias_t);
        Pin = Pt;
        pin_ld = gnu;
        pin_gs = nu;
      }
      R = tws.get<T>(detail::kR, static_cast<size_t>(nbmax * gnu), true);
      if (proj && nv > 0) {
        for (int64_t k = 0; k < nv; ++k) cols[k] = v0 + k;
        if (!direct) Wr.pack_columns(w.w_hr, H, /*transB=*/true, H, cols, nv);
        rp = tws.get<T>(detail::kRp, static_cast<size_t>(nbmax * nv), true);
      }
    } catch (...) {
#pragma omp critical(rnnfast_forward_error)
      if (!error) error = std::current_exception();
      failed = true;
    }
    step_barrier.wait(tid, nth);  // never an OpenMP barrier: it would bind to an outer team
    if (!failed.load()) {
      T* hc = hbuf;
      T* hx = hbuf + B * Ho;
      T* hmc = h_mask ? hmbuf : nullptr;
      T* hmx = h_mask ? hmbuf + B * Ho : nullptr;
      for (int64_t s = 0; s < NT; ++s) {
        const int64_t nb = ts.at(L, s);  // this thread's running slots f, f+q, .. (nb of them)
        const int64_t p0 = nb > 0 ? L.pos(s, f) : 0;  // their first per-position row
        // With a small state split by units (batch 1 and the like), the other threads wrote
        // part of h_{t-1} and the step's inputs P_t were made long before: fetch both at once
        // now rather than one cache line at a time as the product and the pass reach them.
        if (sp.by_units && nth > 1 &&
            nb * Ho * static_cast<int64_t>(sizeof(T)) <= kPrefetchState) {
          prefetch_rows((h_mask ? hmc : hc) + f * Ho, nb, Ho, hq * Ho);
          for (int64_t i = 0; i < nb && Pin; ++i)  // Pin: none when fused (or no units)
            for (int g = 0; g < G; ++g)
              prefetch_rows(Pin + (p0 + i * pq) * pin_ld + g * pin_gs, 1, nu, 0);
        }
        // 2a. this thread's slice of the recurrent product (of the dropped-out state); fused,
        //     first the step's input product with the biases (the same sum as the hoisted
        //     GEMM's: passes of kKC over I), the state's added onto it.
        if (gnu > 0 && nb > 0) {
          const T* A = (h_mask ? hmc : hc) + f * Ho;
          if (fuse) {
            gemm::gemm_serial<T>(nb, xin + p0 * I, pq * I, false, Wx, T(0), R, gnu,
                                 gemm::Walk{}, bias_t);
            gemm::gemm_serial<T>(nb, A, hq * Ho, false, Wt, T(1), R, gnu, {true, (s & 1) != 0});
            if (fuse_gru)
              gemm::gemm_serial<T>(nb, A, hq * Ho, false, Wn, T(0), Rn, nu,
                                   {true, (s & 1) != 0});
          } else if (direct) {
            for (int g = 0; g < G; ++g)
              gemm::gemm_direct<T>(nb, nu, Ho, A, hq * Ho, w.w_hh + (g * H + u0) * Ho, Ho, true,
                                   T(0), R + g * nu, gnu);
          } else {
            gemm::gemm_serial<T>(nb, A, hq * Ho, false, Wt, T(0), R, gnu, {true, (s & 1) != 0});
          }
        }
        // 2b. fused elementwise pass on this thread's units (a thread may have none: too few
        //     units to go round, as with a per-thread input projection it then never made)
        for (int64_t i = 0; i < nb && nu > 0; ++i) {
          const int64_t j = f + i * q, b = L.seq(j);
          const int64_t t = time_index(s, b, NT, lengths, reverse);
          const int64_t pos = p0 + i * pq, yrow = row(t, b);
          // Fused, the step's product already holds the input part: it is the pass's only
          // operand, with the product's gate stride.
          const T* p = fuse ? R + i * gnu : Pin + pos * pin_ld;
          const T* r = fuse ? nullptr : R + i * gnu;
          const int64_t ps = fuse ? nu : pin_gs;
          T* sg = res.gates ? res.gates + pos * GH + u0 : nullptr;
          if constexpr (C == Cell::LSTM) {
            T* out = proj ? m + j * H + u0 : hx + j * Ho + u0;
            pw.lstm_fwd(nu, p, ps, r, nu, c + j * H + u0, out,
                        proj ? nullptr : y + yrow * Ho + u0, sg, H,
                        res.c ? res.c + pos * H + u0 : nullptr);
          } else if constexpr (C == Cell::GRU) {
            pw.gru_fwd(nu, p, ps, r, nu, fuse ? Rn + i * nu : r + 2 * nu,
                       b_hn ? b_hn + u0 : nullptr, hc + j * Ho + u0,
                       hx + j * Ho + u0, y + yrow * Ho + u0, sg, H,
                       res.hn ? res.hn + pos * H + u0 : nullptr);
          } else {
            pw.rnn_fwd(nu, p, r, hx + j * Ho + u0, y + yrow * Ho + u0, sg, C == Cell::RNN_RELU);
          }
          if (h_mask && !proj)
            for (int64_t k = u0; k < u1; ++k) hmx[j * Ho + k] = hx[j * Ho + k] * h_mask[b * Ho + k];
        }
        if (proj) {  // h_t = m_t W_hr^T, this thread's output columns
          if (sp.by_units) step_barrier.wait(tid, nth);
          if (nv > 0 && nb > 0) {
            if (direct)
              gemm::gemm_direct<T>(nb, nv, H, m + f * H, hq * H, w.w_hr + v0 * H, H, true, T(0),
                                   rp, nv);
            else
              gemm::gemm_serial<T>(nb, m + f * H, hq * H, false, Wr, T(0), rp, nv,
                                   {true, (s & 1) != 0});
          }
          for (int64_t i = 0; i < nb && nv > 0; ++i) {  // nv == 0: rp was never allocated
            const int64_t j = f + i * q, b = L.seq(j);
            const int64_t t = time_index(s, b, NT, lengths, reverse);
            T* hxb = hx + j * Ho + v0;
            std::memcpy(hxb, rp + i * nv, sizeof(T) * nv);
            std::memcpy(y + row(t, b) * Ho + v0, hxb, sizeof(T) * nv);
            if (h_mask)
              for (int64_t k = v0; k < v1; ++k) hmx[j * Ho + k] = hx[j * Ho + k] * h_mask[b * Ho + k];
          }
        }
        if (sp.by_units) step_barrier.wait(tid, nth);
        std::swap(hc, hx);
        std::swap(hmc, hmx);
      }
    }
  });
  if (error) std::rethrow_exception(error);
  // A sequence's final state is in the buffer its last step wrote, step len-1 (h ping-pongs
  // between the two halves of hbuf), untouched since: later steps write running slots only.
  for (int64_t b = 0; b < B; ++b) {
    const int64_t j = L.slot_of(b);
    const T* hf = hbuf + (detail::seq_len(b, NT, lengths) % 2 == 0 ? 0 : B * Ho) + j * Ho;
    if (h_n) std::memcpy(h_n + b * Ho, hf, sizeof(T) * Ho);
    if (res.h_last) std::memcpy(res.h_last + b * Ho, hf, sizeof(T) * Ho);
    if (C == Cell::LSTM && c_n) std::memcpy(c_n + b * H, c + j * H, sizeof(T) * H);
  }
}

}  // namespace

template <typename T>
void forward(Cell cell, T* y, T* h_n, T* c_n, T* reserve, const T* x, const T* h0, const T* c0,
             const int64_t* lengths, const T* h_mask, const Weights<T>& w, const Dims& d,
             bool reverse) {
  detail::validate(cell, d, w.w_ih, w.w_hh, w.b_ih, w.b_hh, w.w_hr, lengths);
  const detail::DenormalsOff flush;
  if (!x) throw std::invalid_argument("x: expected a [T,B,I] input, got a null pointer");
  if (!y) throw std::invalid_argument("y: expected a [T,B,H_out] output buffer, got a null pointer");
  switch (cell) {
    case Cell::RNN_TANH:
      return run_forward<T, Cell::RNN_TANH>(y, h_n, c_n, reserve, x, h0, c0, lengths, h_mask, w, d, reverse);
    case Cell::RNN_RELU:
      return run_forward<T, Cell::RNN_RELU>(y, h_n, c_n, reserve, x, h0, c0, lengths, h_mask, w, d, reverse);
    case Cell::LSTM:
      return run_forward<T, Cell::LSTM>(y, h_n, c_n, reserve, x, h0, c0, lengths, h_mask, w, d, reverse);
    case Cell::GRU:
      return run_forward<T, Cell::GRU>(y, h_n, c_n, reserve, x, h0, c0, lengths, h_mask, w, d, reverse);
  }
}

template void forward<float>(Cell, float*, float*, float*, float*, const float*, const float*,
                             const float*, const int64_t*, const float*, const Weights<float>&,
                             const Dims&, bool);
template void forward<double>(Cell, double*, double*, double*, double*, const double*,
                              const double*, const double*, const int64_t*, const double*,
                              const Weights<double>&, const Dims&, bool);

}  // namespace rnnfast
