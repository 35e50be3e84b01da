// rnnfast ops: the non-recurrent hot work of a training step -- Linear, Embedding, the losses
// (cross entropy, binary cross entropy with logits, mean squared error) and the optimizer
// steps (SGD, Adam/AdamW, RMSprop, Adagrad) -- with PyTorch's semantics and update formulas.
// Like rnnfast.h, this header includes nothing of Python; the autograd lives above it.
// Deliberately absent: fused activations after Linear, sparse embedding gradients, max_norm,
// and the rarer losses (NLL of log-probabilities, L1, BCE of probabilities stay in NumPy).
//
// Shape legend (row-major, every pointer annotated with its shape):
//   M  rows (the batch, all leading dims of a Linear's input flattened)
//   K  in_features      N  out_features
//   V  num_embeddings   D  embedding_dim        n  number of indices / elements
//   R  rows of a loss over classes (the batch), C classes, S trailing positions of an
//      (R, C, d1, ...) input (S = d1 * ... ; 1 for (R, C)): logits [R, C, S], targets [R, S]
//
// Gradient convention (as rnnfast.h): parameter gradients ACCUMULATE (+=) into the caller's
// buffers; activation gradients (dx, dlogits, dinput, dtarget) are WRITTEN (=).
//
// Threads: OpenMP, set_num_threads (rnnfast.h); small calls run on the calling thread. Every
// result is bitwise the same at any thread count: each output element is computed by one
// thread, and reductions add fixed blocks in a fixed order.
//
// Errors: every entry point validates its arguments and throws std::invalid_argument naming
// the argument, the expected and the given value -- std::out_of_range for an index or class
// outside its range. Nothing is written before validation passes.
#pragma once

#include <cstdint>

