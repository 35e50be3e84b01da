// The forward driver of the product cells (run_forward, a template over the cell's traits and
// zoneout), shared by two translation units: forward.cc instantiates it without zoneout,
// forward_zoneout.cc with. Apart, each unit is compiled (inlined) as if the other did not exist,
// so the loop without zoneout is the same machine code as before zoneout existed. Internal
// linkage (an unnamed namespace): each unit has its own copy.
//
// Forward of one recurrent layer, one direction, for RNN (tanh/relu), LSTM (+ projection), GRU.
// 1. P = X W_ih^T + biases for all steps in one GEMM (hoisted out of the time loop), or, when
//    that measures faster (fuse_input), per step inside the loop.
// 2. Time loop inside ONE OpenMP parallel region (team.h): per step each thread multiplies
//    h_{t-1} by its own packed slice of W_hh^T, runs the fused elementwise pass of the cell
//    (pointwise_<isa>.cc) on its slice, and a barrier publishes h_t (none in batch split).
//    A projected LSTM adds h = m W_hr^T, split by output columns, behind one more barrier.
// h is double-buffered so one barrier per step suffices. No heap allocation inside the loop.
// In inference (reserve == nullptr) nothing is saved for backward.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <new>
#include <stdexcept>
#include <type_traits>
#include <utility>
#include <vector>

#include "cells/common.h"
#include "cells/elementwise.h"
#include "cells/pointwise_table.h"
#include "cells/precision.h"
#include "cells/rownorm.h"
#include "cells/team.h"
#include "cells/traits.h"
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

template <typename T, typename K>
InputMode input_mode(const Dims& d, const detail::Split& sp, int64_t rows_all, bool direct) {
  // The layer-normalized cells normalize the input product's rows before the loop.
  if (K::kRowNorm || direct || rows_all <= gemm::kDirectMaxRows) return InputMode::kHoisted;
  const InputMode fused = K::kTwoProducts ? InputMode::kHoisted : InputMode::kFused;
  const int64_t th = sp.threads > 1 ? sp.threads : 1;
  const int64_t rows = sp.by_units ? d.B : d.B / th;
  const double units = static_cast<double>(d.H) / (sp.by_units ? th : 1);
  const bool team_ok = sp.by_units;
  if (const char* e = std::getenv("RNNFAST_FUSED_INPUT")) {
    if (std::strcmp(e, "0") == 0) return InputMode::kHoisted;
    if (std::strcmp(e, "1") == 0) return fused;
    if (std::strcmp(e, "team") == 0) return team_ok ? InputMode::kTeam : InputMode::kHoisted;
  }
  if (rows < 8 && team_ok &&
      static_cast<double>(rows_all) * K::kGates * units * sizeof(T) <= kTeamInputBytes)
    return InputMode::kTeam;
  const double bytes = static_cast<double>(d.I + d.H_out) * K::kGates * units * sizeof(T);
  // The GRU's larger products gained nothing measurable (B=64 I=H=512, xlarge) while its
  // packed W_ih slices raised a training step's peak by up to 22 MB: by bytes only.
  if (rows >= 8) return bytes <= 3.0e6 || (rows >= 32 && !K::kSplitN) ? fused : InputMode::kHoisted;
  // a few rows: only if W_ih adds at most a quarter to the stream
  return 4 * d.I <= d.H_out ? fused : InputMode::kHoisted;
}

// Zoneout on columns a0 .. a0+na of slot j's new state h~_t (hx: its units, or with a
// projection its output columns), after the cell's pass (or the projection) wrote it: h~_t
// becomes h_t (in hx and y's row yr), the RNN's h~_t kept in the reserve (its gate). Free
// functions called only in the drivers' Z instantiation, so that the loop without zoneout
// captures nothing more than before (the same machine code).
template <typename T, bool kHasC>
void zone_h(const Zoneout<T>& zo, const detail::Reserve<T>& res, T* hx, const T* hc, T* y,
            int64_t H, int64_t Ho, int64_t yr, int64_t j, int64_t pos, int64_t a0, int64_t na) {
  T* hj = hx + j * Ho + a0;
  if (!kHasC && res.zo) std::memcpy(res.zo + pos * H + a0, hj, sizeof(T) * na);
  detail::zoneout_mix(na, zo.h ? zo.h + yr * Ho + a0 : nullptr, zo.h_prob, hc + j * Ho + a0, hj);
  std::memcpy(y + yr * Ho + a0, hj, sizeof(T) * na);
}

