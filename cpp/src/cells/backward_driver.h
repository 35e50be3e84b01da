// The backward driver of the product cells (run_backward, a template over the cell's traits and
// zoneout), shared by two translation units: backward.cc instantiates it without zoneout,
// backward_zoneout.cc with. Apart, each unit is compiled (inlined) as if the other did not exist,
// so the loop without zoneout is the same machine code as before zoneout existed. Internal
// linkage (an unnamed namespace): each unit has its own copy.
//
// Backpropagation through time of one recurrent layer, one direction.
// Reverse time loop (the only sequential part) inside ONE OpenMP parallel region, split as
// the forward (team.h): each thread runs the fused elementwise pass of the cell on its units
// (pointwise_<isa>.cc), giving the pre-activation gradients dG_t, then after one barrier
// computes its slice of dh_{t-1} = dG_t W_hh with its own packed slice of W_hh, reading dG_t's
// rows in place or from a double-buffered step copy, so one barrier per step suffices (a
// projected LSTM adds dm = dh W_hr behind a second one). After the loop the weight and input
// gradients are single GEMMs over all steps: dW_ih += dG^T X, dx = dG W_ih, dW_hh += dR^T
// H_prev; the biases are column sums, taken by the dW products as they pack dG^T. (For GRU the
// recurrent-side gradient dR differs from dG in the n block only, r * dn: that block is kept
// apart, dRn.)
// The state h_{t-1} each step read is not in the reserve: it is the forward's output y at the
// sequence's previous step, or the saved h0 at its first (c_{t-1} likewise: the reserve's c,
// or its c0).
#pragma once

#include <algorithm>
#include <atomic>
#include <cstring>
#include <exception>
#include <stdexcept>
#include <string>
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

// out[j] += sum_r A[r, j]  for A [rows, cols]
template <typename T>
void add_column_sums(T* out, const T* A, int64_t rows, int64_t cols) {
  const int nt = detail::threads_for(static_cast<double>(rows) * cols * 4);
  const detail::TeamFork fork(nt);
#pragma omp parallel num_threads(nt) if (nt > 1)
  {
    const detail::TeamThread member(fork);
    const int64_t tid = omp_get_thread_num(), n = omp_get_num_threads();
    const int64_t c0 = cols * tid / n, c1 = cols * (tid + 1) / n;
    if (c1 > c0) {
      std::vector<T> acc(static_cast<size_t>(c1 - c0), T(0));
      for (int64_t r = 0; r < rows; ++r) {
        const T* a = A + r * cols + c0;
        for (int64_t j = 0; j < c1 - c0; ++j) acc[j] += a[j];
      }
      for (int64_t j = 0; j < c1 - c0; ++j) out[c0 + j] += acc[j];
    }
  }
}

// out[j] += sum_r A[r, j] * X[r, j]  for A, X [rows, cols] (the gains' gradients): the same
// order as add_column_sums, whatever the thread count.
template <typename T>
void add_column_dots(T* out, const T* A, const T* X, int64_t rows, int64_t cols) {
  const int nt = detail::threads_for(static_cast<double>(rows) * cols * 4);
  const detail::TeamFork fork(nt);
#pragma omp parallel num_threads(nt) if (nt > 1)
  {
    const detail::TeamThread member(fork);
    const int64_t tid = omp_get_thread_num(), n = omp_get_num_threads();
    const int64_t c0 = cols * tid / n, c1 = cols * (tid + 1) / n;
    if (c1 > c0) {
      std::vector<T> acc(static_cast<size_t>(c1 - c0), T(0));
      for (int64_t r = 0; r < rows; ++r) {
        const T* a = A + r * cols + c0;
        const T* x = X + r * cols + c0;
        for (int64_t j = 0; j < c1 - c0; ++j) acc[j] += a[j] * x[j];
      }
      for (int64_t j = 0; j < c1 - c0; ++j) out[c0 + j] += acc[j];
    }
  }
}

