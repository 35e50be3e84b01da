// Forward of one recurrent layer, one direction, for RNN (tanh/relu), LSTM (+ projection), GRU.
// 1. P = X W_ih^T + biases for all steps in one GEMM (hoisted out of the time loop).
// 2. Time loop: R = h W_hh^T (W_hh packed once per call), then one fused elementwise pass per
//    cell kind, templated on <T, Cell, Training> and chosen once outside the loop; a projected
//    LSTM adds h = m W_hr^T (W_hr packed once too). No heap allocation inside the loop.
// In inference (reserve == nullptr) nothing is saved for backward.
#include <algorithm>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

#include "cells/common.h"
#include "gemm/gemm.h"
#include "threads.h"

namespace rnnfast {
namespace {

using detail::sigmoid;
using detail::tanh_;
using detail::time_index;

template <typename T, Cell C, bool Training>
void run_forward(T* y, T* h_n, T* c_n, T* reserve, const T* x, const T* h0, const T* c0,
                 const int64_t* lengths, const T* h_mask, const Weights<T>& w, const Dims& d,
                 bool reverse) {
  constexpr int G = C == Cell::LSTM ? 4 : C == Cell::GRU ? 3 : 1;
  const int64_t NT = d.T, B = d.B, I = d.I, H = d.H, Ho = d.H_out, GH = G * H, TB = NT * B;
  const bool proj = Ho != H;

  // 1. Input projection of every step, biases folded in (GRU keeps b_hn apart: it sits
  //    inside r * (W_hn h + b_hn)).
  std::vector<T> P(static_cast<size_t>(TB * GH));
  gemm::gemm<T>(false, true, TB, GH, I, x, I, w.w_ih, I, T(0), P.data(), GH);
  if (w.b_ih) {
    std::vector<T> bias(static_cast<size_t>(GH));
    for (int64_t j = 0; j < GH; ++j)
      bias[j] = w.b_ih[j] + ((C != Cell::GRU || j < 2 * H) ? w.b_hh[j] : T(0));
    const int nt = detail::threads_for(static_cast<double>(TB) * GH * 8);
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1)
    for (int64_t r = 0; r < TB; ++r) {
      T* p = P.data() + r * GH;
      for (int64_t j = 0; j < GH; ++j) p[j] += bias[j];
    }
  }
  const T* b_hn = (C == Cell::GRU && w.b_hh) ? w.b_hh + 2 * H : nullptr;

  // Recurrent weights packed once for all steps.
  gemm::PackedB<T> Wh, Whr;
  Wh.pack(w.w_hh, Ho, /*transB=*/true, Ho, GH);
  if (proj) Whr.pack(w.w_hr, H, /*transB=*/true, H, Ho);

  // State and step buffers.
  std::vector<T> h(static_cast<size_t>(B * Ho)), c, R(static_cast<size_t>(B * GH)), m, rp, hm;
  if (h_mask) hm.assign(static_cast<size_t>(B * Ho), T(0));
  if (h0) std::memcpy(h.data(), h0, sizeof(T) * B * Ho);
  if (C == Cell::LSTM) {
    c.assign(static_cast<size_t>(B * H), T(0));
    if (c0) std::memcpy(c.data(), c0, sizeof(T) * B * H);
  }
  if (proj) {
    m.assign(static_cast<size_t>(B * H), T(0));
    rp.assign(static_cast<size_t>(B * Ho), T(0));
  }

  detail::Reserve<T> res(C, d, reserve);
  // Positions past a sequence's end: zero output, zero reserve (so post-loop GEMMs see 0).
  if (lengths) {
    for (int64_t b = 0; b < B; ++b) {
      for (int64_t t = lengths[b]; t < NT; ++t) {
        const int64_t pos = t * B + b;
        std::fill_n(y + pos * Ho, Ho, T(0));
        if (Training) {
          std::fill_n(res.gates + pos * GH, GH, T(0));
          std::fill_n(res.hprev + pos * Ho, Ho, T(0));
          if (C == Cell::LSTM) {
            std::fill_n(res.cprev + pos * H, H, T(0));
            std::fill_n(res.cell + pos * H, H, T(0));
          }
          if (C == Cell::GRU) std::fill_n(res.hn + pos * H, H, T(0));
        }
      }
    }
  }

