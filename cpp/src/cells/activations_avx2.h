// Explicit AVX2 + FMA versions of the float array activations (activations.h: sigmoid_n,
// tanh_n), for pointwise_avx2.cc only, included after activations.h and before pointwise.h.
// The same operations in the same order as act_sigmoid / act_tanh compiled for AVX2 with
// contraction (the range reduction and polynomials as FMAs, the true divisions), so results
// are bitwise those of the compiler-vectorized code they replace. What changes is the
// selects: the clamps are min/max (NaN kept by operand order, as in activations_avx512.h)
// instead of compare-and-blend pairs. Tails go through the same code on a zero-padded copy, so
// every element sees the same operations.

inline __m256 v8_exp_poly(__m256 x) {  // e^x for x in [-87, 88]; see exp_poly
  const __m256 n = _mm256_sub_ps(
      _mm256_fmadd_ps(x, _mm256_set1_ps(1.44269504088896341f), _mm256_set1_ps(12582912.0f)),
      _mm256_set1_ps(12582912.0f));
  __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
  r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
  __m256 p = _mm256_set1_ps(1.9875691500e-4f);
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
  p = _mm256_add_ps(_mm256_fmadd_ps(_mm256_mul_ps(p, r), r, r), _mm256_set1_ps(1.0f));
  // 2^n through the exponent bits (n is an integer in [-126, 127] here)
  const __m256i e =
      _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvttps_epi32(n), _mm256_set1_epi32(127)), 23);
  return _mm256_mul_ps(p, _mm256_castsi256_ps(e));
}

inline __m256 v8_sigmoid(__m256 x) {
  // max/min return their second operand when either is NaN: with the bound second, a NaN x
  // becomes a finite value here and the final select returns x itself, as act_sigmoid does.
  const __m256 nx = _mm256_sub_ps(_mm256_setzero_ps(), x);
  const __m256 xc = _mm256_min_ps(_mm256_max_ps(nx, _mm256_set1_ps(-87.0f)), _mm256_set1_ps(87.0f));
  const __m256 s =
      _mm256_div_ps(_mm256_set1_ps(1.0f), _mm256_add_ps(_mm256_set1_ps(1.0f), v8_exp_poly(xc)));
  // x < -87: 0; NaN: x; else s
  const __m256 lo = _mm256_cmp_ps(x, _mm256_set1_ps(-87.0f), _CMP_LT_OQ);
  const __m256 nan = _mm256_cmp_ps(x, x, _CMP_UNORD_Q);
  return _mm256_blendv_ps(_mm256_andnot_ps(lo, s), x, nan);
}

inline __m256 v8_tanh(__m256 x) {
  const __m256 sign = _mm256_set1_ps(-0.0f);
  const __m256 ax = _mm256_andnot_ps(sign, x);
  const __m256 z = _mm256_mul_ps(x, x);
  __m256 small = _mm256_set1_ps(-5.70498872745e-3f);
  small = _mm256_fmadd_ps(small, z, _mm256_set1_ps(2.06390887954e-2f));
  small = _mm256_fmadd_ps(small, z, _mm256_set1_ps(-5.37397155531e-2f));
  small = _mm256_fmadd_ps(small, z, _mm256_set1_ps(1.33314422036e-1f));
  small = _mm256_fmadd_ps(small, z, _mm256_set1_ps(-3.33332819422e-1f));
  small = _mm256_fmadd_ps(_mm256_mul_ps(small, z), x, x);
  // 2|x| clamped to [0, 40]; a NaN becomes 0 here (bound second) and is returned as x below.
  const __m256 a2 = _mm256_min_ps(_mm256_max_ps(_mm256_add_ps(ax, ax), _mm256_setzero_ps()),
                                  _mm256_set1_ps(40.0f));
  const __m256 e = v8_exp_poly(a2);
  __m256 big =
      _mm256_sub_ps(_mm256_set1_ps(1.0f),
                    _mm256_div_ps(_mm256_set1_ps(2.0f), _mm256_add_ps(e, _mm256_set1_ps(1.0f))));
  big = _mm256_or_ps(big, _mm256_and_ps(sign, x));  // big >= 0: x's sign bit
  const __m256 t =
      _mm256_blendv_ps(big, small, _mm256_cmp_ps(ax, _mm256_set1_ps(0.625f), _CMP_LT_OQ));
  return _mm256_blendv_ps(t, x, _mm256_cmp_ps(x, x, _CMP_UNORD_Q));
}

template <__m256 (*F)(__m256)>
inline void v8_apply(int64_t n, const float* __restrict a, const float* __restrict b,
                     float* __restrict out) {
  int64_t k = 0;
  for (; k + 8 <= n; k += 8) {
    __m256 x = _mm256_loadu_ps(a + k);
    if (b) x = _mm256_add_ps(x, _mm256_loadu_ps(b + k));
    _mm256_storeu_ps(out + k, F(x));
  }
  if (k < n) {
    alignas(32) float t[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    for (int64_t i = k; i < n; ++i) t[i - k] = b ? a[i] + b[i] : a[i];
    _mm256_store_ps(t, F(_mm256_load_ps(t)));
    for (int64_t i = k; i < n; ++i) out[i] = t[i - k];
  }
}

inline void sigmoid_n(int64_t n, const float* a, const float* b, float* out) {
  v8_apply<v8_sigmoid>(n, a, b, out);
}
inline void tanh_n(int64_t n, const float* a, const float* b, float* out) {
  v8_apply<v8_tanh>(n, a, b, out);
}
