// rnnfast: fused forward and backpropagation through time (BPTT) for one recurrent layer
// in one direction -- vanilla RNN (tanh / relu), LSTM (with optional projection, optional
// peepholes), GRU (reset gate after or before the recurrent product), IndRNN (relu / tanh),
// minGRU and minLSTM, and layer-normalized LSTM and GRU.
// This header is the whole public C++ API. It includes nothing of Python; stacking layers,
// bidirectional composition and autograd live above it.
//
// Shape legend (row-major, time-major, every pointer annotated with its shape):
//   T      steps            B  batch           I  input features
//   [T,B,..]  a per-step, per-sequence array (x, y, dx, dy); with Dims::batch_first it is laid
//          out [B,T,..] instead (PyTorch's batch_first), read and written in place, no copy
//   H      hidden units     H_out  H, or the LSTM projection size (proj_size) when 0 < H_out < H
//   G      gates: 1 (RNN), 4 (LSTM: i, f, g, o), 3 (GRU: r, z, n)  -- PyTorch's order and formulas
//          (MINGRU 2: z, h~; MINLSTM 3: f, i, h~)
//     LSTM  i,f,o = sigmoid, g = tanh, c' = f*c + i*g, h' = o*tanh(c') (then h' = W_hr h' if
//     projected) GRU   r,z = sigmoid, n = tanh(W_in x + b_in + r*(W_hn h + b_hn)), h' = (1-z)*n +
//     z*h RNN   h' = tanh or relu(W_ih x + b_ih + W_hh h + b_hh) GRU_RESET_BEFORE (Keras
//     reset_after=False, ONNX linear_before_reset=0): as GRU but
//           n = tanh(W_in x + b_in + W_hn (r*h) + b_hn)
//     LSTM_PEEPHOLE (ONNX's P): as LSTM but i = sigmoid(.. + p_i*c), f = sigmoid(.. + p_f*c)
//           with the previous c, o = sigmoid(.. + p_o*c') with the new c'; Weights::extra[0]
//           holds p = (p_i, p_f, p_o), [3*H]
//     INDRNN_RELU, INDRNN_TANH (Li et al. 2018, "Independently Recurrent Neural Network"):
//           h' = relu or tanh(W_ih x + b_ih + u * h), one recurrent weight per unit: w_hh holds
//           u, [H]; one bias (b_hh nullptr), no projection, G = 1. With h_mask, u sees h * h_mask
//     MINGRU, MINLSTM (Feng et al. 2024, "Were RNNs All We Needed?", the sequential mode): the
//           gates read x_t only; no w_hh, no b_hh (both nullptr), one bias b_ih, no h_mask
//           (nullptr: there is no recurrent product for a mask to drop out), no cell state.
//           MINGRU  (G = 2: z, h~)     z = sigmoid(W_z x + b_z), h~ = W_h x + b_h,
//                                      h' = (1 - z) * h + z * h~
//           MINLSTM (G = 3: f, i, h~)  f = sigmoid(W_f x + b_f), i = sigmoid(W_i x + b_i),
//                                      h~ = W_h x + b_h, h' = f/(f+i) * h + i/(f+i) * h~
//           Both are h' = a * h + b with a in (0, 1): a linear scan over time, split over the
//           threads by (sequence, unit) chains or by chunks of steps (a parallel scan);
//           RNNFAST_SCAN=units|time forces one (read once per process), otherwise it is
//           chosen by shape alone; results do not depend on the thread count.
//     LAYERNORM_LSTM (haste's LayerNormLSTM): LN(v) = (v - mean(v)) / sqrt(var(v) + 1e-5) over
//           one row's entries (var biased), gains and shifts per entry;
//           a = LN(W_ih x) * gamma_x + LN(W_hh h') * gamma_h + b_ih + b_hh (each LN over the
//           row's 4*H entries), i,f,o = sigmoid, g = tanh, c' = f*c + i*g,
//           h' = o * tanh(LN(c') * gamma_c + beta_c) (LN over H); Weights::extra holds gamma_x
//           [4*H], gamma_h [4*H], gamma_c [H], beta_c [H]; no projection
//     LAYERNORM_GRU: GRU with the two pre-activations normalized (LN over the row's 3*H):
//           u = LN(W_ih x) * gamma_x + b_ih, v = LN(W_hh h') * gamma_h + b_hh,
//           r = sigmoid(u_r + v_r), z = sigmoid(u_z + v_z), n = tanh(u_n + r*v_n),
//           h' = (1-z)*n + z*h; Weights::extra holds gamma_x [3*H], gamma_h [3*H]
//
// Zoneout (Krueger et al. 2016, "Zoneout"; haste's zoneout), every cell but the scan cells
// (RNN_*, LSTM, LSTM_PEEPHOLE, GRU, GRU_RESET_BEFORE, LAYERNORM_*, INDRNN_*; not MINGRU,
// MINLSTM): with per-step, per-unit keep masks d^h_t, d^c_t (1 = keep the
// previous value), the state carried to the next step and written to y, h_n, c_n is
//           h_t = d^h_t * h_{t-1} + (1 - d^h_t) * h~_t,  c_t = d^c_t * c_{t-1} + (1 - d^c_t) * c~_t
//     where h~_t, c~_t are the cell's usual new state from h_{t-1}, c_{t-1} (the LSTMs:
//     h~_t = o_t * tanh(c~_t), from c~_t, not from the zoned-out c_t, projected when
//     H_out < H: h~_t = W_hr (o_t * tanh(c~_t)), zoned out on its H_out values; LAYERNORM_LSTM:
//     h~_t = o_t * tanh(LN(c~_t) * gamma_c + beta_c)). Training: the masks are Bernoulli(p) in
//     {0, 1}, per step, sequence and unit; inference (deterministic): the constant p, the
//     expectation. h_mask then drops out the zoned-out h_{t-1}.
//
// Gradient convention: parameter gradients ACCUMULATE (+=) into the caller's buffers;
// activation gradients (dx, dh0, dc0) are WRITTEN (=).
//
// Variable lengths follow PyTorch's packed sequences: lengths[b] in [1, T]; outputs y[t, b]
// for t >= lengths[b] are zero and pass no gradient; h_n/c_n are each sequence's state after its
// own last step; the reverse direction starts at each sequence's own last step (t = lengths[b]-1).
//
// Errors: every entry point validates its arguments and throws std::invalid_argument naming
// the argument, the expected and the given value. Nothing is read before validation passes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace rnnfast {

