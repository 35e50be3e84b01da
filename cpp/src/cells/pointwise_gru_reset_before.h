// GRU_RESET_BEFORE's fused elementwise passes (Keras' reset_after=False, ONNX's
// linear_before_reset=0): n = tanh(W_in x + b_in + W_hn (r * h') + b_hn). Its step has two
// products, the second reading r * h' of every unit, so each pass comes in two halves around
// it. Included by pointwise.h only (inside a pointwise_<isa>.cc's anonymous namespace).

// Forward, first half: the r and z gates (input parts p, p + ps, recurrent parts r, r + rs,
// all biases in p) into gz, gz + gzs, and rh = r * h' (h' the state W_hh sees: h_{t-1}, or
// h_{t-1} * h_mask), also to rh_save when training.
template <typename T>
void grb_fwd_a(int64_t n, const T* p, int64_t ps, const T* r, int64_t rs, const T* hm, T* rh,
               T* rh_save, T* gz, int64_t gzs) {
  sigmoid_n(n, p, r, gz);
  sigmoid_n(n, p + ps, r + rs, gz + gzs);
  const T* __restrict rg = gz;
  const T* __restrict h = hm;
  T* __restrict out = rh;
  for (int64_t k = 0; k < n; ++k) out[k] = rg[k] * h[k];
  if (rh_save)
    for (int64_t k = 0; k < n; ++k) rh_save[k] = out[k];
}

// Forward, second half: n = tanh(pn + rn) into ng (rn = W_hn (r * h'), the second product),
// h = (1 - z) * n + z * h_{t-1} (the unmasked state), y a copy of h (nullptr to skip).
template <typename T>
void grb_fwd_b(int64_t n, const T* pn, const T* rn, const T* z, const T* hprev, T* h, T* y, T* ng) {
  tanh_n(n, pn, rn, ng);
  const T* __restrict zg = z;
  const T* __restrict nv = ng;
  const T* __restrict hp = hprev;
  T* __restrict ho = h;
  for (int64_t k = 0; k < n; ++k) ho[k] = (T(1) - zg[k]) * nv[k] + zg[k] * hp[k];
  if (y)
    for (int64_t k = 0; k < n; ++k) y[k] = ho[k];
}

// Backward, first half: from dh (the gradient reaching h_t), the z and n gates'
// pre-activation gradients into dg + dgs, dg + 2*dgs (g: the saved r, z, n, stride gs) and
// dhd = z * dh, the direct path to dh_{t-1}.
template <typename T>
void grb_bwd_a(int64_t n, const T* __restrict g, int64_t gs, const T* __restrict hp,
               const T* __restrict dh, T* __restrict dg, int64_t dgs, T* __restrict dhd) {
  for (int64_t k = 0; k < n; ++k) {
    const T zg = g[gs + k], ng = g[2 * gs + k];
    const T dhk = dh[k];
    dg[dgs + k] = dhk * (hp[k] - ng) * zg * (T(1) - zg);
    dg[2 * dgs + k] = dhk * (T(1) - zg) * (T(1) - ng * ng);
    dhd[k] = dhk * zg;
  }
}

// Backward, second half: drh = d(r * h') (the second product, dA_n W_hn): the r gate's
// pre-activation gradient into dg (g: the saved r), and r * h''s path to h_{t-1} added to dhd
// (times the recurrent dropout mask, nullptr for none).
template <typename T>
void grb_bwd_b(int64_t n, const T* __restrict drh, const T* __restrict g, const T* __restrict hp,
               const T* __restrict mask, T* __restrict dg, T* __restrict dhd) {
  for (int64_t k = 0; k < n; ++k) {
    const T rg = g[k];
    const T hm = mask ? hp[k] * mask[k] : hp[k];
    dg[k] = drh[k] * hm * rg * (T(1) - rg);
    dhd[k] += mask ? drh[k] * rg * mask[k] : drh[k] * rg;
  }
}
