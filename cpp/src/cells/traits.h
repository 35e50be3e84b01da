// One place that describes each cell kind: its gates, what it keeps beside h, which options it
// takes, what the training reserve holds, and how its time step is shaped. The API (api.cc:
// validation, sizes, names) and the drivers (forward_driver.h, backward_driver.h) read these
// instead of switching on the kind; dispatch_cell below is the one switch that turns a runtime Cell
// into its traits. The elementwise passes themselves live in pointwise.h and the headers it
// includes, one per cell family. Adding a cell: docs/ARCHITECTURE.md, "How to add a cell".
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>

#include "rnnfast/rnnfast.h"

namespace rnnfast {
namespace detail {

// What the reserve holds per position beside the gates (cells/common.h, Reserve):
enum class Aux {
  kNone,  // nothing
  kC,     // c_t (LSTMs)
  kHn,    // W_hn h_{t-1} + b_hn, the recurrent part of the n gate that r scales (GRU)
  kRh,    // r * h'_{t-1}, the input of the n gate's recurrent product (GRU_RESET_BEFORE)
};

// How a step reaches h_{t-1}:
enum class Recurrence {
  kProduct,   // through W_hh h_{t-1}, a matrix product per step (forward_driver.h,
              // backward_driver.h)
  kDiagonal,  // through u * h_{t-1}, one weight per unit (w_hh holds u, [H]); no product
  kScan,      // through gates that read x_t only: h_t = a_t * h_{t-1} + b_t, a linear scan
              // over time (w_hh and b_hh absent)
};

// The defaults: a vanilla RNN's.
struct CellDefaults {
  // Product cells run the team drivers of forward_driver.h/backward_driver.h; the others run their
  // own drivers (cells/elementwise.h), routed by forward() and backward().
  static constexpr Recurrence kRecurrence = Recurrence::kProduct;
  static constexpr int kGates = 1;
  static constexpr bool kHasC = false;        // a cell state c beside h
  static constexpr bool kProjection = false;  // takes w_hr (H_out < H)
  static constexpr int kExtras = 0;           // parameters beyond the weights and biases
  static constexpr int kExtraBlocks[kMaxExtras] = {0, 0, 0, 0};  // each one's length / H
  static constexpr bool kSavesGates = false;  // the reserve holds the activated gates (an
                                              // RNN's one gate is h_t itself: y)
  static constexpr Aux kAux = Aux::kNone;
  static constexpr bool kRelu = false;
  // The n gate's recurrent part stays apart from its input part (r scales it, or scales its
  // operand): the GRUs. b_hn then folds into the input projection only when it is outside r.
  static constexpr bool kSplitN = false;
  static constexpr bool kFoldBhn = true;
  // The step's n-gate product needs r of every unit first (W_hn (r * h)): a second,
  // dependent product after a barrier, in forward and backward.
  static constexpr bool kTwoProducts = false;
  // Layer normalization of the step's pre-activations (LAYERNORM_*): a reduction over the
  // whole row of G*H entries (and, with a cell state, over c_t's H) inside the step. The
  // input product is hoisted without the biases and its rows normalized before the loop; the
  // recurrent product's row statistics are combined over the threads of a split by units
  // (cells/rownorm.h); the split by batch rows is preferred (team.h, choose_split).
  static constexpr bool kRowNorm = false;
};

template <Cell C>
struct CellTraits;

template <>
struct CellTraits<Cell::RNN_TANH> : CellDefaults {
  static constexpr Cell kCell = Cell::RNN_TANH;
  static constexpr const char* kName = "rnn_tanh";
};

template <>
struct CellTraits<Cell::RNN_RELU> : CellDefaults {
  static constexpr Cell kCell = Cell::RNN_RELU;
  static constexpr const char* kName = "rnn_relu";
  static constexpr bool kRelu = true;
};

struct LstmDefaults : CellDefaults {
  static constexpr int kGates = 4;  // i, f, g, o
  static constexpr bool kHasC = true;
  static constexpr bool kProjection = true;
  static constexpr bool kSavesGates = true;
  static constexpr Aux kAux = Aux::kC;
};

template <>
struct CellTraits<Cell::LSTM> : LstmDefaults {
  static constexpr Cell kCell = Cell::LSTM;
  static constexpr const char* kName = "lstm";
};

template <>
struct CellTraits<Cell::LSTM_PEEPHOLE> : LstmDefaults {
  static constexpr Cell kCell = Cell::LSTM_PEEPHOLE;
  static constexpr const char* kName = "lstm_peephole";
  static constexpr int kExtras = 1;  // p = (p_i, p_f, p_o)
  static constexpr int kExtraBlocks[kMaxExtras] = {3, 0, 0, 0};
};

struct GruDefaults : CellDefaults {
  static constexpr int kGates = 3;  // r, z, n
  static constexpr bool kSavesGates = true;
  static constexpr bool kSplitN = true;
};

template <>
struct CellTraits<Cell::GRU> : GruDefaults {
  static constexpr Cell kCell = Cell::GRU;
  static constexpr const char* kName = "gru";
  static constexpr Aux kAux = Aux::kHn;
  static constexpr bool kFoldBhn = false;  // r * (W_hn h + b_hn)
};

template <>
struct CellTraits<Cell::GRU_RESET_BEFORE> : GruDefaults {
  static constexpr Cell kCell = Cell::GRU_RESET_BEFORE;
  static constexpr const char* kName = "gru_reset_before";
  static constexpr Aux kAux = Aux::kRh;
  static constexpr bool kTwoProducts = true;
};

// IndRNN (Li et al. 2018): h_t = act(W_ih x + b_ih + u * h'_{t-1}), u = w_hh [H]. Its one gate
// is h_t itself (y), as the RNN's; the reserve keeps only the initial and last states.
struct IndrnnDefaults : CellDefaults {
  static constexpr Recurrence kRecurrence = Recurrence::kDiagonal;
};

template <>
struct CellTraits<Cell::INDRNN_RELU> : IndrnnDefaults {
  static constexpr Cell kCell = Cell::INDRNN_RELU;
  static constexpr const char* kName = "indrnn_relu";
  static constexpr bool kRelu = true;
};

template <>
struct CellTraits<Cell::INDRNN_TANH> : IndrnnDefaults {
  static constexpr Cell kCell = Cell::INDRNN_TANH;
  static constexpr const char* kName = "indrnn_tanh";
};

// minGRU and minLSTM (Feng et al. 2024), the sequential mode: gates from x_t only, h_t = a_t *
// h_{t-1} + b_t (cells/scan.cc). The reserve keeps the activated gates (z, h~ / f, i, h~).
struct ScanDefaults : CellDefaults {
  static constexpr Recurrence kRecurrence = Recurrence::kScan;
  static constexpr bool kSavesGates = true;
};

template <>
struct CellTraits<Cell::MINGRU> : ScanDefaults {
  static constexpr Cell kCell = Cell::MINGRU;
  static constexpr const char* kName = "mingru";
  static constexpr int kGates = 2;  // z, h~
};

template <>
struct CellTraits<Cell::MINLSTM> : ScanDefaults {
  static constexpr Cell kCell = Cell::MINLSTM;
  static constexpr const char* kName = "minlstm";
  static constexpr int kGates = 3;  // f, i, h~
};

// LAYERNORM_LSTM (haste's LayerNormLSTM): the LSTM with LN(W_ih x) * gamma_x and
// LN(W_hh h') * gamma_h as the pre-activations' two parts and h = o * tanh(LN(c) * gamma_c +
// beta_c). Extras: gamma_x (4H), gamma_h (4H), gamma_c (H), beta_c (H). No projection.
template <>
struct CellTraits<Cell::LAYERNORM_LSTM> : LstmDefaults {
  static constexpr Cell kCell = Cell::LAYERNORM_LSTM;
  static constexpr const char* kName = "layernorm_lstm";
  static constexpr bool kProjection = false;
  static constexpr int kExtras = 4;
  static constexpr int kExtraBlocks[kMaxExtras] = {4, 4, 1, 1};
  static constexpr bool kRowNorm = true;
};

// LAYERNORM_GRU: the GRU (reset after) with u = LN(W_ih x) * gamma_x + b_ih and v = LN(W_hh h')
// * gamma_h + b_hh; r = sigmoid(u_r + v_r), z = sigmoid(u_z + v_z), n = tanh(u_n + r * v_n).
// The recurrent row is one product, normalized as one row (no n gate apart: kSplitN off);
// aux keeps v_n, which r scales. Extras: gamma_x (3H), gamma_h (3H).
template <>
struct CellTraits<Cell::LAYERNORM_GRU> : GruDefaults {
  static constexpr Cell kCell = Cell::LAYERNORM_GRU;
  static constexpr const char* kName = "layernorm_gru";
  static constexpr Aux kAux = Aux::kHn;
  static constexpr bool kSplitN = false;
  static constexpr bool kFoldBhn = false;  // b_hn inside v_n, which r scales
  static constexpr int kExtras = 2;
  static constexpr int kExtraBlocks[kMaxExtras] = {3, 3, 0, 0};
  static constexpr bool kRowNorm = true;
};

// The cell kinds' traits as runtime values, for code that needs no compile-time dispatch.
struct CellInfo {
  const char* name;
  int gates;
  bool has_c, projection;
  int extras;
  int extra_blocks[kMaxExtras];
  bool saves_gates;
  Aux aux;
  Recurrence recurrence;
  bool row_norm;
};

// Calls f(CellTraits<cell>{}) and returns its result: the one switch over the cell kinds.
// Throws std::invalid_argument for a value outside the enum.
template <typename F>
decltype(auto) dispatch_cell(Cell cell, F&& f) {
  switch (cell) {
    case Cell::RNN_TANH:
      return f(CellTraits<Cell::RNN_TANH>{});
    case Cell::RNN_RELU:
      return f(CellTraits<Cell::RNN_RELU>{});
    case Cell::LSTM:
      return f(CellTraits<Cell::LSTM>{});
    case Cell::GRU:
      return f(CellTraits<Cell::GRU>{});
    case Cell::GRU_RESET_BEFORE:
      return f(CellTraits<Cell::GRU_RESET_BEFORE>{});
    case Cell::LSTM_PEEPHOLE:
      return f(CellTraits<Cell::LSTM_PEEPHOLE>{});
    case Cell::INDRNN_RELU:
      return f(CellTraits<Cell::INDRNN_RELU>{});
    case Cell::INDRNN_TANH:
      return f(CellTraits<Cell::INDRNN_TANH>{});
    case Cell::MINGRU:
      return f(CellTraits<Cell::MINGRU>{});
    case Cell::MINLSTM:
      return f(CellTraits<Cell::MINLSTM>{});
    case Cell::LAYERNORM_LSTM:
      return f(CellTraits<Cell::LAYERNORM_LSTM>{});
    case Cell::LAYERNORM_GRU:
      return f(CellTraits<Cell::LAYERNORM_GRU>{});
  }
  throw std::invalid_argument(
      "cell: expected RNN_TANH, RNN_RELU, LSTM, GRU, GRU_RESET_BEFORE, LSTM_PEEPHOLE, "
      "INDRNN_RELU, INDRNN_TANH, MINGRU, MINLSTM, LAYERNORM_LSTM or LAYERNORM_GRU (0..11), got " +
      std::to_string(static_cast<int>(cell)));
}

inline CellInfo cell_info(Cell cell) {
  return dispatch_cell(cell, [](auto K) {
    using Kt = decltype(K);
    return CellInfo{
        Kt::kName,
        Kt::kGates,
        Kt::kHasC,
        Kt::kProjection,
        Kt::kExtras,
        {Kt::kExtraBlocks[0], Kt::kExtraBlocks[1], Kt::kExtraBlocks[2], Kt::kExtraBlocks[3]},
        Kt::kSavesGates,
        Kt::kAux,
        Kt::kRecurrence,
        Kt::kRowNorm};
  });
}

}  // namespace detail
}  // namespace rnnfast
