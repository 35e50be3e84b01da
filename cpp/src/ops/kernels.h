// The ops' elementwise kernels (table.h: what each computes), written once and compiled per
// instruction set: included ONLY inside an anonymous namespace of an ops_<isa>.cc, after
// cells/activations.h (exp_poly, clampf). float: branch-free loops the compiler vectorizes,
// with the activations' polynomial e^x and a Cephes-style log; double: libm, so the float64
// kernels stay a tight oracle. Sums keep kLanes independent partial sums (vectorized without
// reassociation), added in a fixed order: results depend on the data and the instruction set
// only, never on threads.
// Not here: validation, threads, reductions over rows (the front ends).

constexpr int kLanes = 16;

// ---- scalar functions ----------------------------------------------------------------------

// e^z for z <= 0 (a softmax term): 0 below -87 (where float's e^z is below 1.7e-38), NaN
// propagates.
inline float exp_le0(float z) {
  const float e = exp_poly(clampf(z, -87.0f, 0.0f));
  return z != z ? z : (z < -87.0f ? 0.0f : e);
}
inline double exp_le0(double z) { return __builtin_exp(z); }

// log(u) for u in [1, 2] (Cephes logf: u = m 2^k with m in [sqrt(1/2), sqrt(2)), a degree-9
// polynomial in m - 1).
inline float log_1to2(float u) {
  const bool big = u > 1.41421356237f;
  const float k = big ? 1.0f : 0.0f;
  const float x = (big ? 0.5f * u : u) - 1.0f;
  const float z = x * x;
  float p = 7.0376836292e-2f;
  p = p * x - 1.1514610310e-1f;
  p = p * x + 1.1676998740e-1f;
  p = p * x - 1.2420140846e-1f;
  p = p * x + 1.4249322787e-1f;
  p = p * x - 1.6668057665e-1f;
  p = p * x + 2.0000714765e-1f;
  p = p * x - 2.4999993993e-1f;
  p = p * x + 3.3333331174e-1f;
  float y = x * z * p;
  y = y + k * -2.12194440e-4f;
  y = y - 0.5f * z;
  return (x + y) + k * 0.693359375f;
}

// log(1 + e^-a) for a >= 0 (the tail of softplus), accurate for tiny e^-a too: with
// u = 1 + e, log1p(e) = log(u) e / (u - 1) (the rounding of u cancels), e itself when u == 1.
inline float log1p_exp_neg(float a) {
  const float e = a > 87.0f ? 0.0f : exp_poly(-clampf(a, 0.0f, 87.0f));
  const float u = 1.0f + e;
  const float d = u - 1.0f;
  const float l = log_1to2(u) * (e / (d == 0.0f ? 1.0f : d));
  return d == 0.0f ? e : l;
}
inline double log1p_exp_neg(double a) { return __builtin_log1p(__builtin_exp(-a)); }

// sigmoid(x) without overflow: 1 / (1 + e^-|x|) or its complement's form for x < 0.
inline float sigmoid_stable(float x) {
  const float ax = x < 0.0f ? -x : x;
  const float e = ax > 87.0f ? 0.0f : exp_poly(-clampf(ax, 0.0f, 87.0f));
  const float r = 1.0f / (1.0f + e);
  return x != x ? x : (x >= 0.0f ? r : e * r);
}
inline double sigmoid_stable(double x) {
  const double e = __builtin_exp(-(x < 0 ? -x : x));
  return x >= 0 ? 1.0 / (1.0 + e) : e / (1.0 + e);
}

inline float tsqrt(float x) { return __builtin_sqrtf(x); }
inline double tsqrt(double x) { return __builtin_sqrt(x); }

template <typename T>
inline T tmax(T a, T b) {
  return a > b ? a : b;
}
template <typename T>
inline T tabs(T a) {
  return a < T(0) ? -a : a;
}

// sum over k < n of f(k) in kLanes partial sums (value k goes to sum k % kLanes, the last
// n % kLanes values to a running sum), added in a fixed order. The values are made kBlock at a
// time by a plain loop into a buffer, which the compiler vectorizes as a loop; called inside
// the 16-lane loop, f would only be straight-line (SLP) vectorized, if at all.
template <typename T, typename F>
inline T lane_sum(int64_t n, F f) {
  constexpr int64_t kBlock = 256;  // a multiple of kLanes
  alignas(64) T buf[kBlock];
  T part[kLanes];
  for (int j = 0; j < kLanes; ++j) part[j] = T(0);
  T acc = T(0);
  for (int64_t k0 = 0; k0 < n; k0 += kBlock) {
    const int64_t len = n - k0 < kBlock ? n - k0 : kBlock;
    for (int64_t k = 0; k < len; ++k) buf[k] = f(k0 + k);
    int64_t k = 0;
    for (; k + kLanes <= len; k += kLanes)
      for (int j = 0; j < kLanes; ++j) part[j] += buf[k + j];
    for (; k < len; ++k) acc += buf[k];  // only in the last block
  }
  for (int j = 0; j < kLanes; ++j) acc += part[j];
  return acc;
}

