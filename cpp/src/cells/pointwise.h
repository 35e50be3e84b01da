// The fused elementwise passes of every cell, one function per cell and direction, over n
// hidden units of one batch row. Gate blocks are laid out gate-major with a stride (the full
// [G*H] rows use stride H; a thread's slice of the recurrent product uses its unit count).
// Included ONLY inside an anonymous namespace of a pointwise_<isa>.cc translation unit, after
// activations.h, so each instruction set gets its own vectorized copy.
// reference: derivatives from saved outputs, sigmoid' = y(1-y), tanh' = 1-y^2.

// LSTM forward in blocks of units, one activation pass per gate (sigmoid_n / tanh_n of
// activations.h, explicit vector code where the instruction set has it), then the cell update:
// one loop per unit doing all five activations is one long body of dependent chains that the
// core cannot overlap well; split, each pass is short and independent (docs/ARCHITECTURE.md,
// "Time loop"). Every element goes through the same operations whatever n is.
template <typename T, bool Save>
void lstm_cell_block(int64_t m, const T* __restrict ig, const T* __restrict fg,
                     const T* __restrict gg, const T* __restrict og, T* __restrict c,
                     T* __restrict h, T* __restrict c_save, T* __restrict tc) {
  for (int64_t k = 0; k < m; ++k) {
    const T ct = fg[k] * c[k] + ig[k] * gg[k];
    c[k] = ct;
    if (Save) c_save[k] = ct;
  }
  tanh_n(m, static_cast<const T*>(c), static_cast<const T*>(nullptr), tc);
  for (int64_t k = 0; k < m; ++k) h[k] = og[k] * tc[k];
}

template <typename T, bool Save>
void lstm_fwd_impl(int64_t n, const T* p, int64_t ps, const T* r, int64_t rs, T* c, T* h, T* y,
                   T* sg, int64_t sgs, T* c_save) {
  constexpr int64_t kBlock = 256;
  alignas(64) T buf[5][kBlock];
  for (int64_t k0 = 0; k0 < n; k0 += kBlock) {
    const int64_t m = n - k0 < kBlock ? n - k0 : kBlock;
    T* gate[4];
    for (int g = 0; g < 4; ++g) gate[g] = Save ? sg + g * sgs + k0 : buf[g];
    sigmoid_n(m, p + k0, r ? r + k0 : r, gate[0]);
    sigmoid_n(m, p + ps + k0, r ? r + rs + k0 : r, gate[1]);
    tanh_n(m, p + 2 * ps + k0, r ? r + 2 * rs + k0 : r, gate[2]);
    sigmoid_n(m, p + 3 * ps + k0, r ? r + 3 * rs + k0 : r, gate[3]);
    lstm_cell_block<T, Save>(m, gate[0], gate[1], gate[2], gate[3], c + k0, h + k0,
                             Save ? c_save + k0 : nullptr, buf[4]);
  }
  if (y)
    for (int64_t k = 0; k < n; ++k) y[k] = h[k];
}

// sg (the gates, stride sgs) and c_save (c_t): what a training forward saves, or nullptr.
template <typename T>
void lstm_fwd(int64_t n, const T* p, int64_t ps, const T* r, int64_t rs, T* c, T* h, T* y, T* sg,
              int64_t sgs, T* c_save) {
  if (sg)
    lstm_fwd_impl<T, true>(n, p, ps, r, rs, c, h, y, sg, sgs, c_save);
  else
    lstm_fwd_impl<T, false>(n, p, ps, r, rs, c, h, y, sg, sgs, c_save);
}

// GRU forward in blocks of units, like the LSTM's: the activations as array passes.
// r: the recurrent parts of the r and z gates (r, r + rs), or nullptr when p already holds
// them summed (the fused input product); rn: the recurrent part of the n gate (W_hn h).
template <typename T, bool Save>
void gru_fwd_impl(int64_t n, const T* p, int64_t ps, const T* r, int64_t rs, const T* rn_all,
                  const T* b_hn, const T* hprev, T* h, T* y, T* sg, int64_t sgs, T* hn_save) {
  constexpr int64_t kBlock = 256;
  alignas(64) T buf[5][kBlock];
  for (int64_t k0 = 0; k0 < n; k0 += kBlock) {
    const int64_t m = n - k0 < kBlock ? n - k0 : kBlock;
    T* __restrict rg = Save ? sg + k0 : buf[0];
    T* __restrict zg = Save ? sg + sgs + k0 : buf[1];
    T* __restrict ng = Save ? sg + 2 * sgs + k0 : buf[2];
    T* __restrict hn = Save ? hn_save + k0 : buf[3];
    T* __restrict rhn = buf[4];
    const T* __restrict rn = rn_all + k0;
    sigmoid_n(m, p + k0, r ? r + k0 : r, rg);
    sigmoid_n(m, p + ps + k0, r ? r + rs + k0 : r, zg);
    if (b_hn) {
      for (int64_t k = 0; k < m; ++k) hn[k] = rn[k] + b_hn[k0 + k];
    } else {
      for (int64_t k = 0; k < m; ++k) hn[k] = rn[k];
    }
    for (int64_t k = 0; k < m; ++k) rhn[k] = rg[k] * hn[k];
    tanh_n(m, p + 2 * ps + k0, static_cast<const T*>(rhn), ng);
    const T* __restrict hp = hprev + k0;
    T* __restrict ho = h + k0;
    for (int64_t k = 0; k < m; ++k) ho[k] = (T(1) - zg[k]) * ng[k] + zg[k] * hp[k];
  }
  if (y)
    for (int64_t k = 0; k < n; ++k) y[k] = h[k];
}