enum class Cell : int {
  RNN_TANH = 0,
  RNN_RELU = 1,
  LSTM = 2,
  GRU = 3,
  GRU_RESET_BEFORE = 4,
  LSTM_PEEPHOLE = 5,
  INDRNN_RELU = 6,
  INDRNN_TANH = 7,
  MINGRU = 8,
  MINLSTM = 9,
  LAYERNORM_LSTM = 10,
  LAYERNORM_GRU = 11,
};

// What describes a cell kind (each throws std::invalid_argument for a value outside the enum).
// Number of gates G (1, 4, 3; MINGRU 2, MINLSTM 3).
int num_gates(Cell cell);
// "rnn_tanh", "rnn_relu", "lstm", "gru", "gru_reset_before", "lstm_peephole", "indrnn_relu",
// "indrnn_tanh", "mingru", "minlstm", "layernorm_lstm", "layernorm_gru".
const char* cell_name(Cell cell);
// Whether the cell carries a cell state c beside h (c0, c_n, dc0, dc_n): the LSTMs.
bool has_cell_state(Cell cell);
// Whether the cell allows a projection (H_out < H, w_hr): LSTM and LSTM_PEEPHOLE.
bool has_projection(Cell cell);
// Whether the step reaches h_{t-1} through one weight per unit (u * h) instead of the product
// W_hh h: then w_hh is u, [H], and the cell has one bias, b_ih (dw_hh [H]; b_hh, db_hh
// nullptr). The INDRNNs.
bool has_diagonal_recurrence(Cell cell);
// The cell's parameters beyond w_ih, w_hh, the biases and w_hr: how many (Weights::extra[k],
// k < num_extras), and each one's length, a multiple of H (LSTM_PEEPHOLE: one, 3*H;
// LAYERNORM_LSTM: 4*H, 4*H, H, H; LAYERNORM_GRU: 3*H, 3*H).
int num_extras(Cell cell);
int64_t extra_size(Cell cell, int64_t H, int k);
// At most this many extra parameters per cell.
constexpr int kMaxExtras = 4;