// ---- cross entropy: one row of C contiguous logits ------------------------------------------

// max over the row (NaN ignored here; it reaches the sum of exponentials and the result).
template <typename T>
inline T row_max(int64_t C, const T* x) {
  const T ninf = -__builtin_inf();
  T part[kLanes];
  for (int j = 0; j < kLanes; ++j) part[j] = ninf;
  int64_t k = 0;
  for (; k + kLanes <= C; k += kLanes)
    for (int j = 0; j < kLanes; ++j) part[j] = tmax(x[k + j], part[j]);
  T m = ninf;
  for (; k < C; ++k) m = tmax(x[k], m);
  for (int j = 0; j < kLanes; ++j) m = tmax(part[j], m);
  return m;
}

// float: explicit vector max for the TU's instruction set (the compiler leaves the lanes above
// scalar). max(x, m) returns m when x is NaN, as tmax does, and the maximum of the rest does
// not depend on the order: the same result as the template above, in every instruction set.
#if defined(__AVX512F__)
inline float row_max(int64_t C, const float* x) {
  __m512 m0 = _mm512_set1_ps(-__builtin_inff()), m1 = m0, m2 = m0, m3 = m0;
  int64_t k = 0;
  for (; k + 64 <= C; k += 64) {
    m0 = _mm512_max_ps(_mm512_loadu_ps(x + k), m0);
    m1 = _mm512_max_ps(_mm512_loadu_ps(x + k + 16), m1);
    m2 = _mm512_max_ps(_mm512_loadu_ps(x + k + 32), m2);
    m3 = _mm512_max_ps(_mm512_loadu_ps(x + k + 48), m3);
  }
  for (; k + 16 <= C; k += 16) m0 = _mm512_max_ps(_mm512_loadu_ps(x + k), m0);
  float m = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_max_ps(m0, m1), _mm512_max_ps(m2, m3)));
  for (; k < C; ++k) m = tmax(x[k], m);
  return m;
}
#elif defined(__AVX2__)
inline float row_max(int64_t C, const float* x) {
  __m256 m0 = _mm256_set1_ps(-__builtin_inff()), m1 = m0, m2 = m0, m3 = m0;
  int64_t k = 0;
  for (; k + 32 <= C; k += 32) {
    m0 = _mm256_max_ps(_mm256_loadu_ps(x + k), m0);
    m1 = _mm256_max_ps(_mm256_loadu_ps(x + k + 8), m1);
    m2 = _mm256_max_ps(_mm256_loadu_ps(x + k + 16), m2);
    m3 = _mm256_max_ps(_mm256_loadu_ps(x + k + 24), m3);
  }
  for (; k + 8 <= C; k += 8) m0 = _mm256_max_ps(_mm256_loadu_ps(x + k), m0);
  alignas(32) float lanes[8];
  _mm256_store_ps(lanes, _mm256_max_ps(_mm256_max_ps(m0, m1), _mm256_max_ps(m2, m3)));
  float m = -__builtin_inff();
  for (float v : lanes) m = tmax(v, m);
  for (; k < C; ++k) m = tmax(x[k], m);
  return m;
}
#endif

// log sum_c e^{x[c]} = m + log sum_c e^{x[c] - m}
template <typename T>
inline T row_lse(int64_t C, const T* x) {
  const T m = row_max(C, x);
  const T s = lane_sum<T>(C, [=](int64_t c) { return exp_le0(x[c] - m); });
  return m + static_cast<T>(__builtin_log(static_cast<double>(s)));
}

template <typename T>
T ce_fwd(int64_t C, const T* x, int64_t y, const T* w, T eps, T* lse_out) {
  const T lse = row_lse(C, x);
  *lse_out = lse;
  const T wy = w ? w[y] : T(1);
  T loss = -(T(1) - eps) * wy * (x[y] - lse);
  if (eps != T(0)) {
    // label smoothing: eps/C sum_c w[c] (-log p[c])
    const T s = w ? lane_sum<T>(C, [=](int64_t c) { return w[c] * (x[c] - lse); })
                  : lane_sum<T>(C, [=](int64_t c) { return x[c] - lse; });
    loss -= eps / static_cast<T>(C) * s;
  }
  return loss;
}