namespace rnnfast {
namespace ops {

// The reduction of a loss over its elements (torch's 'none', 'mean', 'sum').
enum class Reduction : int { None = 0, Mean = 1, Sum = 2 };

// ---- Linear --------------------------------------------------------------------------------

// y = x W^T + b on the library's GEMM (the bias added in its epilogue).
//   y  [M,N]  written        x  [M,K]        w  [N,K]        b  [N] or nullptr
template <typename T>
void linear_forward(T* y, const T* x, const T* w, const T* b, int64_t M, int64_t K, int64_t N);

// dx = dy W (written); dw += dy^T x and db += the column sums of dy, both in one product (the
// sums taken as dy^T is packed). Any of dx, dw, db may be nullptr (not computed).
//   dx [M,K]   dw [N,K]   db [N]   dy [M,N]   x [M,K] (needed for dw)   w [N,K] (for dx)
template <typename T>
void linear_backward(T* dx, T* dw, T* db, const T* dy, const T* x, const T* w, int64_t M, int64_t K,
                     int64_t N);

// ---- Embedding -----------------------------------------------------------------------------

// y[i] = weight[indices[i]]; every index in [0, V) (std::out_of_range names the first that
// is not).
//   y  [n,D]  written        indices  [n]        weight  [V,D]
template <typename T>
void embedding_forward(T* y, const int64_t* indices, const T* weight, int64_t n, int64_t V,
                       int64_t D);

// dweight[indices[i]] += dy[i] for every i whose index is not padding_idx (-1: none), each
// row's contributions added in order of i (as numpy.add.at), rows split over threads.
//   dweight  [V,D]  accumulated        dy  [n,D]        indices  [n]
template <typename T>
void embedding_backward(T* dweight, const T* dy, const int64_t* indices, int64_t n, int64_t V,
                        int64_t D, int64_t padding_idx);

// ---- Cross entropy -------------------------------------------------------------------------

// Options of the class-index and probability forms (torch.nn.functional.cross_entropy).
struct CrossEntropyOptions {
  Reduction reduction = Reduction::Mean;
  int64_t ignore_index = -100;   // class-index form: targets equal to it count for nothing
  double label_smoothing = 0.0;  // in [0, 1]
};

// Log-softmax and the negative log likelihood in one pass over each row of C logits, with
// class-index targets: per position, with w = weight (ones when nullptr), y its target,
// eps = label_smoothing and log p = log_softmax(logits) over the classes,
//   loss = -(1 - eps) w[y] log p[y] - eps/C sum_c w[c] log p[c]   (0 where y == ignore_index);
// 'mean' divides the sum by the sum of w[y] over the positions not ignored (torch's weighted
// mean: NaN when every target is ignored), 'sum' adds them up.
//   loss    [R*S] ('none') or [1]  written
//   lse     [R*S]  written: each position's log-sum-exp, for the backward
//   logits  [R,C,S]     target  [R,S] each in [0, C) or ignore_index     weight  [C] or nullptr
template <typename T>
void cross_entropy_forward(T* loss, T* lse, const T* logits, const int64_t* target, const T* weight,
                           int64_t R, int64_t C, int64_t S, const CrossEntropyOptions& o);

// d(loss)/d(logits) times dloss, from the forward's lse (softmax recomputed from the logits).
//   dlogits [R,C,S]  written        dloss  [R*S] ('none') or [1]
//   the other arguments as the forward's (the same values)
template <typename T>
void cross_entropy_backward(T* dlogits, const T* dloss, const T* lse, const T* logits,
                            const int64_t* target, const T* weight, int64_t R, int64_t C, int64_t S,
                            const CrossEntropyOptions& o);

// Cross entropy with class-probability targets q [R,C,S] (o.ignore_index unused): with
// qs = (1 - eps) q + eps/C,  loss = -sum_c w[c] qs[c] log p[c]; 'mean' divides by R*S.
//   loss [R*S] or [1], lse [R*S] written; logits, target [R,C,S]; weight [C] or nullptr
template <typename T>
void cross_entropy_prob_forward(T* loss, T* lse, const T* logits, const T* target, const T* weight,
                                int64_t R, int64_t C, int64_t S, const CrossEntropyOptions& o);

// Gradients of the probability form: dlogits and dtarget [R,C,S] written (either nullptr).
template <typename T>
void cross_entropy_prob_backward(T* dlogits, T* dtarget, const T* dloss, const T* lse,
                                 const T* logits, const T* target, const T* weight, int64_t R,
                                 int64_t C, int64_t S, const CrossEntropyOptions& o);

// ---- Elementwise losses over n elements ----------------------------------------------------

// A per-element weight read with a period: element i uses w[i % period] (period n: one weight
// per element; period C: one per class of a trailing class dim). Null data: no weight.
template <typename T>
struct Periodic {
  const T* data = nullptr;
  int64_t period = 0;  // in [1, n] when data is given
};

// Binary cross entropy of sigmoid(x) against targets y in [0, 1], stably:
//   loss = weight * [(1 - y) x + (1 + (pos_weight - 1) y) softplus(-x)].
//   loss  [n] ('none') or [1]  written        x, y  [n]
template <typename T>
void bce_with_logits_forward(T* loss, const T* x, const T* y, Periodic<T> weight,
                             Periodic<T> pos_weight, int64_t n, Reduction reduction);

// dx = dloss * weight * [(1 - y + pos_weight y) sigmoid(x) - pos_weight y],
// dy = dloss * weight * [log sigmoid(-x) - pos_weight log sigmoid(x)] (either nullptr).
//   dloss  [n] ('none') or [1]
template <typename T>
void bce_with_logits_backward(T* dx, T* dy, const T* dloss, const T* x, const T* y,
                              Periodic<T> weight, Periodic<T> pos_weight, int64_t n,
                              Reduction reduction);

// loss = (x - y)^2 per element; dx = 2 (x - y) dloss, dy = -dx (either nullptr).
template <typename T>
void mse_forward(T* loss, const T* x, const T* y, int64_t n, Reduction reduction);
template <typename T>
void mse_backward(T* dx, T* dy, const T* dloss, const T* x, const T* y, int64_t n,
                  Reduction reduction);

// ---- Optimizers ----------------------------------------------------------------------------
// One call updates every parameter of a group in place, with torch.optim's single-tensor
// formulas, in the parameters' precision (the options are rounded to T as torch rounds its
// scalar arguments). The first-step state is the caller's: buffers start as torch's do
// (zeros, or initial_accumulator_value), except SGD's momentum buffer, which the first step
// sets to the gradient (first = true).

struct SgdOptions {
  double lr = 1e-3, momentum = 0, dampening = 0, weight_decay = 0;
  bool nesterov = false, maximize = false;
};
template <typename T>
struct SgdParam {
  int64_t n = 0;
  T* param = nullptr;            // [n]
  const T* grad = nullptr;       // [n]
  T* momentum_buffer = nullptr;  // [n], needed when momentum != 0
  bool first = false;            // the buffer is uninitialized: set it to the gradient
};
template <typename T>
void sgd_step(const SgdParam<T>* params, int64_t count, const SgdOptions& o);

struct AdamOptions {
  double lr = 1e-3, beta1 = 0.9, beta2 = 0.999, eps = 1e-8, weight_decay = 0;
  bool amsgrad = false, maximize = false, decoupled_weight_decay = false;  // decoupled: AdamW
};
template <typename T>
struct AdamParam {
  int64_t n = 0;
  T* param = nullptr;           // [n]
  const T* grad = nullptr;      // [n]
  T* exp_avg = nullptr;         // [n]
  T* exp_avg_sq = nullptr;      // [n]
  T* max_exp_avg_sq = nullptr;  // [n], amsgrad only
  int64_t step = 0;             // this update's step number, >= 1
};
template <typename T>
void adam_step(const AdamParam<T>* params, int64_t count, const AdamOptions& o);

struct RmspropOptions {
  double lr = 1e-2, alpha = 0.99, eps = 1e-8, weight_decay = 0, momentum = 0;
  bool centered = false, maximize = false;
};
template <typename T>
struct RmspropParam {
  int64_t n = 0;
  T* param = nullptr;            // [n]
  const T* grad = nullptr;       // [n]
  T* square_avg = nullptr;       // [n]
  T* momentum_buffer = nullptr;  // [n], momentum > 0 only
  T* grad_avg = nullptr;         // [n], centered only
};
template <typename T>
void rmsprop_step(const RmspropParam<T>* params, int64_t count, const RmspropOptions& o);

struct AdagradOptions {
  double lr = 1e-2, lr_decay = 0, weight_decay = 0, eps = 1e-10;
  bool maximize = false;
};
template <typename T>
struct AdagradParam {
  int64_t n = 0;
  T* param = nullptr;       // [n]
  const T* grad = nullptr;  // [n]
  T* sum = nullptr;         // [n]
  int64_t step = 0;         // this update's step number, >= 1
};
template <typename T>
void adagrad_step(const AdagradParam<T>* params, int64_t count, const AdagradOptions& o);

}  // namespace ops
}  // namespace rnnfast
