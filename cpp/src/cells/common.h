// Shared by the forward and backward cell kernels: the reserve layout, the per-row time index
// of packed sequences, and the numerically safe activations.
// reference: PyTorch's gate order and formulas (LSTM i,f,g,o; GRU r,z,n), see rnnfast.h.
#pragma once

#include <cmath>
#include <cstdint>

#include "rnnfast/rnnfast.h"

namespace rnnfast {
namespace detail {

// Throws std::invalid_argument for bad cells, dims, weights or lengths (api.cc).
void validate(Cell cell, const Dims& d, bool has_w_ih, bool has_w_hh, bool has_b_ih,
              bool has_b_hh, bool has_w_hr, const int64_t* lengths);

// The training reserve, all blocks time-indexed [T,B,...] (position (t,b) holds what step
// t of sequence b saved), so the post-loop weight gradients are single GEMMs over all steps.
// Positions past a sequence's end hold zeros.
//   gates  [T,B,G*H]   activated gates (RNN: h itself)
//   hprev  [T,B,H_out] the recurrent input h_{t-1} of the step
//   cprev  [T,B,H]     LSTM: c_{t-1}
//   tanh_c [T,B,H]     LSTM: tanh(c_t) (backward needs c_t only through it)
//   hn     [T,B,H]     GRU: W_hn h_{t-1} + b_hn
template <typename T>
struct Reserve {
  T *gates, *hprev, *cprev, *tanh_c, *hn;
  Reserve(Cell c, const Dims& d, T* base) {
    gates = hprev = cprev = tanh_c = hn = nullptr;
    if (!base) return;  // inference: nothing saved
    const int64_t TB = d.T * d.B, G = num_gates(c);
    gates = base;
    hprev = gates + TB * G * d.H;
    cprev = tanh_c = hn = nullptr;
    T* end = hprev + TB * d.H_out;
    if (c == Cell::LSTM) {
      cprev = end;
      tanh_c = cprev + TB * d.H;
    } else if (c == Cell::GRU) {
      hn = end;
    }
  }
};

// Time index of processing step s for sequence b, or -1 when the sequence has ended.
inline int64_t time_index(int64_t s, int64_t b, int64_t T, const int64_t* lengths, bool reverse) {
  const int64_t len = lengths ? lengths[b] : T;
  if (s >= len) return -1;
  return reverse ? len - 1 - s : s;
}


}  // namespace detail
}  // namespace rnnfast
