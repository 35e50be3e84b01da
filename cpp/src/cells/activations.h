// Activations for the fused elementwise passes. float: branch-free polynomial versions that
// compilers vectorize (Cephes-style range reduction; max error measured by
// tests/test_activations.py against libm in double: documented in docs/NUMERICS.md); double:
// libm, so the float64 kernels stay a tight oracle for finite differences.
// Saturation is exact: sigmoid(+-inf) = 1 / 0, tanh(+-inf) = +-1, and NaN propagates.
// Included inside an anonymous namespace of each ISA translation unit (no external linkage).

inline float bits_to_float(int32_t i) {
  float f;
  __builtin_memcpy(&f, &i, sizeof f);
  return f;
}

// e^x for x in [-87, 88] (callers clamp): x = n ln2 + r, |r| <= ln2/2, e^r by a degree-7
// polynomial, 2^n through the exponent bits.
inline float exp_poly(float x) {
  const float n = (x * 1.44269504088896341f + 12582912.0f) - 12582912.0f;  // round to nearest
  float r = x - n * 0.693359375f;
  r = r - n * -2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  return p * bits_to_float((static_cast<int32_t>(n) + 127) << 23);
}

// NaN gives lo (the callers return the NaN themselves), so no NaN reaches exp_poly's float ->
// int conversion, which would be undefined behaviour.
inline float clampf(float x, float lo, float hi) { return x > lo ? (x < hi ? x : hi) : lo; }

inline float act_sigmoid(float x) {
  // 1 / (1 + e^-x); for x < -87 the exact result is below 1.7e-38, returned as 0.
  const float e = exp_poly(clampf(-x, -87.0f, 87.0f));
  const float s = 1.0f / (1.0f + e);
  return x < -87.0f ? 0.0f : (x != x ? x : s);
}

inline float act_tanh(float x) {
  const float ax = x < 0.0f ? -x : x;
  // |x| < 0.625: odd polynomial (no cancellation); else 1 - 2 / (e^{2|x|} + 1), exactly 1
  // beyond |x| = 9.1 in float.
  const float z = x * x;
  float small = -5.70498872745e-3f;
  small = small * z + 2.06390887954e-2f;
  small = small * z - 5.37397155531e-2f;
  small = small * z + 1.33314422036e-1f;
  small = small * z - 3.33332819422e-1f;
  small = small * z * x + x;
  const float e = exp_poly(clampf(2.0f * ax, 0.0f, 40.0f));
  float big = 1.0f - 2.0f / (e + 1.0f);
  big = x < 0.0f ? -big : big;
  const float t = ax < 0.625f ? small : big;
  return x != x ? x : t;
}

inline double act_sigmoid(double x) { return 1.0 / (1.0 + __builtin_exp(-x)); }
inline double act_tanh(double x) { return __builtin_tanh(x); }

// Array forms the fused passes call: out[k] = f(a[k] + b[k]), or f(a[k]) when b is null. An
// instruction set may define its own float versions before pointwise.h (a non-template overload
// wins), as pointwise_avx512.cc does with explicit vector code.
template <typename T, typename F>
inline void apply_n(int64_t n, const T* __restrict a, const T* __restrict b, T* __restrict out,
                    F f) {
  if (b)
    for (int64_t k = 0; k < n; ++k) out[k] = f(a[k] + b[k]);
  else
    for (int64_t k = 0; k < n; ++k) out[k] = f(a[k]);
}
template <typename T>
inline void sigmoid_n(int64_t n, const T* a, const T* b, T* out) {
  apply_n(n, a, b, out, [](T x) { return act_sigmoid(x); });
}
template <typename T>
inline void tanh_n(int64_t n, const T* a, const T* b, T* out) {
  apply_n(n, a, b, out, [](T x) { return act_tanh(x); });
}