// The layer-normalized input side after the loop, in parallel over rows: dA [rows, G*H] (the
// gradient of LN(P) * gamma_x + ...) becomes dP, the gradient of the un-normalized input
// product, in place: rstd * (d - mean(d) - xn * mean(d * xn)), d = dA * gamma_x.
template <typename T>
void norm_backward_rows(T* dA, const T* xn, const T* rstd, const T* gx, int64_t NR, int G,
                        int64_t H) {
  const int64_t GH = G * H, nblk = detail::norm_blocks(H);
  const int nt = detail::threads_for(static_cast<double>(NR) * GH * 8);
  const detail::TeamFork fork(nt);
#pragma omp parallel num_threads(nt) if (nt > 1)
  {
    const detail::TeamThread member(fork);
    std::vector<T> d(static_cast<size_t>(GH)), parts(static_cast<size_t>(2 * G * nblk));
#pragma omp for schedule(static)
    for (int64_t r = 0; r < NR; ++r) {
      T* a = dA + r * GH;
      for (int64_t k = 0; k < GH; ++k) d[k] = a[k] * gx[k];
      T m1, m2;
      detail::block_sums(d.data(), H, xn + r * GH, H, G, 0, H, H, parts.data());
      detail::combine_sums(parts.data(), G * nblk, GH, &m1, &m2);
      detail::norm_backward(d.data(), H, xn + r * GH, H, G, H, m1, m2, rstd[r * 3], a, H);
    }
  }
}

// dp += the peephole gradients: dp_i[k] (dp_f[k]) = sum over positions of dG's i (f) column k
// times c_{t-1}[k], dp_o[k] of dG's o column k times c_t[k]. Units split over a team.
template <typename T, typename Cprev>
void add_peephole_grads(T* dp, const T* dG, const T* c, int64_t NR, int64_t H, const Cprev& c_prev,
                        const detail::Layout& L) {
  const int64_t GH = 4 * H;
  const int nt = detail::threads_for(static_cast<double>(NR) * H * 6);
  const detail::TeamFork fork(nt);
#pragma omp parallel num_threads(nt) if (nt > 1)
  {
    const detail::TeamThread member(fork);
    const int64_t tid = omp_get_thread_num(), n = omp_get_num_threads();
    const int64_t k0 = H * tid / n, k1 = H * (tid + 1) / n;
    if (k1 > k0) {
      std::vector<T> acc(static_cast<size_t>(3 * (k1 - k0)), T(0));
      T* ai = acc.data();
      T* af = ai + (k1 - k0);
      T* ao = af + (k1 - k0);
      for (int64_t s = 0; s < L.T; ++s)
        for (int64_t j = 0; j < L.running(s); ++j) {
          const int64_t pos = L.pos(s, j);
          const T* g = dG + pos * GH;
          const T* cp = c_prev(s, j, L.seq(j));
          const T* ct = c + pos * H;
          for (int64_t k = k0; k < k1; ++k) {
            ai[k - k0] += g[k] * cp[k];
            af[k - k0] += g[H + k] * cp[k];
            ao[k - k0] += g[3 * H + k] * ct[k];
          }
        }
      for (int64_t k = k0; k < k1; ++k) {
        dp[k] += ai[k - k0];
        dp[H + k] += af[k - k0];
        dp[2 * H + k] += ao[k - k0];
      }
    }
  }
}

// The new cell state the LSTMs' pass differentiates, c~_t (tanh's operand): with zoneout the
// reserve's zo (aux holds c_t after the zoneout), else aux. Read where it is used, through
// res only, so that the loop without zoneout captures nothing more than before.
template <bool Z, typename T>
const T* new_c(const detail::Reserve<T>& res) {
  return Z && res.zo ? res.zo : res.aux;
}

