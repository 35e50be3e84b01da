// LSTM_PEEPHOLE's fused elementwise passes (ONNX's LSTM with P): the LSTM's, with i and f
// reading c_{t-1} and o reading c_t through the per-unit weights p = (p_i, p_f, p_o).
// Included by pointwise.h only (inside a pointwise_<isa>.cc's anonymous namespace).

// Forward: as lstm_fwd (pointwise.h), plus wp, the slice's p_i with p_f and p_o wps apart.
// The cell update runs before o, which reads the new c. A gate's pre-activation is
// (p + r) + peephole term, where a fused input product hands p already summed (r nullptr):
// the same sum either way, so the result does not depend on the input mode.
template <typename T, bool Save>
void lstmp_fwd_impl(int64_t n, const T* p, int64_t ps, const T* r, int64_t rs, const T* wp,
                    int64_t wps, T* c, T* h, T* y, T* sg, int64_t sgs, T* c_save) {
  constexpr int64_t kBlock = 256;
  alignas(64) T buf[7][kBlock];
  for (int64_t k0 = 0; k0 < n; k0 += kBlock) {
    const int64_t m = n - k0 < kBlock ? n - k0 : kBlock;
    T* gate[4];
    for (int g = 0; g < 4; ++g) gate[g] = Save ? sg + g * sgs + k0 : buf[g];
    T* __restrict pre = buf[5];   // one gate's p + r
    T* __restrict peep = buf[6];  // and its peephole term
    T* __restrict ck = c + k0;
    auto sum = [&](int g) {  // pre = p + r of gate g
      const T* __restrict pg = p + g * ps + k0;
      if (r) {
        const T* __restrict rg = r + g * rs + k0;
        for (int64_t k = 0; k < m; ++k) pre[k] = pg[k] + rg[k];
      } else {
        for (int64_t k = 0; k < m; ++k) pre[k] = pg[k];
      }
    };
    // i and f: (a + W_h h) + p * c_{t-1}
    for (int g = 0; g < 2; ++g) {
      const T* __restrict wg = wp + g * wps + k0;
      sum(g);
      for (int64_t k = 0; k < m; ++k) peep[k] = wg[k] * ck[k];
      sigmoid_n(m, static_cast<const T*>(pre), static_cast<const T*>(peep), gate[g]);
    }
    tanh_n(m, p + 2 * ps + k0, r ? r + 2 * rs + k0 : r, gate[2]);
    for (int64_t k = 0; k < m; ++k) {
      const T ct = gate[1][k] * ck[k] + gate[0][k] * gate[2][k];
      ck[k] = ct;
      if (Save) c_save[k0 + k] = ct;
    }
    // o: (a + W_h h) + p_o * c_t
    const T* __restrict po = wp + 2 * wps + k0;
    sum(3);
    for (int64_t k = 0; k < m; ++k) peep[k] = po[k] * ck[k];
    sigmoid_n(m, static_cast<const T*>(pre), static_cast<const T*>(peep), gate[3]);
    T* __restrict tc = buf[4];
    tanh_n(m, static_cast<const T*>(ck), static_cast<const T*>(nullptr), tc);
    for (int64_t k = 0; k < m; ++k) h[k0 + k] = gate[3][k] * tc[k];
  }
  if (y)
    for (int64_t k = 0; k < n; ++k) y[k] = h[k];
}

template <typename T>
void lstmp_fwd(int64_t n, const T* p, int64_t ps, const T* r, int64_t rs, const T* wp, int64_t wps,
               T* c, T* h, T* y, T* sg, int64_t sgs, T* c_save) {
  if (sg)
    lstmp_fwd_impl<T, true>(n, p, ps, r, rs, wp, wps, c, h, y, sg, sgs, c_save);
  else
    lstmp_fwd_impl<T, false>(n, p, ps, r, rs, wp, wps, c, h, y, sg, sgs, c_save);
}

// Backward: as lstm_bwd (pointwise.h) with the step's product reading dg in place. The
// gradient reaching c_t also comes through o's peephole; c_{t-1}'s through i's and f's.
template <typename T>
void lstmp_bwd(int64_t n, const T* g, int64_t gs, const T* cp, const T* ct, const T* wp,
               int64_t wps, const T* dm, T* dc, T* dg, int64_t dgs) {
  constexpr int64_t kBlock = 256;
  alignas(64) T tcb[kBlock];
  for (int64_t k0 = 0; k0 < n; k0 += kBlock) {
    const int64_t m = n - k0 < kBlock ? n - k0 : kBlock;
    tanh_n(m, ct + k0, static_cast<const T*>(nullptr), tcb);
    const T* __restrict gi = g + k0;
    const T* __restrict gf = g + gs + k0;
    const T* __restrict gg = g + 2 * gs + k0;
    const T* __restrict go = g + 3 * gs + k0;
    const T* __restrict pi = wp + k0;
    const T* __restrict pf = wp + wps + k0;
    const T* __restrict po = wp + 2 * wps + k0;
    const T* __restrict cpk = cp + k0;
    const T* __restrict dmk = dm + k0;
    T* __restrict dck = dc + k0;
    T* __restrict di = dg + k0;
    T* __restrict df = dg + dgs + k0;
    T* __restrict dgg = dg + 2 * dgs + k0;
    T* __restrict dgo = dg + 3 * dgs + k0;
    for (int64_t k = 0; k < m; ++k) {
      const T ig = gi[k], fg = gf[k], gv = gg[k], og = go[k], tc = tcb[k];
      const T vo = dmk[k] * tc * og * (T(1) - og);
      const T dct = dck[k] + dmk[k] * og * (T(1) - tc * tc) + vo * po[k];
      const T vi = dct * gv * ig * (T(1) - ig);
      const T vf = dct * cpk[k] * fg * (T(1) - fg);
      di[k] = vi;
      df[k] = vf;
      dgg[k] = dct * ig * (T(1) - gv * gv);
      dgo[k] = vo;
      dck[k] = dct * fg + vi * pi[k] + vf * pf[k];
    }
  }
}
