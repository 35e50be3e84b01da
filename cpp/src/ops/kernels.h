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
inline T tmax(T a, T b) { return a > b ? a : b; }
template <typename T>
inline T tabs(T a) { return a < T(0) ? -a : a; }

// sum over k < n of f(k), in kLanes partial sums added in a fixed order.
template <typename T, typename F>
inline T lane_sum(int64_t n, F f) {
  T part[kLanes];
  for (int j = 0; j < kLanes; ++j) part[j] = T(0);
  int64_t k = 0;
  for (; k + kLanes <= n; k += kLanes)
    for (int j = 0; j < kLanes; ++j) part[j] += f(k + j);
  T acc = T(0);
  for (; k < n; ++k) acc += f(k);
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
inline T smoothed(T q, T eps, T eps_c) { return eps == T(0) ? q : q * (T(1) - eps) + eps_c; }

template <typename T>
T ce_prob_fwd(int64_t C, const T* x, const T* q, const T* w, T eps, T* lse_out) {
  const T lse = row_lse(C, x);
  *lse_out = lse;
  const T eps_c = eps / static_cast<T>(C);
  const T s = w ? lane_sum<T>(C, [=](int64_t c) {
                    return (x[c] - lse) * smoothed(q[c], eps, eps_c) * w[c];
                  })
                : lane_sum<T>(C, [=](int64_t c) {
                    return (x[c] - lse) * smoothed(q[c], eps, eps_c);
                  });
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

template <typename T>
inline T softplus_neg(T x) {  // softplus(-x) = -log sigmoid(x)
  return tmax(-x, T(0)) + log1p_exp_neg(tabs(x));
}

template <typename T>
T bce_fwd(int64_t len, const T* x, const T* y, WeightRun<T> wr, T* out) {
  const T* w = wr.w;
  const T* pw = wr.pw;
  auto f = [=](int64_t i) {
    const T lw = pw ? T(1) + (pw[i] - T(1)) * y[i] : T(1);
    const T l = (T(1) - y[i]) * x[i] + lw * softplus_neg(x[i]);
    return w ? l * w[i] : l;
  };
  if (out) {
    for (int64_t i = 0; i < len; ++i) out[i] = f(i);
    return lane_sum<T>(len, [=](int64_t i) { return out[i]; });
  }
  return lane_sum<T>(len, f);
}

template <typename T>
void bce_bwd(int64_t len, const T* __restrict x, const T* __restrict y, WeightRun<T> wr,
             const T* __restrict g, int64_t g_step, T* __restrict dx, T* __restrict dy) {
  const T* w = wr.w;
  const T* pw = wr.pw;
  if (dx) {
    for (int64_t i = 0; i < len; ++i) {
      const T s = sigmoid_stable(x[i]);
      T d;
      if (pw) {
        const T t = pw[i] * y[i];
        d = (t + T(1) - y[i]) * s - t;
      } else {
        d = s - y[i];
      }
      d = d * g[i * g_step];
      dx[i] = w ? d * w[i] : d;
    }
  }
  if (dy) {
    for (int64_t i = 0; i < len; ++i) {
      T d;
      if (pw) {  // log sigmoid(-x) - pw log sigmoid(x)
        const T tail = log1p_exp_neg(tabs(x[i]));
        d = -(tmax(x[i], T(0)) + tail) + pw[i] * (tmax(-x[i], T(0)) + tail);
      } else {
        d = -x[i];
      }
      d = d * g[i * g_step];
      dy[i] = w ? d * w[i] : d;
    }
  }
}

template <typename T>
T mse_fwd(int64_t len, const T* x, const T* y, T* out) {
  auto f = [=](int64_t i) {
    const T d = x[i] - y[i];
    return d * d;
  };
  if (out) {
    for (int64_t i = 0; i < len; ++i) out[i] = f(i);
    return lane_sum<T>(len, [=](int64_t i) { return out[i]; });
  }
  return lane_sum<T>(len, f);
}

template <typename T>
void mse_bwd(int64_t len, const T* __restrict x, const T* __restrict y, const T* __restrict g,
             int64_t g_step, T* __restrict dx, T* __restrict dy) {
  for (int64_t i = 0; i < len; ++i) {
    const T d = T(2) * (x[i] - y[i]) * g[i * g_step];
    if (dx) dx[i] = d;
    if (dy) dy[i] = -d;
  }
}

// ---- optimizers (torch.optim's single-tensor formulas) -------------------------------------

// The gradient with maximize and L2 weight decay applied: (+-grad) + wd p.
template <typename T>
inline T effective_grad(T grad, T p, const OptimScalars<T>& s) {
  const T g = s.maximize ? -grad : grad;
  return s.decay && !s.decoupled ? g + s.wd * p : g;
}

// torch.optim.SGD: b = mu b + (1 - dampening) g (b_1 = g); g = g + mu b if nesterov else b;
// p += -lr g
template <typename T>
void sgd(const SgdParam<T>& pr, int64_t i0, int64_t i1, const OptimScalars<T>& s) {
  T* __restrict p = pr.param;
  const T* __restrict gr = pr.grad;
  T* __restrict b = pr.momentum_buffer;
  for (int64_t i = i0; i < i1; ++i) {
    T g = effective_grad(gr[i], p[i], s);
    if (s.momentum) {
      const T bi = pr.first ? g : b[i] * s.mu + s.damp_c * g;
      b[i] = bi;
      g = s.nesterov ? g + s.mu * bi : bi;
    }
    p[i] = p[i] + s.neg_lr * g;
  }
}

// torch.optim.Adam: m = lerp(m, g, 1 - b1); v = b2 v + (1 - b2) g^2; (AMSGrad: vmax =
// max(vmax, v)); p += -lr/(1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps). AdamW first
// p *= 1 - lr wd.
template <typename T>
void adam(const AdamParam<T>& pr, int64_t i0, int64_t i1, const OptimScalars<T>& s) {
  T* __restrict p = pr.param;
  const T* __restrict gr = pr.grad;
  T* __restrict m = pr.exp_avg;
  T* __restrict v = pr.exp_avg_sq;
  T* __restrict vmax = pr.max_exp_avg_sq;
  for (int64_t i = i0; i < i1; ++i) {
    T pi = p[i];
    if (s.decay && s.decoupled) pi = pi * s.keep;
    const T g = effective_grad(gr[i], pi, s);
    const T mi = m[i] + s.beta1_c * (g - m[i]);  // torch's lerp for a weight below 0.5
    const T vi = v[i] * s.beta2 + s.beta2_c * g * g;
    m[i] = mi;
    v[i] = vi;
    T vd = vi;
    if (s.amsgrad) {  // torch.maximum: NaN propagates
      const T mx = vi > vmax[i] ? vi : vmax[i];
      vd = vi != vi ? vi : mx;
      vmax[i] = vd;
    }
    const T denom = tsqrt(vd) / s.bc2_sqrt + s.eps;
    p[i] = pi + s.neg_lr * (mi / denom);
  }
}

// torch.optim.RMSprop: sq = a sq + (1 - a) g^2; (centered: ga = lerp(ga, g, 1 - a), avg =
// sqrt(sq - ga^2)) else avg = sqrt(sq); avg += eps; momentum: b = mu b + g / avg, p += -lr b;
// else p += -lr g / avg
template <typename T>
void rmsprop(const RmspropParam<T>& pr, int64_t i0, int64_t i1, const OptimScalars<T>& s) {
  T* __restrict p = pr.param;
  const T* __restrict gr = pr.grad;
  T* __restrict sq = pr.square_avg;
  T* __restrict b = pr.momentum_buffer;
  T* __restrict ga = pr.grad_avg;
  for (int64_t i = i0; i < i1; ++i) {
    const T g = effective_grad(gr[i], p[i], s);
    const T si = sq[i] * s.beta2 + s.beta2_c * g * g;
    sq[i] = si;
    T avg;
    if (s.centered) {
      const T gi = ga[i] + s.beta2_c * (g - ga[i]);
      ga[i] = gi;
      avg = tsqrt(si - gi * gi);
    } else {
      avg = tsqrt(si);
    }
    avg = avg + s.eps;
    if (s.momentum) {
      const T bi = b[i] * s.mu + g / avg;
      b[i] = bi;
      p[i] = p[i] + s.neg_lr * bi;
    } else {
      p[i] = p[i] + s.neg_lr * (g / avg);
    }
  }
}

// torch.optim.Adagrad: clr = lr / (1 + (t - 1) lr_decay); s += g^2; p += -clr g / (sqrt(s) + eps)
template <typename T>
void adagrad(const AdagradParam<T>& pr, int64_t i0, int64_t i1, const OptimScalars<T>& s) {
  T* __restrict p = pr.param;
  const T* __restrict gr = pr.grad;
  T* __restrict sm = pr.sum;
  for (int64_t i = i0; i < i1; ++i) {
    const T g = effective_grad(gr[i], p[i], s);
    const T si = sm[i] + g * g;
    sm[i] = si;
    p[i] = p[i] + s.neg_lr * (g / (tsqrt(si) + s.eps));
  }
}

template <typename T>
OpsTable<T> make_ops_table() {
  OpsTable<T> t;
  t.ce_fwd = ce_fwd<T>;
  t.ce_bwd = ce_bwd<T>;
  t.ce_prob_fwd = ce_prob_fwd<T>;
  t.ce_prob_bwd = ce_prob_bwd<T>;
  t.bce_fwd = bce_fwd<T>;
  t.bce_bwd = bce_bwd<T>;
  t.mse_fwd = mse_fwd<T>;
  t.mse_bwd = mse_bwd<T>;
  t.sgd = sgd<T>;
  t.adam = adam<T>;
  t.rmsprop = rmsprop<T>;
  t.adagrad = adagrad<T>;
  return t;
}
