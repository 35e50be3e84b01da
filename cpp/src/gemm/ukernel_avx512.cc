// avx512::ukernel_12x32 (float) / 12x16 (double): AVX-512F register tiles, 24 accumulators.
// 12 rows rather than 8: per step of k, 2 loads of B serve 24 FMAs instead of 16, which takes
// a third off the bytes of B each FMA needs; on a 2 MB-L2 Xeon (2 FMA ports, ~85 GB/s from L2
// per core) the LSTM large forward ran 7-10% faster, with batch 1 and small sizes unchanged.
// Built with -mavx512f (and -mfma) for this file only; chosen at run time by dispatch.cc.
#include <immintrin.h>

#include <cstdint>

#include "gemm/kernels.h"

namespace rnnfast {
namespace gemm {
namespace {

#include "gemm/driver.h"
#include "gemm/simd_kernel.h"

struct F32x16 {
  using V = __m512;
  static constexpr int W = 16;
  static constexpr int kRegs = 32;
  static V zero() { return _mm512_setzero_ps(); }
  static V load(const float* p) { return _mm512_loadu_ps(p); }
  static void store(float* p, V v) { _mm512_storeu_ps(p, v); }
  static V set1(float a) { return _mm512_set1_ps(a); }
  static V fma(V a, V b, V c) { return _mm512_fmadd_ps(a, b, c); }
  static V add(V a, V b) { return _mm512_add_ps(a, b); }
};
struct F64x8 {
  using V = __m512d;
  static constexpr int W = 8;
  static constexpr int kRegs = 32;
  static V zero() { return _mm512_setzero_pd(); }
  static V load(const double* p) { return _mm512_loadu_pd(p); }
  static void store(double* p, V v) { _mm512_storeu_pd(p, v); }
  static V set1(double a) { return _mm512_set1_pd(a); }
  static V fma(V a, V b, V c) { return _mm512_fmadd_pd(a, b, c); }
  static V add(V a, V b) { return _mm512_add_pd(a, b); }
};

constexpr int kMR = 12;
using KF = SimdKernel<float, F32x16, 2>;
using KD = SimdKernel<double, F64x8, 2>;

constexpr Kernels kTable = kernel_table<kMR, KF, KD>("avx512");

}  // namespace

const Kernels* avx512_kernels() { return &kTable; }

}  // namespace gemm
}  // namespace rnnfast