template <typename T>
void gru_fwd(int64_t n, const T* p, int64_t ps, const T* r, int64_t rs, const T* rn, const T* b_hn,
             const T* hprev, T* h, T* y, T* sg, int64_t sgs, T* hn_save) {
  if (sg)
    gru_fwd_impl<T, true>(n, p, ps, r, rs, rn, b_hn, hprev, h, y, sg, sgs, hn_save);
  else
    gru_fwd_impl<T, false>(n, p, ps, r, rs, rn, b_hn, hprev, h, y, sg, sgs, hn_save);
}

template <typename T, bool Relu>
void rnn_fwd_impl(int64_t n, const T* __restrict p, const T* __restrict r, T* __restrict h,
                  T* __restrict y, T* __restrict sg) {
  if (Relu) {
    for (int64_t k = 0; k < n; ++k) {
      const T a = r ? p[k] + r[k] : p[k];
      h[k] = a > T(0) ? a : (a == a ? T(0) : a);  // relu keeps NaN (a > 0 and a == a false)
    }
  } else {
    tanh_n(n, p, r, h);
  }
  if (y)
    for (int64_t k = 0; k < n; ++k) y[k] = h[k];
  if (sg)
    for (int64_t k = 0; k < n; ++k) sg[k] = h[k];
}

template <typename T>
void rnn_fwd(int64_t n, const T* p, const T* r, T* h, T* y, T* sg, bool relu) {
  if (relu)
    rnn_fwd_impl<T, true>(n, p, r, h, y, sg);
  else
    rnn_fwd_impl<T, false>(n, p, r, h, y, sg);
}

// dm: gradient reaching h_t (or the unprojected m_t); dc in: from step t+1, out: to step t-1.
// cp, ct: c_{t-1} and c_t; tanh(c_t) is recomputed in blocks by the forward's own tanh_n
// (the same value the forward multiplied by o), then the loop has no transcendental and
// vectorizes. dg (time-indexed, stride dgs) and, when given, dgr (the step's recurrent-side
// buffer, stride dgrs) receive the pre-activation gradients.
// Every stream a separate restrict pointer: with one pointer plus runtime gate strides the
// compiler cannot prove the gate blocks disjoint and leaves the loop scalar.
template <typename T, bool Copy>
void lstm_bwd_impl(int64_t n, const T* __restrict gi, const T* __restrict gf,
                   const T* __restrict gg, const T* __restrict go, const T* __restrict cp,
                   const T* __restrict tcs, const T* __restrict dm, T* __restrict dc,
                   T* __restrict di, T* __restrict df, T* __restrict dgg, T* __restrict dgo,
                   T* __restrict ri, T* __restrict rf, T* __restrict rg, T* __restrict ro) {
  for (int64_t k = 0; k < n; ++k) {
    const T ig = gi[k], fg = gf[k], g = gg[k], og = go[k];
    const T tc = tcs[k];
    const T dct = dc[k] + dm[k] * og * (T(1) - tc * tc);
    const T vi = dct * g * ig * (T(1) - ig);
    const T vf = dct * cp[k] * fg * (T(1) - fg);
    const T vg = dct * ig * (T(1) - g * g);
    const T vo = dm[k] * tc * og * (T(1) - og);
    di[k] = vi;
    df[k] = vf;
    dgg[k] = vg;
    dgo[k] = vo;
    if (Copy) {
      ri[k] = vi;
      rf[k] = vf;
      rg[k] = vg;
      ro[k] = vo;
    }
    dc[k] = dct * fg;
  }
}