// K: the cell's traits (traits.h); Z: zoneout on (its own instantiation, as the forward's);
// Pr: the number types (precision.h), T its storage type.
template <typename T, typename K, bool Z, typename Pr = detail::Precision<T>>
void run_backward(T* dx, T* dh0, T* dc0, const WeightGrads<T>& dw, const T* reserve, const T* dy,
                  const T* dh_n, const T* dc_n, const T* x, const T* y, const int64_t* lengths,
                  const T* h_mask, const Weights<T>& w, const Dims& d, bool reverse,
                  const Zoneout<T>& zo) {
  static_assert(std::is_same_v<T, typename Pr::Storage>, "T is the precision's storage type");
  using Mm = detail::Products<Pr>;
  constexpr Cell C = K::kCell;
  constexpr int G = K::kGates;
  // The GRU: the recurrent side of the n gate differs from its input side (r * dn), dRn.
  constexpr bool gru_after = K::kSplitN && !K::kTwoProducts;
  const int64_t NT = d.T, B = d.B, I = d.I, H = d.H, Ho = d.H_out, GH = G * H;
  const bool proj = Ho != H;
  const detail::Rows row(d);
  const detail::Layout L(d, lengths, reverse);  // the forward's: the same lengths give the same
  const int64_t NR = L.rows();                  // order (common.h)
  const detail::Reserve<T> res(C, d, const_cast<T*>(reserve), Z);

  // Per-position gradients (every row is written by the loop: packed, there are no rows past
  // a sequence's end) and shared step buffers, by slot.
  detail::Workspace& ws = detail::thread_workspace();
  const size_t bho = static_cast<size_t>(B * Ho), bh = static_cast<size_t>(B * H);
  // dG lives in the forward's slot of P (the input projection, scratch once the forward is
  // done): one rows*G*H buffer per thread instead of two.
  T* dG = ws.get<T>(detail::kP, static_cast<size_t>(NR * GH));
  // The recurrent-side gradient dR: dG itself but for the GRU's n block, dRn [rows, H].
  T* dRn = gru_after ? ws.get<T>(detail::kDR, static_cast<size_t>(NR * H)) : nullptr;
  T* dr_all = proj ? ws.get<T>(detail::kDr, static_cast<size_t>(NR * Ho)) : nullptr;
  T* dh = ws.get<T>(detail::kDh, bho, true);
  T* dc = K::kHasC ? ws.get<T>(detail::kDc, bh, true) : nullptr;
  // The step's product dh_{t-1} = dR_t W_hh reads dR_t's running rows. For the LSTM and RNN
  // (dR is dG) these are dG's rows of the step themselves, read in place (a quarter fewer
  // stores in the pass; docs/ARCHITECTURE.md, "Time loop"). Otherwise the pass also writes them to
  // a step buffer, by slot, double-buffered so that one barrier per step suffices.
  const bool in_place = !gru_after;
  T* dRs = in_place ? nullptr : ws.get<T>(detail::kDRs, 2 * static_cast<size_t>(B * GH), true);
  // GRUs: the direct paths to dh_{t-1} (z * dh; two products: also through r * h').
  // (LAYERNORM_GRU: its one recurrent product has no n gate apart, but the same direct path.)
  constexpr bool direct_h = K::kSplitN || (K::kRowNorm && !K::kHasC);
  T* dhd = direct_h ? ws.get<T>(detail::kDhd, bho, true) : nullptr;
  T* dm = proj ? ws.get<T>(detail::kDm, bh, true) : nullptr;
  // Layer normalization: dG holds the recurrent product's gradient dR (through LN(W_hh h')),
  // which the step product and dW_hh read; dA the pre-activations' gradient (the gains and
  // biases, and after the loop the input side's); dZ the gradient of LN(c) * gamma_c +
  // beta_c; and the shared partial sums of every slot's two row reductions.
  T* dA = nullptr;
  T* dV = nullptr;  // the recurrent side's pre-activation gradient: dA itself but for the GRU
  T* dZ = nullptr;
  T* norm_parts = nullptr;
  T* norm_parts_c = nullptr;
  const int64_t nblk = detail::norm_blocks(H);
  if constexpr (K::kRowNorm) {
    dA = ws.get<T>(detail::kDA, static_cast<size_t>(NR * GH));
    dV = K::kHasC ? dA : ws.get<T>(detail::kDV, static_cast<size_t>(NR * GH));
    if (K::kHasC) dZ = ws.get<T>(detail::kDZ, static_cast<size_t>(NR * H));
    norm_parts = ws.get<T>(detail::kNormParts, static_cast<size_t>(B * 2 * G * nblk));
    if (K::kHasC) norm_parts_c = ws.get<T>(detail::kNormPartsC, static_cast<size_t>(B * 2 * nblk));
  }
  // y must be the output of the forward that wrote the reserve: each sequence's last step
  // equal, bit for bit, to the h_n the reserve recorded (a y of another call, or one changed
  // since, would otherwise give wrong gradients without a word).
  for (int64_t b = 0; b < B; ++b) {
    const int64_t t = time_index(detail::seq_len(b, NT, lengths) - 1, b, NT, lengths, reverse);
    if (std::memcmp(y + row(t, b) * Ho, res.h_last + b * Ho, sizeof(T) * Ho) != 0)
      throw std::invalid_argument(
          "y: expected the output y of the forward call that wrote the reserve, got an array "
          "whose last step differs from that forward's h_n (sequence " +
          std::to_string(b) + ")");
  }
  // The state h_{t-1} step t of sequence b read: y at the sequence's previous step, or h0 at
  // its first; c_{t-1} of slot j at processing step s: the reserve's c one step back, or c0.
  auto h_prev = [&](int64_t t, int64_t b) {
    const int64_t tp = detail::prev_time(t, b, NT, lengths, reverse);
    return tp >= 0 ? y + row(tp, b) * Ho : res.h0 + b * Ho;
  };
  auto c_prev = [&](int64_t s, int64_t j, int64_t b) {
    return s > 0 ? res.aux + L.pos(s - 1, j) * H : res.c0 + b * H;
  };
  for (int64_t j = 0; j < B; ++j) {
    const int64_t b = L.seq(j);
    if (dh_n) std::memcpy(dh + j * Ho, dh_n + b * Ho, sizeof(T) * Ho);
    if (K::kHasC && dc_n) std::memcpy(dc + j * H, dc_n + b * H, sizeof(T) * H);
  }

  const auto& pw = detail::passes<Pr>();
  const detail::Split sp = detail::choose_split(B, H, Ho, G, sizeof(T), NT, K::kRowNorm);
  std::atomic<bool> failed{false};
  detail::StepBarrier step_barrier(sp.threads);
  std::exception_ptr error;

  detail::run_team(sp, [&](const int tid, const int nth) {
    const detail::Share sh = detail::share_of(sp, tid, nth, B, H, Ho);
    const detail::ThreadSlots ts = detail::slots_of(sp, sh, L, tid, nth);
    const int64_t f = ts.f, q = ts.q, nbmax = ts.at(L, 0);
    const int64_t u0 = sh.u0, u1 = sh.u1, v0 = sh.v0, v1 = sh.v1;
    const int64_t nu = u1 - u0, nv = v1 - v0;
    // Rows between this thread's consecutive slots in the state buffers and in dG.
    const int64_t hq = q, pq = q * L.slot_stride();
    // Too few steps to amortize packing (B: the same path for any thread count); the
    // two-product step always packs.
    const bool direct = NT <= 2 && B <= 16 && !K::kTwoProducts;
    // W_hh [GH, Ho] columns v0..v1; W_hr [Ho, H] columns u0..u1
    detail::Workspace& tws = detail::thread_workspace();
    typename Mm::Packed& Wb = Mm::packed(tws, detail::kPackWh);
    typename Mm::Packed& Wr = Mm::packed(tws, detail::kPackWr);
    typename Mm::Packed& Wn = Mm::packed(tws, detail::kPackWn);  // two products: W_hn
    T* dhp = nullptr;
    T* nscr = nullptr;  // kRowNorm: tanh's operand and result, one row's d = dA * gamma_h
    T* drh = nullptr;   // two products: d(r * h') = dA_n W_hn, this thread's columns
    T* zk = nullptr;    // zoneout: the kept d^h * dh_t [nb, nv], then d^c * dc_t [nb, nu]
    try {
      int64_t* cols = tws.get<int64_t>(detail::kCols, static_cast<size_t>(nv > nu ? nv : nu));
      for (int64_t k = 0; k < nv; ++k) cols[k] = v0 + k;
      // Two products: dh_{t-1} reads the r and z rows of W_hh; the n rows apart.
      if (nv > 0 && !direct)
        Wb.pack_columns(w.w_hh, Ho, /*transB=*/false, K::kTwoProducts ? 2 * H : GH, cols, nv);
      if (K::kTwoProducts && nv > 0) {
        Wn.pack_columns(w.w_hh + 2 * H * Ho, Ho, /*transB=*/false, H, cols, nv);
        drh = tws.get<T>(detail::kDhn, static_cast<size_t>(nbmax * nv), true);
      }
      for (int64_t k = 0; k < nu; ++k) cols[k] = u0 + k;
      if (proj && nu > 0 && !direct) Wr.pack_columns(w.w_hr, H, /*transB=*/false, Ho, cols, nu);
      dhp = tws.get<T>(detail::kDhp, static_cast<size_t>(nbmax * nv), true);
      if constexpr (Z) zk = tws.get<T>(detail::kZo, static_cast<size_t>(nbmax * (nu + nv) + 1));
      if (K::kRowNorm)
        nscr = tws.get<T>(detail::kNormScratch, static_cast<size_t>(2 * nu + nbmax * (G + 1) * nu));
    } catch (...) {
#pragma omp critical(rnnfast_backward_error)
      if (!error) error = std::current_exception();
      failed = true;
    }
    step_barrier.wait(tid, nth);  // never an OpenMP barrier: it would bind to an outer team
    if (!failed.load()) {
      int parity = 0;
      for (int64_t s = NT - 1; s >= 0; --s) {
        const int64_t nb = ts.at(L, s);  // this thread's running slots f, f+q, .. (nb of them)
        const int64_t p0 = nb > 0 ? L.pos(s, f) : 0;
        T* dRstep = in_place ? nullptr : dRs + parity * B * GH;  // by slot
        // dh_t += dy_t on this thread's output columns
        for (int64_t i = 0; i < nb; ++i) {
          const int64_t j = f + i * q, b = L.seq(j);
          const int64_t t = time_index(s, b, NT, lengths, reverse);
          T* dhb = dh + j * Ho;
          if (dy) {
            const T* dyb = dy + row(t, b) * Ho;
            for (int64_t k = v0; k < v1; ++k) dhb[k] += dyb[k];
          }
          // Zoneout: d^h * dh_t passes to dh_{t-1} directly, (1 - d^h) * dh_t to the new
          // state h~_t (the cell's pass, or the projection: dr_all, W_hr's gradient).
          if constexpr (Z)
            detail::zoneout_split(nv, zo.h ? zo.h + row(t, b) * Ho + v0 : nullptr, zo.h_prob,
                                  dhb + v0, zk + i * nv);
          if (proj) std::memcpy(dr_all + (p0 + i * pq) * Ho + v0, dhb + v0, sizeof(T) * nv);
        }
        if (proj) {  // dm = dh W_hr on this thread's units (needs all of dh)
          if (sp.by_units) step_barrier.wait(tid, nth);
          if (nu > 0 && nb > 0) {
            if (direct)
              Mm::direct(nb, nu, Ho, dh + f * Ho, hq * Ho, w.w_hr + u0, H, false, T(0),
                         dm + f * H + u0, hq * H);
            else
              Mm::serial(nb, dh + f * Ho, hq * Ho, false, Wr, T(0), dm + f * H + u0, hq * H,
                         {true, (s & 1) != 0});
          }
        }
        const T* dmv = proj ? dm : dh;
        // Zoneout on c likewise (this thread's units): d^c * dc_t kept for dc_{t-1}.
        if constexpr (Z && K::kHasC) {
          for (int64_t i = 0; i < nb && nu > 0; ++i) {
            const int64_t j = f + i * q, b = L.seq(j);
            const int64_t yr = row(time_index(s, b, NT, lengths, reverse), b) * H + u0;
            detail::zoneout_split(nu, zo.c ? zo.c + yr : nullptr, zo.c_prob, dc + j * H + u0,
                                  zk + nbmax * nv + i * nu);
          }
        }
        // fused elementwise pass on this thread's units
        if constexpr (K::kRowNorm) {
          T* dcn_all = nscr + 2 * nu;        // [nb, nu]
          T* dh_all = dcn_all + nbmax * nu;  // [nb, G*nu]: d = dV * gamma_h
          const int64_t np = G * nblk;
          if constexpr (K::kHasC) {
            // (1) through h = o * tanh(LN(c) * gamma_c + beta_c): o's gradient, dZ, and the
            // normalized c's gradient with its two row sums (this thread's blocks)
            for (int64_t i = 0; i < nb && nu > 0; ++i) {
              const int64_t j = f + i * q, pos = p0 + i * pq;
              T* dcn = dcn_all + i * nu;
              detail::lnlstm_bwd_a(pw, nu, dmv + j * H + u0, res.gates + pos * GH + 3 * H + u0,
                                   res.cn + pos * H + u0, w.extra[2] + u0, w.extra[3] + u0,
                                   dA + pos * GH + 3 * H + u0, dZ + pos * H + u0, dcn, nscr);
              detail::block_sums(dcn, nu, res.cn + pos * H + u0, H, 1, u0, nu, H,
                                 norm_parts_c + j * 2 * nblk);
            }
            if (sp.by_units) step_barrier.wait(tid, nth);
            // (2) through LN(c) to c_t, the gates, then d = dA * gamma_h and its two row sums
            for (int64_t i = 0; i < nb && nu > 0; ++i) {
              const int64_t j = f + i * q, b = L.seq(j), pos = p0 + i * pq;
              T m1, m2;
              detail::combine_sums(norm_parts_c + j * 2 * nblk, nblk, H, &m1, &m2);
              T* da = dA + pos * GH + u0;
              detail::lnlstm_bwd_b(nu, H, res.gates + pos * GH + u0, H, c_prev(s, j, b) + u0,
                                   dcn_all + i * nu, res.cn + pos * H + u0, m1, m2,
                                   res.rstd[pos * 3 + 2], dc + j * H + u0, da);
              T* dd = dh_all + i * G * nu;
              const T* gh = w.extra[1] + u0;
              for (int g = 0; g < G; ++g)
                for (int64_t k = 0; k < nu; ++k) dd[g * nu + k] = da[g * H + k] * gh[g * H + k];
              detail::block_sums(dd, nu, res.hn + pos * GH + u0, H, G, u0, nu, H,
                                 norm_parts + j * 2 * np);
            }
          } else {
            // (1, GRU) the gates' gradients, input side (dA) and recurrent side (dV), the
            // direct path z * dh, then d = dV * gamma_h and its two row sums
            for (int64_t i = 0; i < nb && nu > 0; ++i) {
              const int64_t j = f + i * q, b = L.seq(j), pos = p0 + i * pq;
              const int64_t t = time_index(s, b, NT, lengths, reverse);
              T* dd = dh_all + i * G * nu;
              detail::lngru_bwd(nu, H, res.gates + pos * GH + u0, H, h_prev(t, b) + u0,
                                res.aux + pos * H + u0, dmv + j * H + u0, w.extra[1] + u0,
                                dA + pos * GH + u0, dV + pos * GH + u0, dd, dhd + j * Ho + u0);
              detail::block_sums(dd, nu, res.hn + pos * GH + u0, H, G, u0, nu, H,
                                 norm_parts + j * 2 * np);
            }
          }
          if (sp.by_units) step_barrier.wait(tid, nth);
          // (3) through LN(W_hh h'): dR, which the step's product reads in place (dG)
          for (int64_t i = 0; i < nb && nu > 0; ++i) {
            const int64_t j = f + i * q, pos = p0 + i * pq;
            T m1, m2;
            detail::combine_sums(norm_parts + j * 2 * np, np, GH, &m1, &m2);
            detail::norm_backward(dh_all + i * G * nu, nu, res.hn + pos * GH + u0, H, G, nu, m1, m2,
                                  res.rstd[pos * 3 + 1], dG + pos * GH + u0, H);
          }
        } else {
          for (int64_t i = 0; i < nb; ++i) {
            const int64_t j = f + i * q, b = L.seq(j);
            const int64_t t = time_index(s, b, NT, lengths, reverse);
            const int64_t pos = p0 + i * pq;
            T* dg = dG + pos * GH + u0;
            T* drs = in_place ? nullptr : dRstep + j * GH + u0;
            if constexpr (C == Cell::LSTM_PEEPHOLE) {
              pw.lstmp_bwd(nu, res.gates + pos * GH + u0, H, c_prev(s, j, b) + u0,
                           new_c<Z>(res) + pos * H + u0, w.extra[0] + u0, H, dmv + j * H + u0,
                           dc + j * H + u0, dg, H);
            } else if constexpr (K::kHasC) {
              pw.lstm_bwd(nu, res.gates + pos * GH + u0, H, c_prev(s, j, b) + u0,
                          new_c<Z>(res) + pos * H + u0, dmv + j * H + u0, dc + j * H + u0, dg, H,
                          drs, H);
            } else if constexpr (K::kTwoProducts) {  // the z and n gates (r needs d(r * h'))
              pw.grb_bwd_a(nu, res.gates + pos * GH + u0, H, h_prev(t, b) + u0, dmv + j * H + u0,
                           dg, H, dhd + j * Ho + u0);
            } else if constexpr (K::kSplitN) {
              pw.gru_bwd(nu, res.gates + pos * GH + u0, H, h_prev(t, b) + u0,
                         res.aux + pos * H + u0, dmv + j * H + u0, dg, H, dRn + pos * H + u0, drs,
                         H, dhd + j * Ho + u0);
            } else {  // the RNN's gate is h_t: y (H_out == H); with zoneout h~_t
              pw.rnn_bwd(nu, Z ? res.zo + pos * H + u0 : y + row(t, b) * Ho + u0, dmv + j * H + u0,
                         dg, drs, K::kRelu);
            }
          }
        }
        // Zoneout: dc_{t-1} (the pass's, through c~_t) += d^c * dc_t.
        if constexpr (Z && K::kHasC) {
          for (int64_t i = 0; i < nb && nu > 0; ++i) {
            T* dcj = dc + (f + i * q) * H + u0;
            const T* kept = zk + nbmax * nv + i * nu;
            for (int64_t k = 0; k < nu; ++k) dcj[k] += kept[k];
          }
        }
        // Two products: d(r * h') = dA_n W_hn needs dA_n of all units (a barrier when they
        // are split), then the r gate's gradient and r * h''s path to dh_{t-1}, on this
        // thread's units (its columns: the same range without a projection).
        if constexpr (K::kTwoProducts) {
          if (sp.by_units) step_barrier.wait(tid, nth);
          if (nv > 0 && nb > 0)
            Mm::serial(nb, dG + p0 * GH + 2 * H, pq * GH, false, Wn, T(0), drh, nv,
                       {true, (s & 1) != 0});
          for (int64_t i = 0; i < nb && nv > 0; ++i) {
            const int64_t j = f + i * q, b = L.seq(j);
            const int64_t t = time_index(s, b, NT, lengths, reverse);
            const int64_t pos = p0 + i * pq;
            pw.grb_bwd_b(nv, drh + i * nv, res.gates + pos * GH + v0, h_prev(t, b) + v0,
                         h_mask ? h_mask + b * Ho + v0 : nullptr, dG + pos * GH + v0,
                         dhd + j * Ho + v0);
          }
        }
        if (sp.by_units) step_barrier.wait(tid, nth);
        // dh_{t-1} = (dR_t W_hh) * h_mask (+ z * dh_t for GRU), this thread's columns;
        // ended sequences keep their dh.
        if (nv > 0 && nb > 0) {
          const T* A = in_place ? dG + p0 * GH : dRstep + f * GH;
          const int64_t lda = (in_place ? pq : hq) * GH;
          if (direct)
            Mm::direct(nb, nv, GH, A, lda, w.w_hh + v0, Ho, false, T(0), dhp, nv);
          else
            Mm::serial(nb, A, lda, false, Wb, T(0), dhp, nv, {true, (s & 1) != 0});
        }
        for (int64_t i = 0; i < nb; ++i) {
          const int64_t j = f + i * q, b = L.seq(j);
          T* dhb = dh + j * Ho;
          const T* src = dhp + i * nv;
          const T* mb = h_mask ? h_mask + b * Ho : nullptr;
          for (int64_t k = 0; k < nv; ++k) {
            T v = src[k];
            if (mb) v *= mb[v0 + k];
            if constexpr (direct_h) v += dhd[j * Ho + v0 + k];
            if constexpr (Z) v += zk[i * nv + k];  // d^h * dh_t
            dhb[v0 + k] = v;
          }
        }
        parity ^= 1;
      }
    }
  });
  if (error) std::rethrow_exception(error);
  for (int64_t j = 0; j < B; ++j) {
    const int64_t b = L.seq(j);
    if (dh0) std::memcpy(dh0 + b * Ho, dh + j * Ho, sizeof(T) * Ho);
    if (K::kHasC && dc0) std::memcpy(dc0 + b * H, dc + j * H, sizeof(T) * H);
  }

  // The forward's input rows in the order of dG: x itself, or (packed) gathered again.
  const T* xin = x;
  if (L.packed && dw.dw_ih) {
    T* xp = ws.get<T>(detail::kXp, static_cast<size_t>(NR * I));
    L.gather(x, I, xp);
    xin = xp;
  }
  // The layer-normalized cells: the gains' and biases' gradients from dA (and dZ), then dA
  // becomes the input product's gradient dP, through LN(W_ih x), for dx and dW_ih.
  if constexpr (K::kRowNorm) {
    if (dw.dextra[0]) add_column_dots<T>(dw.dextra[0], dA, res.xn, NR, GH);
    if (dw.dextra[1]) add_column_dots<T>(dw.dextra[1], dV, res.hn, NR, GH);
    if constexpr (K::kHasC) {
      if (dw.dextra[2]) add_column_dots<T>(dw.dextra[2], dZ, res.cn, NR, H);
      if (dw.dextra[3]) add_column_sums<T>(dw.dextra[3], dZ, NR, H);
    }
    if (dw.db_ih || dw.db_hh) {
      T* sums = ws.get<T>(detail::kBiasSums, static_cast<size_t>(GH), true);
      add_column_sums<T>(sums, dA, NR, GH);
      for (int64_t j = 0; j < GH && dw.db_ih; ++j) dw.db_ih[j] += sums[j];
      if (K::kHasC) {
        for (int64_t j = 0; j < GH && dw.db_hh; ++j) dw.db_hh[j] += sums[j];
      } else if (dw.db_hh) {  // the GRU: dV's own sums
        std::fill_n(sums, GH, T(0));
        add_column_sums<T>(sums, dV, NR, GH);
        for (int64_t j = 0; j < GH; ++j) dw.db_hh[j] += sums[j];
      }
    }
    if (dx || dw.dw_ih) norm_backward_rows<T>(dA, res.xn, res.rstd, w.extra[0], NR, G, H);
  }
  // The input side's gradient: dG, or (kRowNorm) dP in dA.
  const T* dIn = K::kRowNorm ? dA : dG;
  // Weight and input gradients: one GEMM each over all positions.
  if (dx) {
    if (!L.packed) {
      Mm::full(false, false, NR, I, GH, dIn, GH, w.w_ih, I, T(0), dx, I);
    } else {  // in packed order, then to the caller's rows (zeros past each sequence's end)
      T* dxp = ws.get<T>(detail::kDxp, static_cast<size_t>(NR * I));
      Mm::full(false, false, NR, I, GH, dIn, GH, w.w_ih, I, T(0), dxp, I);
      L.scatter(dxp, I, dx);
      for (int64_t b = 0; b < B; ++b)
        for (int64_t t = lengths[b]; t < NT; ++t) std::fill_n(dx + row(t, b) * I, I, T(0));
    }
  }
  // The bias gradients are column sums of dG (db_hh: of dR, which is dG but for the GRU's n
  // block, dRn), gathered in `sums` and added to both biases from there. The dW products take
  // them as they pack dG^T (and dRn^T), in the same order as a pass of their own, which runs
  // only when the product is not asked for: one pass over dG less.
  const int64_t same = gru_after ? 2 * H : GH;  // columns where dR is dG
  // (kRowNorm: taken above, from dA.)
  T* sums = !K::kRowNorm && (dw.db_ih || dw.db_hh)
                ? ws.get<T>(detail::kBiasSums, static_cast<size_t>(GH), true)
                : nullptr;
  if (dw.dw_ih)
    Mm::full(true, false, GH, I, NR, dIn, GH, xin, I, T(1), dw.dw_ih, I, nullptr, sums);
  else if (sums)
    add_column_sums<T>(sums, dG, NR, GH);
  if (sums) {
    for (int64_t j = 0; j < GH && dw.db_ih; ++j) dw.db_ih[j] += sums[j];
    for (int64_t j = 0; j < same && dw.db_hh; ++j) dw.db_hh[j] += sums[j];
  }
  // (GRU) db_hh's n block: dRn's column sums, in the same slot (sums is spent).
  T* nsums =
      gru_after && dw.db_hh ? ws.get<T>(detail::kBiasSums, static_cast<size_t>(H), true) : nullptr;
  if (dw.dw_hh) {  // dW_hh += dR^T (H_prev * h_mask): W_hh saw the dropped-out state
    // H_prev, row pos, is y at the sequence's previous step or h0 at its first: packed for the
    // GEMM straight from there, the sequence's mask applied as it is packed. The same sum
    // over all positions as from a [rows, H_out] copy.
    const T** rows = ws.get<const T*>(detail::kRows, static_cast<size_t>(NR));
    const T** scales =
        h_mask ? ws.get<const T*>(detail::kScaleRows, static_cast<size_t>(NR)) : nullptr;
    for (int64_t s = 0; s < NT; ++s)
      for (int64_t j = 0; j < L.running(s); ++j) {
        const int64_t b = L.seq(j), pos = L.pos(s, j);
        rows[pos] = h_prev(time_index(s, b, NT, lengths, reverse), b);
        if (scales) scales[pos] = h_mask + b * Ho;
      }
    typename Mm::Packed& Hp = Mm::packed(ws, detail::kPackGemm);
    Hp.pack_rows(rows, NR, Ho, scales);
    // dR^T's rows: dG's columns, then (GRU) the n block from dRn; two products: the n rows
    // multiply r * h' (the reserve's aux), not h'.
    Mm::packed_product(K::kTwoProducts ? 2 * H : same, dG, GH, /*transA=*/true, Hp, T(1), dw.dw_hh,
                       Ho);
    if (K::kTwoProducts)
      Mm::full(true, false, H, Ho, NR, dG + 2 * H, GH, res.aux, H, T(1), dw.dw_hh + 2 * H * Ho, Ho);
    if (gru_after)  // its n rows
      Mm::packed_product(H, dRn, H, /*transA=*/true, Hp, T(1), dw.dw_hh + 2 * H * Ho, Ho, nullptr,
                         nsums);
  } else if (nsums) {
    add_column_sums<T>(nsums, dRn, NR, H);
  }
  for (int64_t j = 0; j < H && nsums; ++j) dw.db_hh[2 * H + j] += nsums[j];
  if constexpr (C == Cell::LSTM_PEEPHOLE) {
    if (dw.dextra[0]) add_peephole_grads<T>(dw.dextra[0], dG, new_c<Z>(res), NR, H, c_prev, L);
  }
  if constexpr (K::kProjection) {
    if (proj && dw.dw_hr) {  // dW_hr += dr^T M, M = o * tanh(c) from the reserve
      T* M = ws.get<T>(detail::kMproj, static_cast<size_t>(NR * H));
      for (int64_t pos = 0; pos < NR; ++pos) {  // tanh(c_t) by the forward's own function
        T* mp = M + pos * H;
        pw.eval(1, H, new_c<Z>(res) + pos * H, mp);  // c~_t with zoneout
        for (int64_t k = 0; k < H; ++k) mp[k] *= res.gates[pos * GH + 3 * H + k];
      }
      Mm::full(true, false, Ho, H, NR, dr_all, Ho, M, H, T(1), dw.dw_hr, H);
    }
  }
}

}  // namespace
}  // namespace rnnfast