  const int nt_ew = detail::threads_for(static_cast<double>(B) * GH * 20);
  for (int64_t s = 0; s < NT; ++s) {
    // 2a. recurrent product of the whole batch (of the dropped-out state, with h_mask)
    if (h_mask) {
      for (int64_t i = 0; i < B * Ho; ++i) hm[i] = h[i] * h_mask[i];
      gemm::gemm_packed<T>(B, hm.data(), Ho, false, Wh, T(0), R.data(), GH);
    } else {
      gemm::gemm_packed<T>(B, h.data(), Ho, false, Wh, T(0), R.data(), GH);
    }
    // 2b. fused elementwise pass
#pragma omp parallel for num_threads(nt_ew) schedule(static) if (nt_ew > 1)
    for (int64_t b = 0; b < B; ++b) {
      const int64_t t = time_index(s, b, NT, lengths, reverse);
      if (t < 0) continue;
      const int64_t pos = t * B + b;
      const T* p = P.data() + pos * GH;
      const T* r = R.data() + b * GH;
      T* hb = h.data() + b * Ho;
      T* yb = y + pos * Ho;
      if (Training) std::memcpy(res.hprev + pos * Ho, hb, sizeof(T) * Ho);
      T* sg = Training ? res.gates + pos * GH : nullptr;
      if constexpr (C == Cell::LSTM) {
        T* cb = c.data() + b * H;
        T* out = proj ? m.data() + b * H : hb;
        for (int64_t k = 0; k < H; ++k) {
          const T ig = sigmoid(p[k] + r[k]);
          const T fg = sigmoid(p[H + k] + r[H + k]);
          const T gg = tanh_(p[2 * H + k] + r[2 * H + k]);
          const T og = sigmoid(p[3 * H + k] + r[3 * H + k]);
          const T cp = cb[k];
          const T cn = fg * cp + ig * gg;
          const T hv = og * tanh_(cn);
          if (Training) {
            sg[k] = ig;
            sg[H + k] = fg;
            sg[2 * H + k] = gg;
            sg[3 * H + k] = og;
            res.cprev[pos * H + k] = cp;
            res.cell[pos * H + k] = cn;
          }
          cb[k] = cn;
          out[k] = hv;
          if (!proj) yb[k] = hv;
        }
      } else if constexpr (C == Cell::GRU) {
        for (int64_t k = 0; k < H; ++k) {
          const T rg = sigmoid(p[k] + r[k]);
          const T zg = sigmoid(p[H + k] + r[H + k]);
          const T hn = r[2 * H + k] + (b_hn ? b_hn[k] : T(0));
          const T ng = tanh_(p[2 * H + k] + rg * hn);
          const T hv = (T(1) - zg) * ng + zg * hb[k];
          if (Training) {
            sg[k] = rg;
            sg[H + k] = zg;
            sg[2 * H + k] = ng;
            res.hn[pos * H + k] = hn;
          }
          hb[k] = hv;
          yb[k] = hv;
        }
      } else {
        for (int64_t k = 0; k < H; ++k) {
          const T a = p[k] + r[k];
          const T hv = C == Cell::RNN_TANH ? tanh_(a) : (a > T(0) ? a : (a == a ? T(0) : a));
          if (Training) sg[k] = hv;
          hb[k] = hv;
          yb[k] = hv;
        }
      }
    }
    if constexpr (C == Cell::LSTM) {
      if (proj) {  // h = m W_hr^T for the rows that stepped
        gemm::gemm_packed<T>(B, m.data(), H, false, Whr, T(0), rp.data(), Ho);
        for (int64_t b = 0; b < B; ++b) {
          const int64_t t = time_index(s, b, NT, lengths, reverse);
          if (t < 0) continue;
          std::memcpy(h.data() + b * Ho, rp.data() + b * Ho, sizeof(T) * Ho);
          std::memcpy(y + (t * B + b) * Ho, rp.data() + b * Ho, sizeof(T) * Ho);
        }
      }
    }
  }
  if (h_n) std::memcpy(h_n, h.data(), sizeof(T) * B * Ho);
  if (C == Cell::LSTM && c_n) std::memcpy(c_n, c.data(), sizeof(T) * B * H);
}

template <typename T, Cell C>
void dispatch_training(T* y, T* h_n, T* c_n, T* reserve, const T* x, const T* h0, const T* c0,
                       const int64_t* lengths, const T* h_mask, const Weights<T>& w,
                       const Dims& d, bool reverse) {
  if (reserve)
    run_forward<T, C, true>(y, h_n, c_n, reserve, x, h0, c0, lengths, h_mask, w, d, reverse);
  else
    run_forward<T, C, false>(y, h_n, c_n, reserve, x, h0, c0, lengths, h_mask, w, d, reverse);
}

}  // namespace

template <typename T>
void forward(Cell cell, T* y, T* h_n, T* c_n, T* reserve, const T* x, const T* h0, const T* c0,
             const int64_t* lengths, const T* h_mask, const Weights<T>& w, const Dims& d,
             bool reverse) {
  detail::validate(cell, d, w.w_ih, w.w_hh, w.b_ih, w.b_hh, w.w_hr, lengths);
  if (!x) throw std::invalid_argument("x: expected a [T,B,I] input, got a null pointer");
  if (!y) throw std::invalid_argument("y: expected a [T,B,H_out] output buffer, got a null pointer");
  switch (cell) {
    case Cell::RNN_TANH:
      return dispatch_training<T, Cell::RNN_TANH>(y, h_n, c_n, reserve, x, h0, c0, lengths, h_mask, w, d, reverse);
    case Cell::RNN_RELU:
      return dispatch_training<T, Cell::RNN_RELU>(y, h_n, c_n, reserve, x, h0, c0, lengths, h_mask, w, d, reverse);
    case Cell::LSTM:
      return dispatch_training<T, Cell::LSTM>(y, h_n, c_n, reserve, x, h0, c0, lengths, h_mask, w, d, reverse);
    case Cell::GRU:
      return dispatch_training<T, Cell::GRU>(y, h_n, c_n, reserve, x, h0, c0, lengths, h_mask, w, d, reverse);
  }
}

template void forward<float>(Cell, float*, float*, float*, float*, const float*, const float*,
                             const float*, const int64_t*, const float*, const Weights<float>&,
                             const Dims&, bool);
template void forward<double>(Cell, double*, double*, double*, double*, const double*,
                              const double*, const double*, const int64_t*, const double*,
                              const Weights<double>&, const Dims&, bool);

}  // namespace rnnfast