// dgr: nullptr when the step's product reads dg itself.
template <typename T>
void lstm_bwd(int64_t n, const T* g, int64_t gs, const T* cp, const T* ct, const T* dm, T* dc,
              T* dg, int64_t dgs, T* dgr, int64_t dgrs) {
  constexpr int64_t kBlock = 256;
  alignas(64) T tc[kBlock];
  for (int64_t k0 = 0; k0 < n; k0 += kBlock) {
    const int64_t m = n - k0 < kBlock ? n - k0 : kBlock;
    tanh_n(m, ct + k0, static_cast<const T*>(nullptr), tc);
    const T* gk = g + k0;
    T* dgk = dg + k0;
    T* r[4] = {nullptr, nullptr, nullptr, nullptr};
    for (int q = 0; q < 4 && dgr; ++q) r[q] = dgr + k0 + q * dgrs;
    auto pass = [&](auto copy) {
      lstm_bwd_impl<T, decltype(copy)::value>(m, gk, gk + gs, gk + 2 * gs, gk + 3 * gs, cp + k0, tc,
                                              dm + k0, dc + k0, dgk, dgk + dgs, dgk + 2 * dgs,
                                              dgk + 3 * dgs, r[0], r[1], r[2], r[3]);
    };
    if (dgr)
      pass(std::true_type{});
    else
      pass(std::false_type{});
  }
}

// GRU: dg input-side (n block: dn), time-indexed; the recurrent side differs only in its n
// block, r * dn: drn, time-indexed (its r and z blocks are dg's); drs the step's copy of the
// whole recurrent side, dhd = z * dh (the direct path to h_{t-1}).
template <typename T>
void gru_bwd(int64_t n, const T* __restrict g, int64_t gs, const T* __restrict hp,
             const T* __restrict hn, const T* __restrict dh, T* __restrict dg, int64_t dgs,
             T* __restrict drn, T* __restrict drs, int64_t drs_step, T* __restrict dhd) {
  for (int64_t k = 0; k < n; ++k) {
    const T rg = g[k], zg = g[gs + k], ng = g[2 * gs + k];
    const T dhk = dh[k];
    const T dn = dhk * (T(1) - zg) * (T(1) - ng * ng);
    const T dz = dhk * (hp[k] - ng) * zg * (T(1) - zg);
    const T dr_ = dn * hn[k] * rg * (T(1) - rg);
    dg[k] = dr_;
    dg[dgs + k] = dz;
    dg[2 * dgs + k] = dn;
    const T rdn = dn * rg;
    drn[k] = rdn;
    drs[k] = dr_;
    drs[drs_step + k] = dz;
    drs[2 * drs_step + k] = rdn;
    dhd[k] = dhk * zg;
  }
}

template <typename T>
void rnn_bwd(int64_t n, const T* __restrict h, const T* __restrict dh, T* __restrict dg,
             T* __restrict dgr, bool relu) {
  if (relu) {
    for (int64_t k = 0; k < n; ++k) dg[k] = h[k] > T(0) ? dh[k] : T(0);
  } else {
    for (int64_t k = 0; k < n; ++k) dg[k] = dh[k] * (T(1) - h[k] * h[k]);
  }
  if (dgr)  // nullptr when the step's product reads dg itself
    for (int64_t k = 0; k < n; ++k) dgr[k] = dg[k];
}

template <typename T>
void eval_activation(int which, int64_t n, const T* x, T* out) {
  if (which == 0)
    sigmoid_n(n, x, static_cast<const T*>(nullptr), out);
  else
    tanh_n(n, x, static_cast<const T*>(nullptr), out);
}

// The cells with passes of their own files.
#include "cells/pointwise_gru_reset_before.h"
#include "cells/pointwise_lstm_peephole.h"

template <typename T>
constexpr PointwiseTable<T> make_table() {
  PointwiseTable<T> t{};
  t.lstm_fwd = lstm_fwd<T>;
  t.gru_fwd = gru_fwd<T>;
  t.rnn_fwd = rnn_fwd<T>;
  t.lstm_bwd = lstm_bwd<T>;
  t.gru_bwd = gru_bwd<T>;
  t.rnn_bwd = rnn_bwd<T>;
  t.lstmp_fwd = lstmp_fwd<T>;
  t.lstmp_bwd = lstmp_bwd<T>;
  t.grb_fwd_a = grb_fwd_a<T>;
  t.grb_fwd_b = grb_fwd_b<T>;
  t.grb_bwd_a = grb_bwd_a<T>;
  t.grb_bwd_b = grb_bwd_b<T>;
  t.eval = eval_activation<T>;
  return t;
}