struct Dims {
  int64_t T = 0, B = 0, I = 0, H = 0;
  int64_t H_out = 0;         // == H, or the projection size for a projected LSTM (0 < H_out < H)
  bool batch_first = false;  // x, y, dx, dy are [B,T,..] instead of [T,B,..]
};

template <typename T>
struct Weights {
  const T* w_ih = nullptr;  // [G*H, I]
  const T* w_hh = nullptr;  // [G*H, H_out]   ([H] for a diagonal recurrence: INDRNN_*)
  const T* b_ih = nullptr;  // [G*H]   or nullptr (no bias)
  const T* b_hh = nullptr;  // [G*H]   or nullptr (no bias; always nullptr for INDRNN_*)
  const T* w_hr = nullptr;  // [H_out, H]  LSTM projection only, nullptr iff H_out == H
  // The cell's own parameters (num_extras(cell) of them, each [extra_size(cell, H, k)]); the
  // rest nullptr.
  const T* extra[kMaxExtras] = {};
};

// Parameter gradients: accumulated (+=). A nullptr entry is skipped (not computed).
template <typename T>
struct WeightGrads {
  T* dw_ih = nullptr;          // [G*H, I]
  T* dw_hh = nullptr;          // [G*H, H_out]   ([H] for INDRNN_*)
  T* db_ih = nullptr;          // [G*H]
  T* db_hh = nullptr;          // [G*H]
  T* dw_hr = nullptr;          // [H_out, H]
  T* dextra[kMaxExtras] = {};  // [extra_size(cell, H, k)]
};

// Zoneout's keep masks or probabilities (see the legend above); all null / 0 = no zoneout.
// Each of h and c is given either as masks (a pointer) or as a constant (the probability p,
// used when the pointer is null: inference's expectation), not both.
template <typename T>
struct Zoneout {
  const T* h = nullptr;  // [T,B,H_out] d^h_t, in x's order ([B,T,H_out] with batch_first)
  const T* c = nullptr;  // [T,B,H] d^c_t, LSTMs only, likewise
  T h_prob = 0;          // d^h_t at every step and unit when h is null, in [0, 1)
  T c_prob = 0;          // d^c_t likewise, LSTMs only
  bool on() const { return h || c || h_prob != T(0) || c_prob != T(0); }
};

// Number of elements (of the kernel's scalar type) the training reserve needs; with zoneout
// (forward()'s Zoneout on) the RNNs, the INDRNNs and the LSTM/LSTM_PEEPHOLE keep T*B*H more
// (h~_t, their gate; c~_t, tanh's operand), the other cells the same. Throws std::invalid_argument
// on invalid dims.
int64_t reserve_size(Cell cell, const Dims& d, bool zoneout = false);

// Forward of one layer, one direction.
//   y        [T,B,H_out]  written
//   h_n      [B,H_out]    written
//   c_n      [B,H]        written, LSTMs only (nullptr otherwise, or to skip)
//   reserve  [reserve_size(cell, d)]  written when training; nullptr = inference (nothing saved)
//   x        [T,B,I]
//   h0       [B,H_out]    nullptr = zeros
//   c0       [B,H]        LSTMs only; nullptr = zeros
//   lengths  [B]          each in [1, T]; nullptr = all T
//   h_mask   [B,H_out]    recurrent (variational) dropout: h_{t-1} * h_mask feeds W_hh at every
//                         step (the same mask at all steps; pass it already scaled, e.g. by
//                         1/(1-p)); the GRU's z * h_{t-1} term uses the unmasked state
//                         (GRU_RESET_BEFORE: r * h_{t-1} * h_mask feeds W_hn).
//                         nullptr = no recurrent dropout
//   reverse  process t = T-1 .. 0 (per sequence: lengths[b]-1 .. 0)
//   zoneout  the keep masks or probabilities (default: none); the reserve is then
//            reserve_size(cell, d, true). Past a sequence's end its masks are not read.
template <typename T>
void forward(Cell cell, T* y, T* h_n, T* c_n, T* reserve, const T* x, const T* h0, const T* c0,
             const int64_t* lengths, const T* h_mask, const Weights<T>& w, const Dims& d,
             bool reverse, const Zoneout<T>& zoneout = {});

