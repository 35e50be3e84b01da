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

// The training reserve. The blocks of gates, c and hn are position-indexed [T,B,...] (position
// (t,b), at row Rows(d)(t, b), holds what step t of sequence b saved), so the post-loop weight gradients are single
// GEMMs over all steps; positions past a sequence's end hold zeros. It holds only what the
// forward's output y does not: the state h_{t-1} a step read is y at the sequence's previous
// step (prev_time below), or h0 at its first, so backward takes y, and the reserve keeps the
// initial states (one step's worth) and, to tell a wrong y from the right one, the last.
//   gates  [T,B,G*H]   LSTM, GRU: activated gates (an RNN's one gate is h_t itself: y)
//   c      [T,B,H]     LSTM: c_t (c_{t-1} is the previous step's, or c0; backward recomputes
//                      tanh(c_t) with the forward's own function: the same values)
//   hn     [T,B,H]     GRU: W_hn h_{t-1} + b_hn
//   h0     [B,H_out]   the initial state (zeros when none was given)
//   c0     [B,H]       LSTM: the initial cell state (likewise)
//   h_last [B,H_out]   h_n: y at each sequence's last step, as the forward wrote it
template <typename T>
struct Reserve {
  T *gates = nullptr, *c = nullptr, *hn = nullptr, *h0 = nullptr, *c0 = nullptr,
    *h_last = nullptr;
  Reserve(Cell cell, const Dims& d, T* base) {
    if (!base) return;  // inference: nothing saved
    const int64_t TB = d.T * d.B;
    T* p = base;
    if (cell == Cell::LSTM || cell == Cell::GRU) {
      gates = p;
      p += TB * num_gates(cell) * d.H;
      (cell == Cell::LSTM ? c : hn) = p;
      p += TB * d.H;
    }
    h0 = p;
    p += d.B * d.H_out;
    if (cell == Cell::LSTM) {
      c0 = p;
      p += d.B * d.H;
    }
    h_last = p;
  }
};

// The row of position (t, b) in a [T,B,..] array, or a [B,T,..] one with d.batch_first: every
// per-position array of a call (x, y, dx, dy, the reserve, the work buffers of all steps) uses
// the same order, so the products over all positions pair their rows up whichever it is. The
// rows of one step, b = 0..B-1, are `sb` rows apart.
struct Rows {
  int64_t st, sb;  // rows between consecutive steps, and between consecutive sequences
  explicit Rows(const Dims& d) : st(d.batch_first ? 1 : d.B), sb(d.batch_first ? d.T : 1) {}
  int64_t operator()(int64_t t, int64_t b) const { return t * st + b * sb; }
};

// Length of sequence b (T without lengths).
inline int64_t seq_len(int64_t b, int64_t T, const int64_t* lengths) {
  return lengths ? lengths[b] : T;
}

// Time index of processing step s for sequence b, or -1 when the sequence has ended.
inline int64_t time_index(int64_t s, int64_t b, int64_t T, const int64_t* lengths, bool reverse) {
  const int64_t len = seq_len(b, T, lengths);
  if (s >= len) return -1;
  return reverse ? len - 1 - s : s;
}

// Time index of the step before time t of sequence b in processing order (whose output y is
// the state h_{t-1} step t read), or -1 when t is the sequence's first step (the state is h0).
inline int64_t prev_time(int64_t t, int64_t b, int64_t T, const int64_t* lengths, bool reverse) {
  const int64_t len = seq_len(b, T, lengths);
  return reverse ? (t + 1 < len ? t + 1 : -1) : t - 1;
}

}  // namespace detail
}  // namespace rnnfast
