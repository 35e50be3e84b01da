// Backpropagation through time of one recurrent layer, one direction.
// Reverse time loop (the only sequential part): a fused elementwise pass per cell kind from
// (dh_t, dc_t, saved gates) to the pre-activation gradients dG_t, then dh_{t-1} = dG_t W_hh as
// one GEMM with W_hh packed once. After the loop the weight and input gradients are single
// GEMMs over all steps: dW_ih += dG^T X, dx = dG W_ih, dW_hh += dR^T H_prev, biases = column
// sums. (For GRU the recurrent-side gradient dR differs from dG in the n block: r * dn.)
// reference: derivatives from saved outputs, sigmoid' = y(1-y), tanh' = 1-y^2.
#include <algorithm>
#include <cstring>
#include <stdexcept>
#include <vector>

#include "cells/common.h"
#include "gemm/gemm.h"
#include "threads.h"

namespace rnnfast {
namespace {

using detail::tanh_;
using detail::time_index;

// out[j] += sum_r A[r, j]  for A [rows, cols]
template <typename T>
void add_column_sums(T* out, const T* A, int64_t rows, int64_t cols) {
  const int nt = detail::threads_for(static_cast<double>(rows) * cols * 4);
#pragma omp parallel num_threads(nt) if (nt > 1)
  {
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

template <typename T, Cell C>
void run_backward(T* dx, T* dh0, T* dc0, const WeightGrads<T>& dw, const T* reserve, const T* dy,
                  const T* dh_n, const T* dc_n, const T* x, const int64_t* lengths,
                  const T* h_mask, const Weights<T>& w, const Dims& d, bool reverse) {
  constexpr int G = C == Cell::LSTM ? 4 : C == Cell::GRU ? 3 : 1;
  const int64_t NT = d.T, B = d.B, I = d.I, H = d.H, Ho = d.H_out, GH = G * H, TB = NT * B;
  const bool proj = Ho != H;
  const detail::Reserve<T> res(C, d, const_cast<T*>(reserve));

  // Time-indexed gradients (zero where a sequence has ended) and step buffers.
  std::vector<T> dG(static_cast<size_t>(TB * GH), T(0));
  std::vector<T> dRgru(C == Cell::GRU ? static_cast<size_t>(TB * GH) : 0, T(0));
  T* dR = C == Cell::GRU ? dRgru.data() : dG.data();
  std::vector<T> dr_all(proj ? static_cast<size_t>(TB * Ho) : 0, T(0));
  std::vector<T> dh(static_cast<size_t>(B * Ho), T(0)), dc, dRs(static_cast<size_t>(B * GH), T(0)),
      dhp(static_cast<size_t>(B * Ho)), dhd, drs, dm;
  if (dh_n) std::memcpy(dh.data(), dh_n, sizeof(T) * B * Ho);
  if (C == Cell::LSTM) {
    dc.assign(static_cast<size_t>(B * H), T(0));
    if (dc_n) std::memcpy(dc.data(), dc_n, sizeof(T) * B * H);
  }
  if (C == Cell::GRU) dhd.assign(static_cast<size_t>(B * Ho), T(0));
  if (proj) {
    drs.assign(static_cast<size_t>(B * Ho), T(0));
    dm.assign(static_cast<size_t>(B * H), T(0));
  }

  gemm::PackedB<T> Wh, Whr;
  Wh.pack(w.w_hh, Ho, /*transB=*/false, GH, Ho);
  if (proj) Whr.pack(w.w_hr, H, /*transB=*/false, Ho, H);

  const int nt_ew = detail::threads_for(static_cast<double>(B) * GH * 20);
  for (int64_t s = NT - 1; s >= 0; --s) {
    // dh_t += dy_t; projected LSTM: dm = dh W_hr
    for (int64_t b = 0; b < B; ++b) {
      const int64_t t = time_index(s, b, NT, lengths, reverse);
      if (t < 0) continue;
      T* dhb = dh.data() + b * Ho;
      if (dy) {
        const T* dyb = dy + (t * B + b) * Ho;
        for (int64_t k = 0; k < Ho; ++k) dhb[k] += dyb[k];
      }
      if (proj) {
        std::memcpy(drs.data() + b * Ho, dhb, sizeof(T) * Ho);
        std::memcpy(dr_all.data() + (t * B + b) * Ho, dhb, sizeof(T) * Ho);
      }
    }
    if (proj) gemm::gemm_packed<T>(B, drs.data(), Ho, false, Whr, T(0), dm.data(), H);
    const T* dmv = proj ? dm.data() : dh.data();

#pragma omp parallel for num_threads(nt_ew) schedule(static) if (nt_ew > 1)
    for (int64_t b = 0; b < B; ++b) {
      const int64_t t = time_index(s, b, NT, lengths, reverse);
      if (t < 0) continue;
      const int64_t pos = t * B + b;
      const T* g = res.gates + pos * GH;
      const T* dmb = dmv + b * H;
      T* dg = dG.data() + pos * GH;
      T* drs_b = dRs.data() + b * GH;
      if constexpr (C == Cell::LSTM) {
        T* dcb = dc.data() + b * H;
        const T* cp = res.cprev + pos * H;
        const T* cn = res.cell + pos * H;
        for (int64_t k = 0; k < H; ++k) {
          const T ig = g[k], fg = g[H + k], gg = g[2 * H + k], og = g[3 * H + k];
          const T tc = tanh_(cn[k]);
          const T dct = dcb[k] + dmb[k] * og * (T(1) - tc * tc);
          dg[k] = dct * gg * ig * (T(1) - ig);
          dg[H + k] = dct * cp[k] * fg * (T(1) - fg);
          dg[2 * H + k] = dct * ig * (T(1) - gg * gg);
          dg[3 * H + k] = dmb[k] * tc * og * (T(1) - og);
          dcb[k] = dct * fg;
        }
        std::memcpy(drs_b, dg, sizeof(T) * GH);
      } else if constexpr (C == Cell::GRU) {
        const T* hp = res.hprev + pos * Ho;
        const T* hn = res.hn + pos * H;
        T* dr = dR + pos * GH;
        T* dhdb = dhd.data() + b * Ho;
        for (int64_t k = 0; k < H; ++k) {
          const T rg = g[k], zg = g[H + k], ng = g[2 * H + k];
          const T dhk = dmb[k];
          const T dn = dhk * (T(1) - zg) * (T(1) - ng * ng);
          const T dz = dhk * (hp[k] - ng) * zg * (T(1) - zg);
          const T dr_ = dn * hn[k] * rg * (T(1) - rg);
          dg[k] = dr_;
          dg[H + k] = dz;
          dg[2 * H + k] = dn;
          dr[k] = dr_;
          dr[H + k] = dz;
          dr[2 * H + k] = dn * rg;
          dhdb[k] = dhk * zg;
        }
        std::memcpy(drs_b, dr, sizeof(T) * GH);
      } else {
        for (int64_t k = 0; k < H; ++k) {
          const T hv = g[k];
          dg[k] = C == Cell::RNN_TANH ? dmb[k] * (T(1) - hv * hv) : (hv > T(0) ? dmb[k] : T(0));
        }
        std::memcpy(drs_b, dg, sizeof(T) * GH);
      }
    }
    // dh_{t-1} = (dR_t W_hh) * h_mask (+ z * dh_t for GRU); ended sequences keep their dh.
    gemm::gemm_packed<T>(B, dRs.data(), GH, false, Wh, T(0), dhp.data(), Ho);
    for (int64_t b = 0; b < B; ++b) {
      if (time_index(s, b, NT, lengths, reverse) < 0) continue;
      T* dhb = dh.data() + b * Ho;
      T* src = dhp.data() + b * Ho;
      if (h_mask) {
        const T* mb = h_mask + b * Ho;
        for (int64_t k = 0; k < Ho; ++k) src[k] *= mb[k];
      }
      if constexpr (C == Cell::GRU) {
        const T* dd = dhd.data() + b * Ho;
        for (int64_t k = 0; k < Ho; ++k) dhb[k] = src[k] + dd[k];
      } else {
        std::memcpy(dhb, src, sizeof(T) * Ho);
      }
    }
  }
  if (dh0) std::memcpy(dh0, dh.data(), sizeof(T) * B * Ho);
  if (C == Cell::LSTM && dc0) std::memcpy(dc0, dc.data(), sizeof(T) * B * H);

  // Weight and input gradients: one GEMM each over all steps.
  if (dx) gemm::gemm<T>(false, false, TB, I, GH, dG.data(), GH, w.w_ih, I, T(0), dx, I);
  if (dw.dw_ih) gemm::gemm<T>(true, false, GH, I, TB, dG.data(), GH, x, I, T(1), dw.dw_ih, I);
  if (dw.db_ih) add_column_sums<T>(dw.db_ih, dG.data(), TB, GH);
  if (dw.dw_hh) {  // dW_hh += dR^T (H_prev * h_mask): W_hh saw the dropped-out state
    const T* hp = res.hprev;
    std::vector<T> hpm;
    if (h_mask) {
      hpm.resize(static_cast<size_t>(TB * Ho));
      for (int64_t pos = 0; pos < TB; ++pos) {
        const T* mb = h_mask + (pos % B) * Ho;
        for (int64_t k = 0; k < Ho; ++k) hpm[pos * Ho + k] = res.hprev[pos * Ho + k] * mb[k];
      }
      hp = hpm.data();
    }
    gemm::gemm<T>(true, false, GH, Ho, TB, dR, GH, hp, Ho, T(1), dw.dw_hh, Ho);
  }
  if (dw.db_hh) add_column_sums<T>(dw.db_hh, dR, TB, GH);
  if constexpr (C == Cell::LSTM) {
    if (proj && dw.dw_hr) {  // dW_hr += dr^T M, M = o * tanh(c) recomputed from the reserve
      std::vector<T> M(static_cast<size_t>(TB * H));
      for (int64_t pos = 0; pos < TB; ++pos)
        for (int64_t k = 0; k < H; ++k)
          M[pos * H + k] = res.gates[pos * GH + 3 * H + k] * tanh_(res.cell[pos * H + k]);
      gemm::gemm<T>(true, false, Ho, H, TB, dr_all.data(), Ho, M.data(), H, T(1), dw.dw_hr, H);
    }
  }
}

}  // namespace

template <typename T>
void backward(Cell cell, T* dx, T* dh0, T* dc0, const WeightGrads<T>& dw, const T* reserve,
              const T* dy, const T* dh_n, const T* dc_n, const T* x, const int64_t* lengths,
              const T* h_mask, const Weights<T>& w, const Dims& d, bool reverse) {
  detail::validate(cell, d, w.w_ih, w.w_hh, w.b_ih, w.b_hh, w.w_hr, lengths);
  if (!reserve)
    throw std::invalid_argument("reserve: expected the reserve of a training forward, got a null pointer");
  if (dw.dw_ih && !x)
    throw std::invalid_argument("x: expected the [T,B,I] input of the forward (needed for dw_ih), got a null pointer");
  switch (cell) {
    case Cell::RNN_TANH:
      return run_backward<T, Cell::RNN_TANH>(dx, dh0, dc0, dw, reserve, dy, dh_n, dc_n, x, lengths, h_mask, w, d, reverse);
    case Cell::RNN_RELU:
      return run_backward<T, Cell::RNN_RELU>(dx, dh0, dc0, dw, reserve, dy, dh_n, dc_n, x, lengths, h_mask, w, d, reverse);
    case Cell::LSTM:
      return run_backward<T, Cell::LSTM>(dx, dh0, dc0, dw, reserve, dy, dh_n, dc_n, x, lengths, h_mask, w, d, reverse);
    case Cell::GRU:
      return run_backward<T, Cell::GRU>(dx, dh0, dc0, dw, reserve, dy, dh_n, dc_n, x, lengths, h_mask, w, d, reverse);
  }
}

template void backward<float>(Cell, float*, float*, float*, const WeightGrads<float>&,
                              const float*, const float*, const float*, const float*,
                              const float*, const int64_t*, const float*, const Weights<float>&,
                              const Dims&, bool);
template void backward<double>(Cell, double*, double*, double*, const WeightGrads<double>&,
                               const double*, const double*, const double*, const double*,
                               const double*, const int64_t*, const double*,
                               const Weights<double>&, const Dims&, bool);

}  // namespace rnnfast