// BPTT of one layer, one direction, from a reserve written by forward() with the same
// cell, x, lengths, h_mask, weights, dims, direction and zoneout, and that forward's output y: the
// state h_{t-1} each step read is y one step back (as cuDNN's RNN backward takes y), so the
// reserve does not hold it twice. A y whose last steps differ from the h_n that forward wrote
// is rejected (std::invalid_argument); y must be unchanged since the forward.
//   dx       [T,B,I]      written (nullptr to skip)
//   dh0      [B,H_out]    written (nullptr to skip)
//   dc0      [B,H]        written, LSTMs only (nullptr to skip)
//   dw       parameter gradients, accumulated
//   reserve  [reserve_size(cell, d)]  read only
//   dy       [T,B,H_out]  nullptr = zeros
//   dh_n     [B,H_out]    nullptr = zeros
//   dc_n     [B,H]        LSTMs only; nullptr = zeros
//   x        [T,B,I]      needed only when dw.dw_ih is requested
//   y        [T,B,H_out]  the forward's output; required
template <typename T>
void backward(Cell cell, T* dx, T* dh0, T* dc0, const WeightGrads<T>& dw, const T* reserve,
              const T* dy, const T* dh_n, const T* dc_n, const T* x, const T* y,
              const int64_t* lengths, const T* h_mask, const Weights<T>& w, const Dims& d,
              bool reverse, const Zoneout<T>& zoneout = {});

// Runs two independent calls at once -- typically forward() or backward() of the two
// directions of a bidirectional layer -- each on one thread of a two-thread team, when two or
// more threads are set and one step of a call (step_flops, e.g. 2*B*G*H*H_out) is too small to
// feed a team of its own; otherwise one after the other, each call using the team itself.
// An exception from either call is rethrown after both have finished.
void run_pair(const std::function<void()>& a, const std::function<void()>& b, double step_flops);

// C[M,N] = A[M,K] * B[K,N] (row-major, leading dimensions lda >= K, ldb >= N, ldc >= N) with
// the library's own packed micro-kernels, threaded like the cells (set_num_threads). The
// benchmark's yardstick of the machine's GEMM rate; throws std::invalid_argument for bad sizes,
// strides or null pointers.
template <typename T>
void matmul(int64_t M, int64_t N, int64_t K, const T* A, int64_t lda, const T* B, int64_t ldb, T* C,
            int64_t ldc);

// Threads used by the kernels (OpenMP). 1 when built without OpenMP.
void set_num_threads(int n);
int get_num_threads();
// When another process keeps the cores busy, calls run on one thread for a backoff period
// (RNNFAST_CONTENTION=off disables it). This forgets what was seen: the next call gets its full
// team. The benchmark suite calls it after it has let other thread pools go idle.
void reset_thread_backoff();
// True when built with OpenMP.
bool has_openmp();

// The instruction set the GEMM micro-kernels use ("avx512", "avx2" or "portable"): chosen once
// at load from the CPU's and the OS's support, or from RNNFAST_ISA; set_isa switches it (for
// tests and comparisons; throws std::invalid_argument for an unavailable name).
const char* isa();
std::vector<std::string> available_isas();  // newest first; "portable" always last
void set_isa(const std::string& name);

// Library version string, e.g. "0.1.0".
const char* version();

}  // namespace rnnfast