template <typename T>
void ce_bwd(int64_t C, const T* __restrict x, T lse, const T* __restrict w, T a, T b, int64_t y,
            T t, T* __restrict dx) {
  if (b == T(0)) {
    for (int64_t c = 0; c < C; ++c) dx[c] = a * exp_le0(x[c] - lse);
  } else if (w) {
    for (int64_t c = 0; c < C; ++c) dx[c] = a * exp_le0(x[c] - lse) - b * w[c];
  } else {
    for (int64_t c = 0; c < C; ++c) dx[c] = a * exp_le0(x[c] - lse) - b;
  }
  dx[y] -= t;
}

// The smoothed target qs[c] = (1 - eps) q[c] + eps/C (q[c] itself when eps == 0).
template <typename T>
inline T smoothed(T q, T eps, T eps_c) {
  return eps == T(0) ? q : q * (T(1) - eps) + eps_c;
}

template <typename T>
T ce_prob_fwd(int64_t C, const T* x, const T* q, const T* w, T eps, T* lse_out) {
  const T lse = row_lse(C, x);
  *lse_out = lse;
  const T eps_c = eps / static_cast<T>(C);
  const T s =
      w ? lane_sum<T>(C,
                      [=](int64_t c) { return (x[c] - lse) * smoothed(q[c], eps, eps_c) * w[c]; })
        : lane_sum<T>(C, [=](int64_t c) { return (x[c] - lse) * smoothed(q[c], eps, eps_c); });
  return -s;
}

template <typename T>
void ce_prob_bwd(int64_t C, const T* __restrict x, T lse, const T* __restrict q,
                 const T* __restrict w, T eps, T coef, T* __restrict dx, T* __restrict dq) {
  const T eps_c = eps / static_cast<T>(C);
  if (dx) {
    const T S = w ? lane_sum<T>(C, [=](int64_t c) { return w[c] * smoothed(q[c], eps, eps_c); })
                  : lane_sum<T>(C, [=](int64_t c) { return smoothed(q[c], eps, eps_c); });
    for (int64_t c = 0; c < C; ++c) {
      const T wq = w ? w[c] * smoothed(q[c], eps, eps_c) : smoothed(q[c], eps, eps_c);
      dx[c] = coef * (exp_le0(x[c] - lse) * S - wq);
    }
  }
  if (dq) {
    const T k = -(T(1) - eps) * coef;
    for (int64_t c = 0; c < C; ++c) dq[c] = (w ? k * w[c] : k) * (x[c] - lse);
  }
}

// ---- elementwise losses --------------------------------------------------------------------
// Each loop is instantiated per combination of weights given (W, PW) and per kind of dloss
// (GS: one value for all elements), so that every loop is a plain vectorizable one.

template <typename T>
inline T softplus_neg(T x) {  // softplus(-x) = -log sigmoid(x)
  return tmax(-x, T(0)) + log1p_exp_neg(tabs(x));
}

template <typename T, bool W, bool PW>
inline T bce_value(T x, T y, const T* w, const T* pw, int64_t i) {
  T lw = T(1);
  if constexpr (PW) lw = T(1) + (pw[i] - T(1)) * y;
  const T l = (T(1) - y) * x + lw * softplus_neg(x);
  if constexpr (W) return l * w[i];
  return l;
}

template <typename T, bool W, bool PW>
T bce_fwd_t(int64_t len, const T* __restrict x, const T* __restrict y, const T* __restrict w,
            const T* __restrict pw, T* __restrict out) {
  if (out) {
    for (int64_t i = 0; i < len; ++i) out[i] = bce_value<T, W, PW>(x[i], y[i], w, pw, i);
    return lane_sum<T>(len, [=](int64_t i) { return out[i]; });
  }
  return lane_sum<T>(len, [=](int64_t i) { return bce_value<T, W, PW>(x[i], y[i], w, pw, i); });
}