// Zoneout on units u0 .. u0+nu of slot j's new cell state c~_t (c), its c_{t-1} saved in
// cprev: c~_t becomes c_t, the LSTM's c~_t kept (tanh's operand) and aux (c_t, the next
// step's c_{t-1} in backward) overwritten.
template <typename T>
void zone_c(const Zoneout<T>& zo, const detail::Reserve<T>& res, T* c, const T* cprev, int64_t H,
            int64_t yr, int64_t j, int64_t pos, int64_t u0, int64_t nu) {
  T* cj = c + j * H + u0;
  if (res.zo) std::memcpy(res.zo + pos * H + u0, cj, sizeof(T) * nu);
  detail::zoneout_mix(nu, zo.c ? zo.c + yr * H + u0 : nullptr, zo.c_prob, cprev, cj);
  if (res.aux) std::memcpy(res.aux + pos * H + u0, cj, sizeof(T) * nu);
}

// K: the cell's traits (traits.h); Z: zoneout on (a separate instantiation, so that the
// loop without it is the same code); Pr: the number types (precision.h), T its storage type.
template <typename T, typename K, bool Z, typename Pr = detail::Precision<T>>
void run_forward(T* y, T* h_n, T* c_n, T* reserve, const T* x, const T* h0, const T* c0,
                 const int64_t* lengths, const T* h_mask, const Weights<T>& w, const Dims& d,
                 bool reverse, const Zoneout<T>& zo) {
  static_assert(std::is_same_v<T, typename Pr::Storage>, "T is the precision's storage type");
  using Mm = detail::Products<Pr>;
  constexpr Cell C = K::kCell;
  constexpr int G = K::kGates;
  const int64_t NT = d.T, B = d.B, I = d.I, H = d.H, Ho = d.H_out, GH = G * H;
  const bool proj = Ho != H;
  const detail::Rows row(d);
  const detail::Layout L(d, lengths, reverse);
  const int64_t NR = L.rows();  // per-position rows: sum(lengths), or T*B

  const detail::Split sp = detail::choose_split(B, H, Ho, G, sizeof(T), NT, K::kRowNorm);
  // A sequence of one or two steps cannot amortize packing: multiply the weights as they are
  // (B, not a thread's rows: the same for any split). The two-product step always packs.
  const bool direct = NT <= 2 && B <= 16 && !K::kTwoProducts;
  const InputMode mode = input_mode<T, K>(d, sp, NR, direct);
  const bool fuse = mode == InputMode::kFused, team_in = mode == InputMode::kTeam;

  // 1. Input projection of every step, biases folded in (GRU keeps b_hn apart: it sits
  //    inside r * (W_hn h + b_hn), K::kFoldBhn); or, fused, at each step into the recurrent
  //    product.
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
      bias[j] = w.b_ih[j] + ((K::kFoldBhn || j < 2 * H) ? w.b_hh[j] : T(0));
  }
  T* P = nullptr;
  if (mode == InputMode::kHoisted) {
    P = ws.get<T>(detail::kP, static_cast<size_t>(NR * GH));
    // The layer-normalized cells add their biases after the normalization.
    Mm::full(false, true, NR, GH, I, xin, I, w.w_ih, I, T(0), P, GH, K::kRowNorm ? nullptr : bias);
  }
  const T* b_hn = (!K::kFoldBhn && w.b_hh) ? w.b_hh + 2 * H : nullptr;
  const T* wp = K::kCell == Cell::LSTM_PEEPHOLE ? w.extra[0] : nullptr;  // p_i, p_f, p_o

  detail::Reserve<T> res(C, d, reserve, Z);
  if (L.packed) {  // the reserve's rows past sum(lengths) are unused: zeros, not stale memory
    const int64_t spare = NT * B - NR;
    if (res.gates) std::fill_n(res.gates + NR * GH, spare * GH, T(0));
    if (res.aux) std::fill_n(res.aux + NR * H, spare * H, T(0));
    if constexpr (Z) {
      if (res.zo) std::fill_n(res.zo + NR * H, spare * H, T(0));
    }
    if constexpr (K::kRowNorm) {
      if (res.xn) {
        std::fill_n(res.xn + NR * GH, spare * GH, T(0));
        std::fill_n(res.hn + NR * GH, spare * GH, T(0));
        if (res.cn) std::fill_n(res.cn + NR * H, spare * H, T(0));
        std::fill_n(res.rstd + NR * 3, spare * 3, T(0));
      }
    }
  }
  // Layer normalization: the input product's rows normalized before the loop (into the
  // reserve when training, in place otherwise), in parallel over rows; and the shared
  // partial statistics of every slot's recurrent row and c row (cells/rownorm.h).
  T* norm_parts = nullptr;
  T* norm_parts_c = nullptr;
  const int64_t nblk = detail::norm_blocks(H);
  if constexpr (K::kRowNorm) {
    T* xn = res.xn ? res.xn : P;
    T* rstd_x = res.rstd;
    const int nt = detail::threads_for(static_cast<double>(NR) * GH * 8);
    const detail::TeamFork fork(nt);
#pragma omp parallel num_threads(nt) if (nt > 1)
    {
      const detail::TeamThread member(fork);
      std::vector<T> parts(static_cast<size_t>(3 * G * nblk));
#pragma omp for schedule(static)
      for (int64_t r = 0; r < NR; ++r) {
        T mean, rstd;
        detail::block_moments(P + r * GH, H, G, 0, H, H, parts.data());
        detail::combine_moments(parts.data(), G * nblk, &mean, &rstd);
        detail::normalize(P + r * GH, H, G, H, mean, rstd, xn + r * GH, H);
        if (rstd_x) rstd_x[r * 3] = rstd;
      }
    }
    P = xn;
    norm_parts = ws.get<T>(detail::kNormParts, static_cast<size_t>(B * 3 * G * nblk));
    if (K::kHasC) norm_parts_c = ws.get<T>(detail::kNormPartsC, static_cast<size_t>(B * 3 * nblk));
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
  T* c = K::kHasC ? ws.get<T>(detail::kC, static_cast<size_t>(B * H), true) : nullptr;
  // Two products: r * h' of every slot, which the n gate's product reads (all units of it).
  T* rh = K::kTwoProducts ? ws.get<T>(detail::kRh, static_cast<size_t>(B * H), true) : nullptr;
  T* m = proj ? ws.get<T>(detail::kM, static_cast<size_t>(B * H), true) : nullptr;
  for (int64_t j = 0; j < B; ++j) {
    const int64_t b = L.seq(j);
    if (h0) std::memcpy(hbuf + j * Ho, h0 + b * Ho, sizeof(T) * Ho);
    if (K::kHasC && c0) std::memcpy(c + j * H, c0 + b * H, sizeof(T) * H);
    if (h_mask)
      for (int64_t k = 0; k < Ho; ++k) hmbuf[j * Ho + k] = hbuf[j * Ho + k] * h_mask[b * Ho + k];
  }
  // The initial states, for backward, in the caller's order (zeros when none was given).
  if (res.h0) {
    if (h0)
      std::memcpy(res.h0, h0, sizeof(T) * B * Ho);
    else
      std::fill_n(res.h0, B * Ho, T(0));
  }
  if (res.c0) {
    if (c0)
      std::memcpy(res.c0, c0, sizeof(T) * B * H);
    else
      std::fill_n(res.c0, B * H, T(0));
  }

  const auto& pw = detail::passes<Pr>();
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
    typename Mm::Packed& Wt = Mm::packed(tws, detail::kPackWh);
    typename Mm::Packed& Wx = Mm::packed(tws, detail::kPackWx);
    typename Mm::Packed& Wn = Mm::packed(tws, detail::kPackWn);
    typename Mm::Packed& Wr = Mm::packed(tws, detail::kPackWr);
    T* R = nullptr;
    T* nscr = nullptr;  // kRowNorm: pre-activations, tanh's operand, inference's gates
    T* Rn = nullptr;    // fused GRU: W_hn h_{t-1}; two products: W_hn (r * h'); its units
    T* Gt = nullptr;    // two products, inference: the step's gates, [nb, 3*nu]
    T* rp = nullptr;
    T* bias_t = nullptr;
    T* zc = nullptr;  // zoneout, the LSTMs: c_{t-1} of this thread's units, [nb, nu]
    // Where the pass finds this thread's input part of position pos, gate g: hoisted,
    // P[pos, g*H + u0 ..]; kTeam, the thread's own Pt[pos, g*nu ..].
    const T* Pin = P ? P + u0 : nullptr;
    int64_t pin_ld = GH, pin_gs = H;
    // Fused, the GRU's state product covers the r and z gates (added onto the input part)
    // and, apart, the n gate.
    const bool fuse_gru = fuse && K::kSplitN;
    // The first product covers the r and z gates only when the n gate's is apart.
    const bool apart_n = fuse_gru || K::kTwoProducts;
    const int64_t gnu_h = apart_n ? 2 * nu : gnu;
    try {
      // This thread's columns of W_hh^T: gate g of unit u is column g*H + u.
      int64_t* cols = tws.get<int64_t>(detail::kCols, static_cast<size_t>(gnu > nv ? gnu : nv));
      for (int g = 0; g < G; ++g)
        for (int64_t k = 0; k < nu; ++k) cols[g * nu + k] = g * H + u0 + k;
      if (gnu > 0 && !direct) Wt.pack_columns(w.w_hh, Ho, /*transB=*/true, Ho, cols, gnu_h);
      if (apart_n && nu > 0) {
        Wn.pack_columns(w.w_hh, Ho, /*transB=*/true, Ho, cols + 2 * nu, nu);
        Rn = tws.get<T>(detail::kRn, static_cast<size_t>(nbmax * nu), true);
      }
      if (K::kTwoProducts && !res.gates && nu > 0)
        Gt = tws.get<T>(detail::kGt, static_cast<size_t>(nbmax * 3 * nu), true);
      if ((fuse || team_in) && gnu > 0) {  // the same columns of W_ih^T and of the folded biases
        Wx.pack_columns(w.w_ih, I, /*transB=*/true, I, cols, gnu);
        if (bias) {
          bias_t = tws.get<T>(detail::kBiasT, static_cast<size_t>(gnu));
          for (int64_t j = 0; j < gnu; ++j) bias_t[j] = bias[cols[j]];
        }
      }
      if (team_in && gnu > 0) {  // this thread's input part of every position, before the loop
        T* Pt = tws.get<T>(detail::kPt, static_cast<size_t>(NR * gnu));
        Mm::serial(NR, xin, I, false, Wx, T(0), Pt, gnu, gemm::Walk{}, bias_t);
        Pin = Pt;
        pin_ld = gnu;
        pin_gs = nu;
      }
      R = tws.get<T>(detail::kR, static_cast<size_t>(nbmax * gnu), true);
      if constexpr (Z && K::kHasC)
        zc = tws.get<T>(detail::kZo, static_cast<size_t>(nbmax * nu + 1));
      if (K::kRowNorm)
        nscr = tws.get<T>(detail::kNormScratch, static_cast<size_t>(6 * nu + nbmax * gnu));
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
        if (sp.by_units && nth > 1 && nb * Ho * static_cast<int64_t>(sizeof(T)) <= kPrefetchState) {
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
            Mm::serial(nb, xin + p0 * I, pq * I, false, Wx, T(0), R, gnu, gemm::Walk{}, bias_t);
            Mm::serial(nb, A, hq * Ho, false, Wt, T(1), R, gnu, {true, (s & 1) != 0});
            if (fuse_gru) Mm::serial(nb, A, hq * Ho, false, Wn, T(0), Rn, nu, {true, (s & 1) != 0});
          } else if (direct) {
            for (int g = 0; g < G; ++g)
              Mm::direct(nb, nu, Ho, A, hq * Ho, w.w_hh + (g * H + u0) * Ho, Ho, true, T(0),
                         R + g * nu, gnu);
          } else {
            Mm::serial(nb, A, hq * Ho, false, Wt, T(0), R, gnu, {true, (s & 1) != 0});
          }
        }
        // 2b. fused elementwise pass on this thread's units (a thread may have none: too few
        //     units to go round, as with a per-thread input projection it then never made).
        //     Two products: the r and z gates and r * h' (the pass's first half), a barrier
        //     when the units are split (the n gate's product reads r * h' of all of them),
        //     the product, then the n gate and h (the second half).
        if constexpr (K::kTwoProducts) {
          for (int64_t i = 0; i < nb && nu > 0; ++i) {
            const int64_t j = f + i * q, pos = p0 + i * pq;
            T* sg = res.gates ? res.gates + pos * GH + u0 : Gt + i * 3 * nu;
            pw.grb_fwd_a(nu, Pin + pos * pin_ld, pin_gs, R + i * gnu, nu,
                         (h_mask ? hmc : hc) + j * Ho + u0, rh + j * H + u0,
                         res.aux ? res.aux + pos * H + u0 : nullptr, sg, res.gates ? H : nu);
          }
          if (sp.by_units) step_barrier.wait(tid, nth);
          if (nu > 0 && nb > 0)
            Mm::serial(nb, rh + f * H, hq * H, false, Wn, T(0), Rn, nu, {true, (s & 1) != 0});
        }
        if constexpr (K::kRowNorm) {
          // (1) The recurrent product's row statistics: this thread's blocks, then (split by
          // units) a barrier, then every thread combines all blocks of its rows in the same
          // order and normalizes its own columns.
          const int64_t np = G * nblk;
          for (int64_t i = 0; i < nb && nu > 0; ++i)
            detail::block_moments(R + i * gnu, nu, G, u0, nu, H, norm_parts + (f + i * q) * 3 * np);
          if (sp.by_units) step_barrier.wait(tid, nth);
          for (int64_t i = 0; i < nb && nu > 0; ++i) {
            const int64_t j = f + i * q, pos = p0 + i * pq;
            T mean, rstd;
            detail::combine_moments(norm_parts + j * 3 * np, np, &mean, &rstd);
            T* Ri = R + i * gnu;
            detail::normalize(Ri, nu, G, nu, mean, rstd, Ri, nu);
            if (res.hn) {
              for (int g = 0; g < G; ++g)
                std::memcpy(res.hn + pos * GH + g * H + u0, Ri + g * nu, sizeof(T) * nu);
              if (u0 == 0) {
                res.rstd[pos * 3 + 1] = rstd;
                if (!K::kHasC) res.rstd[pos * 3 + 2] = T(0);  // no c row: a defined value
              }
            }
            // (2) the gates and c_t (the GRU: the gates and h) on this thread's units
            T* gt = res.gates ? res.gates + pos * GH + u0 : nscr + 6 * nu + i * gnu;
            const int64_t gs = res.gates ? H : nu;
            if constexpr (K::kHasC) {
              if constexpr (Z) std::memcpy(zc + i * nu, c + j * H + u0, sizeof(T) * nu);
              detail::lnlstm_fwd_a(pw, nu, H, Pin + pos * pin_ld, pin_gs, Ri, nu, w.extra[0] + u0,
                                   w.extra[1] + u0, bias ? bias + u0 : nullptr, c + j * H + u0, gt,
                                   gs, res.aux ? res.aux + pos * H + u0 : nullptr, nscr);
              detail::block_moments(c + j * H + u0, H, 1, u0, nu, H, norm_parts_c + j * 3 * nblk);
            } else {
              const int64_t b = L.seq(j), t = time_index(s, b, NT, lengths, reverse);
              detail::lngru_fwd(pw, nu, H, Pin + pos * pin_ld, pin_gs, Ri, nu, w.extra[0] + u0,
                                w.extra[1] + u0, bias ? bias + u0 : nullptr,
                                b_hn ? b_hn + u0 : nullptr, hc + j * Ho + u0, hx + j * Ho + u0,
                                y + row(t, b) * Ho + u0, gt, gs,
                                res.aux ? res.aux + pos * H + u0 : nullptr, nscr);
              if constexpr (Z)
                zone_h<T, K::kHasC>(zo, res, hx, hc, y, H, Ho, row(t, b), j, pos, u0, nu);
              if (h_mask)
                for (int64_t k = u0; k < u1; ++k)
                  hmx[j * Ho + k] = hx[j * Ho + k] * h_mask[b * Ho + k];
            }
          }
          // (3) c_t's statistics the same way, then h = o * tanh(LN(c) * gamma_c + beta_c)
          if constexpr (K::kHasC) {
            if (sp.by_units) step_barrier.wait(tid, nth);
            for (int64_t i = 0; i < nb && nu > 0; ++i) {
              const int64_t j = f + i * q, b = L.seq(j);
              const int64_t t = time_index(s, b, NT, lengths, reverse);
              const int64_t pos = p0 + i * pq;
              T mean, rstd;
              detail::combine_moments(norm_parts_c + j * 3 * nblk, nblk, &mean, &rstd);
              if (res.rstd && u0 == 0) res.rstd[pos * 3 + 2] = rstd;
              const T* go =
                  res.gates ? res.gates + pos * GH + 3 * H + u0 : nscr + 6 * nu + i * gnu + 3 * nu;
              detail::lnlstm_fwd_b(pw, nu, c + j * H + u0, mean, rstd, w.extra[2] + u0,
                                   w.extra[3] + u0, go, res.cn ? res.cn + pos * H + u0 : nullptr,
                                   hx + j * Ho + u0, y + row(t, b) * Ho + u0, nscr);
              if constexpr (Z) {
                zone_c(zo, res, c, zc + i * nu, H, row(t, b), j, pos, u0, nu);
                zone_h<T, K::kHasC>(zo, res, hx, hc, y, H, Ho, row(t, b), j, pos, u0, nu);
              }
              if (h_mask)
                for (int64_t k = u0; k < u1; ++k)
                  hmx[j * Ho + k] = hx[j * Ho + k] * h_mask[b * Ho + k];
            }
          }
        } else {
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
            if constexpr (K::kHasC) {
              if constexpr (Z) std::memcpy(zc + i * nu, c + j * H + u0, sizeof(T) * nu);
              T* out = proj ? m + j * H + u0 : hx + j * Ho + u0;
              T* yo = proj ? nullptr : y + yrow * Ho + u0;
              T* cs = res.aux ? res.aux + pos * H + u0 : nullptr;
              if constexpr (C == Cell::LSTM_PEEPHOLE)
                pw.lstmp_fwd(nu, p, ps, r, nu, wp + u0, H, c + j * H + u0, out, yo, sg, H, cs);
              else
                pw.lstm_fwd(nu, p, ps, r, nu, c + j * H + u0, out, yo, sg, H, cs);
            } else if constexpr (K::kTwoProducts) {
              T* gz = sg ? sg : Gt + i * 3 * nu;  // r, z from the first half; n here
              const int64_t gs = sg ? H : nu;
              pw.grb_fwd_b(nu, p + 2 * ps, Rn + i * nu, gz + gs, hc + j * Ho + u0, hx + j * Ho + u0,
                           y + yrow * Ho + u0, gz + 2 * gs);
            } else if constexpr (K::kSplitN) {
              pw.gru_fwd(nu, p, ps, r, nu, fuse ? Rn + i * nu : r + 2 * nu,
                         b_hn ? b_hn + u0 : nullptr, hc + j * Ho + u0, hx + j * Ho + u0,
                         y + yrow * Ho + u0, sg, H, res.aux ? res.aux + pos * H + u0 : nullptr);
            } else {
              pw.rnn_fwd(nu, p, r, hx + j * Ho + u0, y + yrow * Ho + u0, sg, K::kRelu);
            }
            if constexpr (Z) {
              if constexpr (K::kHasC) zone_c(zo, res, c, zc + i * nu, H, row(t, b), j, pos, u0, nu);
              if (!proj)  // projected: after the projection
                zone_h<T, K::kHasC>(zo, res, hx, hc, y, H, Ho, row(t, b), j, pos, u0, nu);
            }
            if (h_mask && !proj)
              for (int64_t k = u0; k < u1; ++k)
                hmx[j * Ho + k] = hx[j * Ho + k] * h_mask[b * Ho + k];
          }
        }
        if (proj) {  // h_t = m_t W_hr^T, this thread's output columns
          if (sp.by_units) step_barrier.wait(tid, nth);
          if (nv > 0 && nb > 0) {
            if (direct)
              Mm::direct(nb, nv, H, m + f * H, hq * H, w.w_hr + v0 * H, H, true, T(0), rp, nv);
            else
              Mm::serial(nb, m + f * H, hq * H, false, Wr, T(0), rp, nv, {true, (s & 1) != 0});
          }
          for (int64_t i = 0; i < nb && nv > 0; ++i) {  // nv == 0: rp was never allocated
            const int64_t j = f + i * q, b = L.seq(j);
            const int64_t t = time_index(s, b, NT, lengths, reverse);
            T* hxb = hx + j * Ho + v0;
            std::memcpy(hxb, rp + i * nv, sizeof(T) * nv);
            std::memcpy(y + row(t, b) * Ho + v0, hxb, sizeof(T) * nv);
            if constexpr (Z)  // an LSTM: pos unused
              zone_h<T, true>(zo, res, hx, hc, y, H, Ho, row(t, b), j, 0, v0, nv);
            if (h_mask)
              for (int64_t k = v0; k < v1; ++k)
                hmx[j * Ho + k] = hx[j * Ho + k] * h_mask[b * Ho + k];
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
    if (K::kHasC && c_n) std::memcpy(c_n + b * H, c + j * H, sizeof(T) * H);
  }
}

}  // namespace
}  // namespace rnnfast
