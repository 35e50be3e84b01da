// Layer normalization inside the time loop (CellTraits::kRowNorm): the row statistics that the
// drivers (forward_driver.h, backward_driver.h) combine over the threads of a split by units, and
// the layer-normalized cells' elementwise steps (LAYERNORM_LSTM; haste's formulation, rnnfast.h).
// LN(v) = (v - mean(v)) / sqrt(var(v) + eps) over one row, var the biased variance.
//
// Determinism: a row's statistics are always taken over the same fixed blocks of kNormBlock
// units per gate (a thread's share of the units starts and ends on those blocks, team.h's
// slice), each block's moments sequentially, and the blocks combined in one fixed order
// (gate-major, then block), whichever thread computed which block. The result is therefore
// bitwise the same for any thread count and either split. The per-block moments are combined
// with Chan's parallel formula (mean and sum of squared deviations), not sum and sum of
// squares, so a large mean does not cancel the variance away.
// What it does not do: vectorize the normalization by hand (the loops are plain and short),
// nor any reduction beyond one row.
#pragma once

#include <cmath>
#include <cstdint>

#include "cells/pointwise_table.h"

namespace rnnfast {
namespace detail {

constexpr int64_t kNormBlock = 16;  // units per block of partial statistics (team.h's alignment)
constexpr double kNormEps = 1e-5;

inline int64_t norm_blocks(int64_t H) { return (H + kNormBlock - 1) / kNormBlock; }

// Moments (count, mean, sum of squared deviations) of the blocks of units [u0, u0 + nu) of
// `gates` gate blocks of v (gate g at v + g * vs), into parts[3 * (g * nblk + u / kNormBlock)].
// u0 is a multiple of kNormBlock and u0 + nu a multiple of it or H.
template <typename T>
void block_moments(const T* v, int64_t vs, int gates, int64_t u0, int64_t nu, int64_t H, T* parts) {
  const int64_t nblk = norm_blocks(H);
  for (int g = 0; g < gates; ++g)
    for (int64_t k0 = 0; k0 < nu; k0 += kNormBlock) {
      const int64_t m = nu - k0 < kNormBlock ? nu - k0 : kNormBlock;
      const T* a = v + g * vs + k0;
      T s = T(0);
      for (int64_t k = 0; k < m; ++k) s += a[k];
      const T mean = s / static_cast<T>(m);
      T m2 = T(0);
      for (int64_t k = 0; k < m; ++k) m2 += (a[k] - mean) * (a[k] - mean);
      T* p = parts + 3 * (g * nblk + (u0 + k0) / kNormBlock);
      p[0] = static_cast<T>(m);
      p[1] = mean;
      p[2] = m2;
    }
}

// The mean and 1/sqrt(var + eps) of a whole row from its n blocks' moments, in block order.
template <typename T>
void combine_moments(const T* parts, int64_t n, T* mean, T* rstd) {
  T cnt = parts[0], mu = parts[1], m2 = parts[2];
  for (int64_t b = 1; b < n; ++b) {
    const T nb = parts[3 * b], mb = parts[3 * b + 1], m2b = parts[3 * b + 2];
    const T tot = cnt + nb, d = mb - mu;
    mu += d * (nb / tot);
    m2 += m2b + d * d * (cnt * nb / tot);
    cnt = tot;
  }
  *mean = mu;
  *rstd = T(1) / std::sqrt(m2 / cnt + static_cast<T>(kNormEps));
}

// Block sums of a and of a * b (the two reductions of the normalization's backward) over the
// same blocks as block_moments: parts[2 * (g * nblk + u / kNormBlock)] = (sum a, sum a*b).
template <typename T>
void block_sums(const T* a, int64_t as, const T* b, int64_t bs, int gates, int64_t u0, int64_t nu,
                int64_t H, T* parts) {
  const int64_t nblk = norm_blocks(H);
  for (int g = 0; g < gates; ++g)
    for (int64_t k0 = 0; k0 < nu; k0 += kNormBlock) {
      const int64_t m = nu - k0 < kNormBlock ? nu - k0 : kNormBlock;
      const T* x = a + g * as + k0;
      const T* y = b + g * bs + k0;
      T s = T(0), sp = T(0);
      for (int64_t k = 0; k < m; ++k) {
        s += x[k];
        sp += x[k] * y[k];
      }
      T* p = parts + 2 * (g * nblk + (u0 + k0) / kNormBlock);
      p[0] = s;
      p[1] = sp;
    }
}

// The two sums of a whole row of n entries from its blocks, in block order, as means.
template <typename T>
void combine_sums(const T* parts, int64_t nparts, int64_t n, T* m1, T* m2) {
  T s = T(0), sp = T(0);
  for (int64_t b = 0; b < nparts; ++b) {
    s += parts[2 * b];
    sp += parts[2 * b + 1];
  }
  *m1 = s / static_cast<T>(n);
  *m2 = sp / static_cast<T>(n);
}

// out = (v - mean) * rstd over `gates` blocks of nu entries (strides vs, os).
template <typename T>
void normalize(const T* v, int64_t vs, int gates, int64_t nu, T mean, T rstd, T* out, int64_t os) {
  for (int g = 0; g < gates; ++g)
    for (int64_t k = 0; k < nu; ++k) out[g * os + k] = (v[g * vs + k] - mean) * rstd;
}

// The normalization's backward for one row: dv = rstd * (d - m1 - xh * m2), m1 = mean(d),
// m2 = mean(d * xh), d = dy * gamma (gate strides: d's ds, xh's xs, dv's os).
template <typename T>
void norm_backward(const T* d, int64_t ds, const T* xh, int64_t xs, int gates, int64_t nu, T m1,
                   T m2, T rstd, T* dv, int64_t os) {
  for (int g = 0; g < gates; ++g)
    for (int64_t k = 0; k < nu; ++k)
      dv[g * os + k] = rstd * (d[g * ds + k] - m1 - xh[g * xs + k] * m2);
}

// LAYERNORM_LSTM, forward, first half on units [u0, u0 + nu) of one row: the pre-activations
// a = xn * gamma_x + hn * gamma_h + b (xn, hn normalized, gate strides xs, hs; gx, gh, b at u0
// with gate stride H, b nullptr without biases), the gates (into gt, gate stride gs) and
// c_t = f * c + i * g (in place; also to c_save when not nullptr). pre: nu * 4 scratch.
template <typename T>
void lnlstm_fwd_a(const PointwiseTable<T>& pw, int64_t nu, int64_t H, const T* xn, int64_t xs,
                  const T* hn, int64_t hs, const T* gx, const T* gh, const T* b, T* c, T* gt,
                  int64_t gs, T* c_save, T* pre) {
  for (int g = 0; g < 4; ++g) {
    T* p = pre + g * nu;
    const T* xg = xn + g * xs;
    const T* hg = hn + g * hs;
    const T* gxg = gx + g * H;
    const T* ghg = gh + g * H;
    for (int64_t k = 0; k < nu; ++k) p[k] = xg[k] * gxg[k] + hg[k] * ghg[k];
    if (b)
      for (int64_t k = 0; k < nu; ++k) p[k] += b[g * H + k];
  }
  pw.eval(0, nu, pre, gt);
  pw.eval(0, nu, pre + nu, gt + gs);
  pw.eval(1, nu, pre + 2 * nu, gt + 2 * gs);
  pw.eval(0, nu, pre + 3 * nu, gt + 3 * gs);
  for (int64_t k = 0; k < nu; ++k) {
    const T ct = gt[gs + k] * c[k] + gt[k] * gt[2 * gs + k];
    c[k] = ct;
    if (c_save) c_save[k] = ct;
  }
}

// LAYERNORM_LSTM, forward, second half: cn = (c - mean) * rstd (also to cn_save when not
// nullptr), h = o * tanh(cn * gamma_c + beta_c), into h and (not nullptr) y. z: nu * 2 scratch.
template <typename T>
void lnlstm_fwd_b(const PointwiseTable<T>& pw, int64_t nu, const T* c, T mean, T rstd, const T* gc,
                  const T* bc, const T* o, T* cn_save, T* h, T* y, T* z) {
  T* tz = z + nu;
  for (int64_t k = 0; k < nu; ++k) {
    const T cn = (c[k] - mean) * rstd;
    if (cn_save) cn_save[k] = cn;
    z[k] = cn * gc[k] + bc[k];
  }
  pw.eval(1, nu, z, tz);
  for (int64_t k = 0; k < nu; ++k) h[k] = o[k] * tz[k];
  if (y)
    for (int64_t k = 0; k < nu; ++k) y[k] = h[k];
}

// LAYERNORM_LSTM, backward, first part on one row's units: from dh and the saved o (go), cn,
// the o gate's pre-activation gradient (into dao), dz = dh * o * tanh'(z) (into dz, the
// gradient of gamma_c * cn + beta_c) and d = dz * gamma_c (into dcn, the normalized c's
// gradient). z: nu * 2 scratch.
template <typename T>
void lnlstm_bwd_a(const PointwiseTable<T>& pw, int64_t nu, const T* dh, const T* go, const T* cn,
                  const T* gc, const T* bc, T* dao, T* dz, T* dcn, T* z) {
  T* tz = z + nu;
  for (int64_t k = 0; k < nu; ++k) z[k] = cn[k] * gc[k] + bc[k];
  pw.eval(1, nu, z, tz);  // the forward's own tanh: the same values
  for (int64_t k = 0; k < nu; ++k) {
    const T o = go[k], t = tz[k];
    dao[k] = dh[k] * t * o * (T(1) - o);
    dz[k] = dh[k] * o * (T(1) - t * t);
    dcn[k] = dz[k] * gc[k];
  }
}

// LAYERNORM_LSTM, backward, second part: dc += rstd * (dcn - m1 - cn * m2) (through the norm),
// then the i, f, g gates' pre-activation gradients (into da, gate stride H; o's is already
// there) and dc_{t-1} = dc * f (in place).
template <typename T>
void lnlstm_bwd_b(int64_t nu, int64_t H, const T* g, int64_t gs, const T* cp, const T* dcn,
                  const T* cn, T m1, T m2, T rstd, T* dc, T* da) {
  for (int64_t k = 0; k < nu; ++k) {
    const T i = g[k], f = g[gs + k], gg = g[2 * gs + k];
    const T dct = dc[k] + rstd * (dcn[k] - m1 - cn[k] * m2);
    da[k] = dct * gg * i * (T(1) - i);
    da[H + k] = dct * cp[k] * f * (T(1) - f);
    da[2 * H + k] = dct * i * (T(1) - gg * gg);
    dc[k] = dct * f;
  }
}

// LAYERNORM_GRU, forward, on units [u0, u0 + nu) of one row: from xn, hn (normalized, gate
// strides xs, hs), gx, gh, b (r, z: b_ih + b_hh; n: b_in; nullptr without biases) and b_hn
// (nullptr without) at u0 with gate stride H: the gates r, z, n (into gt, gate stride gs),
// v_n = hn_n * gamma_hn + b_hn (to vn_save when not nullptr) and h = (1 - z) n + z * hprev
// into h and (not nullptr) y. pre: nu * 4 scratch.
template <typename T>
void lngru_fwd(const PointwiseTable<T>& pw, int64_t nu, int64_t H, const T* xn, int64_t xs,
               const T* hn, int64_t hs, const T* gx, const T* gh, const T* b, const T* b_hn,
               const T* hprev, T* h, T* y, T* gt, int64_t gs, T* vn_save, T* pre) {
  T* vn = pre + 3 * nu;
  for (int g = 0; g < 2; ++g) {
    T* p = pre + g * nu;
    for (int64_t k = 0; k < nu; ++k)
      p[k] = xn[g * xs + k] * gx[g * H + k] + hn[g * hs + k] * gh[g * H + k];
    if (b)
      for (int64_t k = 0; k < nu; ++k) p[k] += b[g * H + k];
  }
  for (int64_t k = 0; k < nu; ++k) vn[k] = hn[2 * hs + k] * gh[2 * H + k];
  if (b_hn)
    for (int64_t k = 0; k < nu; ++k) vn[k] += b_hn[k];
  pw.eval(0, nu, pre, gt);
  pw.eval(0, nu, pre + nu, gt + gs);
  T* pn = pre + 2 * nu;
  for (int64_t k = 0; k < nu; ++k) {
    const T u = xn[2 * xs + k] * gx[2 * H + k] + (b ? b[2 * H + k] : T(0));
    pn[k] = u + gt[k] * vn[k];
  }
  pw.eval(1, nu, pn, gt + 2 * gs);
  for (int64_t k = 0; k < nu; ++k) {
    const T z = gt[gs + k], n = gt[2 * gs + k];
    h[k] = (T(1) - z) * n + z * hprev[k];
    if (vn_save) vn_save[k] = vn[k];
  }
  if (y)
    for (int64_t k = 0; k < nu; ++k) y[k] = h[k];
}

// LAYERNORM_GRU, backward, on one row's units: from dh, the gates g (gate stride gs), h_{t-1}
// (hp) and v_n: the input side's pre-activation gradient du = (da_r, da_z, da_n) and the
// recurrent side's dv = (da_r, da_z, r * da_n) (gate stride H), d = dv * gamma_h (into dd,
// gate stride nu) and the direct path z * dh to dh_{t-1} (into dhd).
template <typename T>
void lngru_bwd(int64_t nu, int64_t H, const T* g, int64_t gs, const T* hp, const T* vn, const T* dh,
               const T* gh, T* du, T* dv, T* dd, T* dhd) {
  for (int64_t k = 0; k < nu; ++k) {
    const T r = g[k], z = g[gs + k], n = g[2 * gs + k];
    const T an = dh[k] * (T(1) - z) * (T(1) - n * n);
    const T az = dh[k] * (hp[k] - n) * z * (T(1) - z);
    const T ar = an * vn[k] * r * (T(1) - r);
    dhd[k] = dh[k] * z;
    du[k] = ar;
    du[H + k] = az;
    du[2 * H + k] = an;
    dv[k] = ar;
    dv[H + k] = az;
    dv[2 * H + k] = an * r;
    dd[k] = ar * gh[k];
    dd[nu + k] = az * gh[H + k];
    dd[2 * nu + k] = an * r * gh[2 * H + k];
  }
}

}  // namespace detail
}  // namespace rnnfast