template <typename T>
T bce_fwd(int64_t len, const T* x, const T* y, WeightRun<T> wr, T* out) {
  if (wr.w)
    return wr.pw ? bce_fwd_t<T, true, true>(len, x, y, wr.w, wr.pw, out)
                 : bce_fwd_t<T, true, false>(len, x, y, wr.w, wr.pw, out);
  return wr.pw ? bce_fwd_t<T, false, true>(len, x, y, wr.w, wr.pw, out)
               : bce_fwd_t<T, false, false>(len, x, y, wr.w, wr.pw, out);
}

// d/dx: (1 - y + pw y) sigmoid(x) - pw y (pw = 1: sigmoid(x) - y); d/dy: log sigmoid(-x) -
// pw log sigmoid(x) (pw = 1: -x); each times dloss and the weight.
template <typename T, bool W, bool PW, bool GS>
void bce_bwd_t(int64_t len, const T* __restrict x, const T* __restrict y, const T* __restrict w,
               const T* __restrict pw, const T* __restrict g, T* __restrict dx, T* __restrict dy) {
  const T g0 = g[0];
  if (dx)
    for (int64_t i = 0; i < len; ++i) {
      const T s = sigmoid_stable(x[i]);
      T d;
      if constexpr (PW) {
        const T t = pw[i] * y[i];
        d = (t + T(1) - y[i]) * s - t;
      } else {
        d = s - y[i];
      }
      d = d * (GS ? g0 : g[i]);
      dx[i] = W ? d * w[i] : d;
    }
  if (dy)
    for (int64_t i = 0; i < len; ++i) {
      T d;
      if constexpr (PW) {
        const T tail = log1p_exp_neg(tabs(x[i]));
        d = -(tmax(x[i], T(0)) + tail) + pw[i] * (tmax(-x[i], T(0)) + tail);
      } else {
        d = -x[i];
      }
      d = d * (GS ? g0 : g[i]);
      dy[i] = W ? d * w[i] : d;
    }
}

template <typename T, bool GS>
void bce_bwd_g(int64_t len, const T* x, const T* y, WeightRun<T> wr, const T* g, T* dx, T* dy) {
  if (wr.w) {
    if (wr.pw)
      bce_bwd_t<T, true, true, GS>(len, x, y, wr.w, wr.pw, g, dx, dy);
    else
      bce_bwd_t<T, true, false, GS>(len, x, y, wr.w, wr.pw, g, dx, dy);
  } else {
    if (wr.pw)
      bce_bwd_t<T, false, true, GS>(len, x, y, wr.w, wr.pw, g, dx, dy);
    else
      bce_bwd_t<T, false, false, GS>(len, x, y, wr.w, wr.pw, g, dx, dy);
  }
}

template <typename T>
void bce_bwd(int64_t len, const T* x, const T* y, WeightRun<T> wr, const T* g, int64_t g_step,
             T* dx, T* dy) {
  if (g_step == 0)
    bce_bwd_g<T, true>(len, x, y, wr, g, dx, dy);
  else
    bce_bwd_g<T, false>(len, x, y, wr, g, dx, dy);
}

template <typename T>
T mse_fwd(int64_t len, const T* __restrict x, const T* __restrict y, T* __restrict out) {
  if (out) {
    for (int64_t i = 0; i < len; ++i) out[i] = (x[i] - y[i]) * (x[i] - y[i]);
    return lane_sum<T>(len, [=](int64_t i) { return out[i]; });
  }
  return lane_sum<T>(len, [=](int64_t i) { return (x[i] - y[i]) * (x[i] - y[i]); });
}

template <typename T, bool GS>
void mse_bwd_t(int64_t len, const T* __restrict x, const T* __restrict y, const T* __restrict g,
               T* __restrict dx, T* __restrict dy) {
  const T g0 = g[0];
  if (dx)
    for (int64_t i = 0; i < len; ++i) dx[i] = T(2) * (x[i] - y[i]) * (GS ? g0 : g[i]);
  if (dy)
    for (int64_t i = 0; i < len; ++i) dy[i] = -(T(2) * (x[i] - y[i]) * (GS ? g0 : g[i]));
}

template <typename T>
void mse_bwd(int64_t len, const T* x, const T* y, const T* g, int64_t g_step, T* dx, T* dy) {
  if (g_step == 0)
    mse_bwd_t<T, true>(len, x, y, g, dx, dy);
  else
    mse_bwd_t<T, false>(len, x, y, g, dx, dy);
}

// ---- optimizers (torch.optim's single-tensor formulas) -------------------------------------
// The scalars are copied to locals (through the reference the compiler would reload them after
// every store to the arrays) and the options that change the loop are template flags, so that
// every loop vectorizes. maximize is a factor of -1 (exact, as torch's negation).

