// Explicit AVX-512 versions of the float array activations (activations.h: sigmoid_n,
// tanh_n), for pointwise_avx512.cc only, included after activations.h and before
// pointwise.h. The same range reduction, polynomials and saturation as act_sigmoid / act_tanh,
// with one difference: the divisions 1 / (1 + e) and 2 / (e + 1) are a reciprocal estimate
// (VRCP14PS, relative error < 2^-14) and one Newton step with a fused residual, about 0.56 ulp
// against the division's 0.5. A zmm division occupies the divider for many cycles, a visible
// share of an LSTM forward (docs/ARCHITECTURE.md).
// Tails go through the same code under a mask, so every element sees the same operations.

inline __m512 v_exp_poly(__m512 x) {  // e^x for x in [-87, 88]; see exp_poly
  const __m512 n = _mm512_sub_ps(
      _mm512_fmadd_ps(x, _mm512_set1_ps(1.44269504088896341f), _mm512_set1_ps(12582912.0f)),
      _mm512_set1_ps(12582912.0f));
  __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
  r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
  __m512 p = _mm512_set1_ps(1.9875691500e-4f);
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
  p = _mm512_add_ps(_mm512_fmadd_ps(_mm512_mul_ps(p, r), r, r), _mm512_set1_ps(1.0f));
  // p * 2^n in one instruction (exact, as the multiply by a constructed 2^n it replaces)
  return _mm512_scalef_ps(p, n);
}

// 1 / d for d in [1, 2^127): the estimate and one Newton step, r + r * (1 - d * r).
inline __m512 v_recip(__m512 d) {
  const __m512 r = _mm512_rcp14_ps(d);
  return _mm512_fmadd_ps(r, _mm512_fnmadd_ps(d, r, _mm512_set1_ps(1.0f)), r);
}

inline __m512 v_sigmoid(__m512 x) {
  // max/min return their second operand when either is NaN: with x's side second, a NaN x
  // runs through every step as NaN and comes out NaN (x < -87 is false for it).
  const __m512 nx = _mm512_sub_ps(_mm512_setzero_ps(), x);
  const __m512 xc = _mm512_min_ps(_mm512_set1_ps(87.0f), _mm512_max_ps(_mm512_set1_ps(-87.0f), nx));
  const __m512 s = v_recip(_mm512_add_ps(_mm512_set1_ps(1.0f), v_exp_poly(xc)));
  return _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(x, _mm512_set1_ps(-87.0f), _CMP_NLT_UQ), s);
}

inline __m512 v_tanh(__m512 x) {
  const __m512i sign = _mm512_set1_epi32(static_cast<int32_t>(0x80000000u));
  const __m512 ax = _mm512_castsi512_ps(_mm512_andnot_si512(sign, _mm512_castps_si512(x)));
  const __m512 z = _mm512_mul_ps(x, x);
  __m512 small = _mm512_set1_ps(-5.70498872745e-3f);
  small = _mm512_fmadd_ps(small, z, _mm512_set1_ps(2.06390887954e-2f));
  small = _mm512_fmadd_ps(small, z, _mm512_set1_ps(-5.37397155531e-2f));
  small = _mm512_fmadd_ps(small, z, _mm512_set1_ps(1.33314422036e-1f));
  small = _mm512_fmadd_ps(small, z, _mm512_set1_ps(-3.33332819422e-1f));
  small = _mm512_fmadd_ps(_mm512_mul_ps(small, z), x, x);
  // min returns its second operand when either is NaN: a NaN x stays NaN down this side, and
  // |x| < 0.625 is false for it.
  const __m512 e = v_exp_poly(_mm512_min_ps(_mm512_set1_ps(40.0f), _mm512_add_ps(ax, ax)));
  const __m512 q = v_recip(_mm512_add_ps(e, _mm512_set1_ps(1.0f)));
  const __m512 big = _mm512_fnmadd_ps(_mm512_set1_ps(2.0f), q, _mm512_set1_ps(1.0f));  // >= 0
  // big with x's sign bit: (big & ~sign) | (x & sign), one ternary-logic instruction
  const __m512 sbig = _mm512_castsi512_ps(
      _mm512_ternarylogic_epi32(sign, _mm512_castps_si512(x), _mm512_castps_si512(big), 0xCA));
  return _mm512_mask_blend_ps(_mm512_cmp_ps_mask(ax, _mm512_set1_ps(0.625f), _CMP_LT_OQ), sbig,
                              small);
}

template <__m512 (*F)(__m512)>
inline void v_apply(int64_t n, const float* __restrict a, const float* __restrict b,
                    float* __restrict out) {
  int64_t k = 0;
  for (; k + 16 <= n; k += 16) {
    __m512 x = _mm512_loadu_ps(a + k);
    if (b) x = _mm512_add_ps(x, _mm512_loadu_ps(b + k));
    _mm512_storeu_ps(out + k, F(x));
  }
  if (k < n) {
    const __mmask16 m = static_cast<__mmask16>((1u << (n - k)) - 1u);
    __m512 x = _mm512_maskz_loadu_ps(m, a + k);
    if (b) x = _mm512_add_ps(x, _mm512_maskz_loadu_ps(m, b + k));
    _mm512_mask_storeu_ps(out + k, m, F(x));
  }
}

inline void sigmoid_n(int64_t n, const float* a, const float* b, float* out) {
  v_apply<v_sigmoid>(n, a, b, out);
}
inline void tanh_n(int64_t n, const float* a, const float* b, float* out) {
  v_apply<v_tanh>(n, a, b, out);
}
