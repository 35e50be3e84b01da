// Shared by the forward and backward cell kernels: the reserve layout, the per-row time index
// of packed sequences, and the numerically safe activations.
// reference: PyTorch's gate order and formulas (LSTM i,f,g,o; GRU r,z,n), see rnnfast.h.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

#include "cells/traits.h"
#include "rnnfast/rnnfast.h"

namespace rnnfast {
namespace detail {

// Throws std::invalid_argument for bad cells, dims, weights, lengths or extra parameters
// (extra: the kMaxExtras pointers of Weights::extra or WeightGrads::dextra, nullptr = not
// checked) (api.cc).
void validate(Cell cell, const Dims& d, bool has_w_ih, bool has_w_hh, bool has_b_ih, bool has_b_hh,
              bool has_w_hr, const int64_t* lengths, const void* const* extra);

// Throws std::invalid_argument for a zoneout the cell or dims cannot take, or a probability
// outside [0, 1) (api.cc). The masks' and probabilities' presence, the probabilities as double.
void validate_zoneout(Cell cell, const Dims& d, bool has_h, bool has_c, double h_prob,
                      double c_prob);

template <typename T>
void validate_zoneout(Cell cell, const Dims& d, const Zoneout<T>& z) {
  validate_zoneout(cell, d, z.h != nullptr, z.c != nullptr, static_cast<double>(z.h_prob),
                   static_cast<double>(z.c_prob));
}

// The product cells' forward and backward with zoneout on (forward_zoneout.cc,
// backward_zoneout.cc): the drivers' Z instantiation in translation units of their own, so that
// the units without it compile as before. Arguments already validated (forward()/backward()).
template <typename T>
void forward_zoneout(Cell cell, T* y, T* h_n, T* c_n, T* reserve, const T* x, const T* h0,
                     const T* c0, const int64_t* lengths, const T* h_mask, const Weights<T>& w,
                     const Dims& d, bool reverse, const Zoneout<T>& zo);
template <typename T>
void backward_zoneout(Cell cell, T* dx, T* dh0, T* dc0, const WeightGrads<T>& dw, const T* reserve,
                      const T* dy, const T* dh_n, const T* dc_n, const T* x, const T* y,
                      const int64_t* lengths, const T* h_mask, const Weights<T>& w, const Dims& d,
                      bool reverse, const Zoneout<T>& zo);

// Zoneout on n units of one row (rnnfast.h): out = d * prev + (1 - d) * out, d = mask[k], or
// the constant p without a mask.
template <typename T>
inline void zoneout_mix(int64_t n, const T* mask, T p, const T* prev, T* out) {
  if (mask) {
    for (int64_t k = 0; k < n; ++k) out[k] = mask[k] * prev[k] + (T(1) - mask[k]) * out[k];
  } else {
    for (int64_t k = 0; k < n; ++k) out[k] = p * prev[k] + (T(1) - p) * out[k];
  }
}

// Zoneout's split of a state's gradient g on n units of one row: kept = d * g (to the
// previous state), g = (1 - d) * g (to the cell's new state).
template <typename T>
inline void zoneout_split(int64_t n, const T* mask, T p, T* g, T* kept) {
  for (int64_t k = 0; k < n; ++k) {
    const T dk = mask ? mask[k] : p;
    kept[k] = dk * g[k];
    g[k] = (T(1) - dk) * g[k];
  }
}

// The training reserve. The blocks of gates and aux are position-indexed [T,B,...] (the row
// of slot j at processing step s, Layout::pos: packed by step with lengths, the caller's order
// of x without; rows past sum(lengths) unused), so the post-loop weight gradients are single
// GEMMs over all steps; positions past a sequence's end hold zeros. It holds only what the
// forward's output y does not: the state h_{t-1} a step read is y at the sequence's previous
// step (prev_time below), or h0 at its first, so backward takes y, and the reserve keeps the
// initial states (one step's worth) and, to tell a wrong y from the right one, the last.
//   gates  [T,B,G*H]   the activated gates, when the cell saves them (traits.h; an RNN's one
//                      gate is h_t itself: y)
//   aux    [T,B,H]     what the cell keeps beside (traits.h, Aux): LSTMs c_t (c_{t-1} is the
//                      previous step's, or c0; backward recomputes tanh(c_t) with the
//                      forward's own function: the same values), GRU W_hn h_{t-1} + b_hn
//                      (LAYERNORM_GRU: LN(W_hh h'_{t-1})_n * gamma_hn + b_hn),
//                      GRU_RESET_BEFORE r * h'_{t-1}
//   xn     [T,B,G*H]   kRowNorm cells (traits.h): LN(W_ih x_t), the input product's rows
//                      normalized (before gamma_x)
//   hn     [T,B,G*H]   kRowNorm: LN(W_hh h'_{t-1}), the recurrent product's rows normalized
//   cn     [T,B,H]     kRowNorm with a cell state: LN(c_t)
//   rstd   [T,B,3]     kRowNorm: 1/sqrt(var + eps) of those three rows (input, recurrent, c;
//                      0 without a cell state);
//                      the means are not needed: backward works from the normalized values
//   h0     [B,H_out]   the initial state (zeros when none was given)
//   c0     [B,H]       LSTMs: the initial cell state (likewise)
//   h_last [B,H_out]   h_n: y at each sequence's last step, as the forward wrote it
//   zo     [T,B,H]     with zoneout only, the cells whose backward reads the new state
//                      before the zoneout: the RNNs' and IndRNNs' h~_t (their gate; y holds
//                      h_t), the LSTM's and LSTM_PEEPHOLE's c~_t (tanh's operand; aux holds
//                      c_t)
// With base == nullptr (inference, or only to learn the size) the pointers stay null.
template <typename T>
struct Reserve {
  T *gates = nullptr, *aux = nullptr, *h0 = nullptr, *c0 = nullptr, *h_last = nullptr;
  T *xn = nullptr, *hn = nullptr, *cn = nullptr, *rstd = nullptr;  // kRowNorm cells
  int64_t size = 0;                                                // elements in all
  T* zo = nullptr;                                                 // zoneout
  Reserve(Cell cell, const Dims& d, T* base, bool zoneout = false) {
    const CellInfo k = cell_info(cell);
    const int64_t TB = d.T * d.B;
    int64_t at = 0;
    auto block = [&](T*& p, int64_t n) {
      if (base) p = base + at;
      at += n;
    };
    if (k.saves_gates) block(gates, TB * k.gates * d.H);
    if (k.aux != Aux::kNone) block(aux, TB * d.H);
    if (k.row_norm) {
      block(xn, TB * k.gates * d.H);
      block(hn, TB * k.gates * d.H);
      if (k.has_c) block(cn, TB * d.H);
      block(rstd, TB * 3);
    }
    block(h0, d.B * d.H_out);
    if (k.has_c) block(c0, d.B * d.H);
    block(h_last, d.B * d.H_out);
    if (zoneout && k.recurrence != Recurrence::kScan && !k.row_norm && (k.has_c || !k.saves_gates))
      block(zo, TB * d.H);
    size = at;
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

// Sequences of different lengths (Dims plus lengths) run packed, as PyTorch's packed
// sequences: the kernels order the sequences by length, longest first (ties by index) -- the
// "slots" of the state buffers -- so that at processing step s the n[s] sequences still
// running are slots 0..n[s]-1, and keep their per-position arrays (the reserve, the gathered
// inputs, P, dG) packed by step: slot j of step s at row off[s] + j. A step then multiplies,
// passes and saves only its running rows, and the products over all positions run over
// sum(lengths) rows instead of T*B. Without lengths the slots are the sequences themselves and
// the per-position arrays are in the caller's order, Rows above (no gather of x, no scatter of
// dx). Everything a caller passes or gets (x, y, dx, dy, h0, h_n, ...) stays in its own order.
struct Layout {
  Rows row;
  bool packed = false;
  int64_t T = 0, B = 0;
  bool reverse = false;
  const int64_t* lengths = nullptr;
  std::vector<int64_t> order;  // [B] slot -> sequence (packed only)
  std::vector<int64_t> slot;   // [B] sequence -> slot (packed only)
  std::vector<int64_t> count;  // [T] running sequences at step s (packed only)
  std::vector<int64_t> off;    // [T+1] first packed row of step s (packed only)

  Layout(const Dims& d, const int64_t* lengths_, bool reverse_)
      : row(d), packed(lengths_ != nullptr), T(d.T), B(d.B), reverse(reverse_), lengths(lengths_) {
    if (!packed) return;
    order.resize(static_cast<size_t>(B));
    for (int64_t b = 0; b < B; ++b) order[b] = b;
    std::stable_sort(order.begin(), order.end(),
                     [&](int64_t a, int64_t b) { return lengths[a] > lengths[b]; });
    slot.resize(static_cast<size_t>(B));
    for (int64_t j = 0; j < B; ++j) slot[order[j]] = j;
    count.assign(static_cast<size_t>(T), 0);
    for (int64_t b = 0; b < B; ++b) ++count[lengths[b] - 1];  // ends after step len-1
    for (int64_t s = T - 2; s >= 0; --s) count[s] += count[s + 1];
    off.assign(static_cast<size_t>(T + 1), 0);
    for (int64_t s = 0; s < T; ++s) off[s + 1] = off[s] + count[s];
  }
  // Rows of the per-position arrays: sum(lengths), or T*B.
  int64_t rows() const { return packed ? off[T] : T * B; }
  // Sequences running at step s (slots 0..running(s)-1).
  int64_t running(int64_t s) const { return packed ? count[s] : B; }
  int64_t seq(int64_t j) const { return packed ? order[j] : j; }
  int64_t slot_of(int64_t b) const { return packed ? slot[b] : b; }
  // Per-position row of slot j at step s (j < running(s)).
  int64_t pos(int64_t s, int64_t j) const {
    return packed ? off[s] + j : row(reverse ? T - 1 - s : s, j);
  }
  // Rows between slots j and j+1 of one step in the per-position arrays.
  int64_t slot_stride() const { return packed ? 1 : row.sb; }
  // Packed: copies the caller's row of every running position ([T,B,n] or [B,T,n], n values
  // each) from src to its packed row of dst (gather), or back (scatter).
  template <typename V>
  void gather(const V* src, int64_t n, V* dst) const {
    copy(src, n, dst, true);
  }
  template <typename V>
  void scatter(const V* src, int64_t n, V* dst) const {
    copy(src, n, dst, false);
  }

 private:
  template <typename V>
  void copy(const V* src, int64_t n, V* dst, bool to_packed) const;
};

// The slots one thread of a time loop's team works on: f, f+q, f+2q, ... while running. Split
// by units, every thread takes all running slots; by batch rows, unpacked, a contiguous range
// (share_of); packed, every nth slot from its own id, so that the long and the short sequences
// are shared out evenly (a contiguous range of slots sorted by length would give the first
// thread the longest sequences).
struct ThreadSlots {
  int64_t f = 0, q = 1, fixed = -1;  // fixed >= 0: that many at every step (unpacked)
  int64_t at(const Layout& L, int64_t s) const {
    if (fixed >= 0) return fixed;
    const int64_t n = L.running(s);
    return n > f ? (n - f + q - 1) / q : 0;
  }
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

template <typename V>
void Layout::copy(const V* src, int64_t n, V* dst, bool to_packed) const {
  for (int64_t s = 0; s < T; ++s)
    for (int64_t j = 0; j < running(s); ++j) {
      const int64_t b = seq(j);
      const int64_t user = row(time_index(s, b, T, lengths, reverse), b), mine = pos(s, j);
      std::memcpy(dst + (to_packed ? mine : user) * n, src + (to_packed ? user : mine) * n,
                  sizeof(V) * n);
    }
}

}  // namespace detail
}  // namespace rnnfast