template <typename T, bool Decay>
inline T effective_grad(T grad, T p, T sign, T wd) {  // (+-grad) + wd p
  const T g = sign * grad;
  if constexpr (Decay) return g + wd * p;
  return g;
}

// torch.optim.SGD: b = mu b + (1 - dampening) g (b_1 = g); g = g + mu b if nesterov else b;
// p += -lr g
template <typename T, bool Decay, bool Momentum, bool Nesterov, bool First>
void sgd_t(const SgdParam<T>& pr, int64_t i0, int64_t i1, const OptimScalars<T>& s) {
  T* __restrict p = pr.param;
  const T* __restrict gr = pr.grad;
  T* __restrict b = pr.momentum_buffer;
  const T sign = s.maximize ? T(-1) : T(1), wd = s.wd, mu = s.mu, damp_c = s.damp_c,
          neg_lr = s.neg_lr;
  for (int64_t i = i0; i < i1; ++i) {
    T g = effective_grad<T, Decay>(gr[i], p[i], sign, wd);
    if constexpr (Momentum) {
      const T bi = First ? g : b[i] * mu + damp_c * g;
      b[i] = bi;
      g = Nesterov ? g + mu * bi : bi;
    }
    p[i] = p[i] + neg_lr * g;
  }
}

template <typename T, bool Decay>
void sgd_d(const SgdParam<T>& pr, int64_t i0, int64_t i1, const OptimScalars<T>& s) {
  if (!s.momentum) return sgd_t<T, Decay, false, false, false>(pr, i0, i1, s);
  if (pr.first)
    return s.nesterov ? sgd_t<T, Decay, true, true, true>(pr, i0, i1, s)
                      : sgd_t<T, Decay, true, false, true>(pr, i0, i1, s);
  return s.nesterov ? sgd_t<T, Decay, true, true, false>(pr, i0, i1, s)
                    : sgd_t<T, Decay, true, false, false>(pr, i0, i1, s);
}

template <typename T>
void sgd(const SgdParam<T>& pr, int64_t i0, int64_t i1, const OptimScalars<T>& s) {
  if (s.decay)
    sgd_d<T, true>(pr, i0, i1, s);
  else
    sgd_d<T, false>(pr, i0, i1, s);
}

// torch.optim.Adam: m = lerp(m, g, 1 - b1); v = b2 v + (1 - b2) g^2; (AMSGrad: vmax =
// max(vmax, v)); p += -lr/(1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps). AdamW first
// p *= 1 - lr wd (keep = 1 otherwise: exact).
template <typename T, bool L2, bool Ams>
void adam_t(const AdamParam<T>& pr, int64_t i0, int64_t i1, const OptimScalars<T>& s) {
  T* __restrict p = pr.param;
  const T* __restrict gr = pr.grad;
  T* __restrict m = pr.exp_avg;
  T* __restrict v = pr.exp_avg_sq;
  T* __restrict vmax = pr.max_exp_avg_sq;
  const T sign = s.maximize ? T(-1) : T(1), wd = s.wd, keep = s.keep, b1c = s.beta1_c, b2 = s.beta2,
          b2c = s.beta2_c, bc2 = s.bc2_sqrt, eps = s.eps, neg_lr = s.neg_lr;
  for (int64_t i = i0; i < i1; ++i) {
    const T pi = p[i] * keep;
    const T g = effective_grad<T, L2>(gr[i], pi, sign, wd);
    const T mi = m[i] + b1c * (g - m[i]);  // torch's lerp for a weight below 0.5
    const T vi = v[i] * b2 + b2c * g * g;
    m[i] = mi;
    v[i] = vi;
    T vd = vi;
    if constexpr (Ams) {  // torch.maximum: NaN propagates
      const T mx = vi > vmax[i] ? vi : vmax[i];
      vd = vi != vi ? vi : mx;
      vmax[i] = vd;
    }
    const T denom = tsqrt(vd) / bc2 + eps;
    p[i] = pi + neg_lr * (mi / denom);
  }
}

template <typename T>
void adam(const AdamParam<T>& pr, int64_t i0, int64_t i1, const OptimScalars<T>& s) {
  const bool l2 = s.decay && !s.decoupled;
  if (l2) {
    if (s.amsgrad)
      adam_t<T, true, true>(pr, i0, i1, s);
    else
      adam_t<T, true, false>(pr, i0, i1, s);
  } else {
    if (s.amsgrad)
      adam_t<T, false, true>(pr, i0, i1, s);
    else
      adam_t<T, false, false>(pr, i0, i1, s);
  }
}

