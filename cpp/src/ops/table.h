// The contract between the ops' front ends (linear.cc, embedding.cc, losses.cc, optim.cc:
// validation, threads, reductions) and one instruction set's elementwise kernels
// (ops_<isa>.cc, all built from kernels.h). Every function here works on one row or one slice
// on the calling thread; the front ends split the work and fix the order of every sum.
#pragma once

#include <cstdint>

#include "rnnfast/ops.h"

namespace rnnfast {
namespace ops {
namespace detail {

// Per-element weights of an elementwise loss, for elements [i0, i0 + len) of a slice that
// stays inside one period of each: w[k] for k in [0, len) (nullptr: 1).
template <typename T>
struct WeightRun {
  const T* w = nullptr;
  const T* pw = nullptr;
};

// The options of one optimizer step and one parameter's step scalars, rounded to T as torch
// rounds its scalar arguments (filled by optim.cc).
template <typename T>
struct OptimScalars {
  bool maximize = false;
  bool decay = false;      // weight_decay != 0: g += wd p (or, decoupled, p *= keep first)
  bool decoupled = false;  // AdamW
  T wd = 0;
  T keep = 1;             // 1 - lr weight_decay
  T neg_lr = 0;           // -lr (SGD, RMSprop), -lr / (1 - beta1^t) (Adam), -clr (Adagrad)
  bool momentum = false;  // SGD: momentum != 0; RMSprop: momentum > 0
  bool nesterov = false;
  T mu = 0;                  // momentum
  T damp_c = 1;              // 1 - dampening
  T beta1_c = 0;             // 1 - beta1
  T beta2 = 0, beta2_c = 0;  // beta2, 1 - beta2 (RMSprop: alpha, 1 - alpha)
  T bc2_sqrt = 1;            // sqrt(1 - beta2^t)
  T eps = 0;
  bool amsgrad = false, centered = false;
};

template <typename T>
struct OpsTable {
  // Cross entropy of one row of C contiguous logits x with class y (valid, not ignored):
  // returns the loss, writes the log-sum-exp to *lse. w: [C] or nullptr; eps: smoothing.
  T (*ce_fwd)(int64_t C, const T* x, int64_t y, const T* w, T eps, T* lse);
  // dx[c] = a e^{x[c] - lse} - b w[c] - (c == y) t, with a, b, t from the caller (see
  // losses.cc); w nullptr: weights 1.
  void (*ce_bwd)(int64_t C, const T* x, T lse, const T* w, T a, T b, int64_t y, T t, T* dx);
  // Probability targets q [C]: returns -sum_c w[c] qs[c] (x[c] - lse), qs = (1-eps) q + eps/C;
  // writes *lse.
  T (*ce_prob_fwd)(int64_t C, const T* x, const T* q, const T* w, T eps, T* lse);
  // dx[c] = coef (e^{x[c]-lse} S - w[c] qs[c]) with S = sum_c w[c] qs[c];
  // dq[c] = -(1 - eps) coef w[c] (x[c] - lse). Either output may be nullptr.
  void (*ce_prob_bwd)(int64_t C, const T* x, T lse, const T* q, const T* w, T eps, T coef, T* dx,
                      T* dq);
  // Elementwise losses over len elements: writes each element's loss to out (nullptr: not
  // written) and returns their sum, added in a fixed order.
  T (*bce_fwd)(int64_t len, const T* x, const T* y, WeightRun<T> wr, T* out);
  // dx, dy (either nullptr) for len elements; g: per-element (g_step 1) or one value (0).
  void (*bce_bwd)(int64_t len, const T* x, const T* y, WeightRun<T> wr, const T* g, int64_t g_step,
                  T* dx, T* dy);
  T (*mse_fwd)(int64_t len, const T* x, const T* y, T* out);
  void (*mse_bwd)(int64_t len, const T* x, const T* y, const T* g, int64_t g_step, T* dx, T* dy);
  // Optimizer updates of elements [i0, i1) of one parameter.
  void (*sgd)(const SgdParam<T>& p, int64_t i0, int64_t i1, const OptimScalars<T>& s);
  void (*adam)(const AdamParam<T>& p, int64_t i0, int64_t i1, const OptimScalars<T>& s);
  void (*rmsprop)(const RmspropParam<T>& p, int64_t i0, int64_t i1, const OptimScalars<T>& s);
  void (*adagrad)(const AdagradParam<T>& p, int64_t i0, int64_t i1, const OptimScalars<T>& s);
};

struct Ops {
  const char* name;
  OpsTable<float> f32;
  OpsTable<double> f64;
};

const Ops& ops_portable();
const Ops* ops_avx2();    // nullptr when not compiled in
const Ops* ops_avx512();  // nullptr when not compiled in

// The table of the instruction set the GEMM uses (rnnfast::isa()).
const Ops& active_ops();

template <typename T>
const OpsTable<T>& table(const Ops& o);
template <>
inline const OpsTable<float>& table<float>(const Ops& o) {
  return o.f32;
}
template <>
inline const OpsTable<double>& table<double>(const Ops& o) {
  return o.f64;
}

}  // namespace detail
}  // namespace ops
}  // namespace rnnfast