// torch.optim.RMSprop: sq = a sq + (1 - a) g^2; (centered: ga = lerp(ga, g, 1 - a), avg =
// sqrt(sq - ga^2)) else avg = sqrt(sq); avg += eps; momentum: b = mu b + g / avg, p += -lr b;
// else p += -lr g / avg
template <typename T, bool Decay, bool Centered, bool Momentum>
void rmsprop_t(const RmspropParam<T>& pr, int64_t i0, int64_t i1, const OptimScalars<T>& s) {
  T* __restrict p = pr.param;
  const T* __restrict gr = pr.grad;
  T* __restrict sq = pr.square_avg;
  T* __restrict b = pr.momentum_buffer;
  T* __restrict ga = pr.grad_avg;
  const T sign = s.maximize ? T(-1) : T(1), wd = s.wd, a = s.beta2, ac = s.beta2_c, eps = s.eps,
          mu = s.mu, neg_lr = s.neg_lr;
  for (int64_t i = i0; i < i1; ++i) {
    const T g = effective_grad<T, Decay>(gr[i], p[i], sign, wd);
    const T si = sq[i] * a + ac * g * g;
    sq[i] = si;
    T avg;
    if constexpr (Centered) {
      const T gi = ga[i] + ac * (g - ga[i]);
      ga[i] = gi;
      avg = tsqrt(si - gi * gi);
    } else {
      avg = tsqrt(si);
    }
    avg = avg + eps;
    if constexpr (Momentum) {
      const T bi = b[i] * mu + g / avg;
      b[i] = bi;
      p[i] = p[i] + neg_lr * bi;
    } else {
      p[i] = p[i] + neg_lr * (g / avg);
    }
  }
}

template <typename T, bool Decay>
void rmsprop_d(const RmspropParam<T>& pr, int64_t i0, int64_t i1, const OptimScalars<T>& s) {
  if (s.centered) {
    if (s.momentum)
      rmsprop_t<T, Decay, true, true>(pr, i0, i1, s);
    else
      rmsprop_t<T, Decay, true, false>(pr, i0, i1, s);
  } else {
    if (s.momentum)
      rmsprop_t<T, Decay, false, true>(pr, i0, i1, s);
    else
      rmsprop_t<T, Decay, false, false>(pr, i0, i1, s);
  }
}

template <typename T>
void rmsprop(const RmspropParam<T>& pr, int64_t i0, int64_t i1, const OptimScalars<T>& s) {
  if (s.decay)
    rmsprop_d<T, true>(pr, i0, i1, s);
  else
    rmsprop_d<T, false>(pr, i0, i1, s);
}

// torch.optim.Adagrad: clr = lr / (1 + (t - 1) lr_decay); s += g^2; p += -clr g / (sqrt(s) + eps)
template <typename T, bool Decay>
void adagrad_t(const AdagradParam<T>& pr, int64_t i0, int64_t i1, const OptimScalars<T>& s) {
  T* __restrict p = pr.param;
  const T* __restrict gr = pr.grad;
  T* __restrict sm = pr.sum;
  const T sign = s.maximize ? T(-1) : T(1), wd = s.wd, eps = s.eps, neg_lr = s.neg_lr;
  for (int64_t i = i0; i < i1; ++i) {
    const T g = effective_grad<T, Decay>(gr[i], p[i], sign, wd);
    const T si = sm[i] + g * g;
    sm[i] = si;
    p[i] = p[i] + neg_lr * (g / (tsqrt(si) + eps));
  }
}

template <typename T>
void adagrad(const AdagradParam<T>& pr, int64_t i0, int64_t i1, const OptimScalars<T>& s) {
  if (s.decay)
    adagrad_t<T, true>(pr, i0, i1, s);
  else
    adagrad_t<T, false>(pr, i0, i1, s);
}

// constexpr so that each instruction set's table is constant-initialized: a file compiled
// with -mavx512f must run no code at load time, or loading the library on a CPU without that
// instruction set would fault before the dispatch could choose another.
template <typename T>
constexpr OpsTable<T> make_ops_table() {
  return {ce_fwd<T>,  ce_bwd<T>,  ce_prob_fwd<T>, ce_prob_bwd<T>, bce_fwd<T>, bce_bwd<T>,
          mse_fwd<T>, mse_bwd<T>, sgd<T>,         adam<T>,        rmsprop<T>, adagrad<T>};
}
