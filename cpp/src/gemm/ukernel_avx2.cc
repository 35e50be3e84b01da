// avx2::ukernel_6x16 (float) / 6x8 (double): AVX2 + FMA register tiles, 12 accumulators.
// Built with -mavx2 -mfma for this file only; chosen at run time by dispatch.cc.
#include <immintrin.h>

#include <cstdint>

#include "gemm/kernels.h"

namespace rnnfast {
namespace gemm {
namespace {

#include "gemm/driver.h"
#include "gemm/simd_kernel.h"

struct F32x8 {
  using V = __m256;
  static constexpr int W = 8;
  static constexpr int kRegs = 16;
  static V zero() { return _mm256_setzero_ps(); }
  static V load(const float* p) { return _mm256_loadu_ps(p); }
  static void store(float* p, V v) { _mm256_storeu_ps(p, v); }
  static V set1(float a) { return _mm256_set1_ps(a); }
  static V fma(V a, V b, V c) { return _mm256_fmadd_ps(a, b, c); }
  static V add(V a, V b) { return _mm256_add_ps(a, b); }
};
struct F64x4 {
  using V = __m256d;
  static constexpr int W = 4;
  static constexpr int kRegs = 16;
  static V zero() { return _mm256_setzero_pd(); }
  static V load(const double* p) { return _mm256_loadu_pd(p); }
  static void store(double* p, V v) { _mm256_storeu_pd(p, v); }
  static V set1(double a) { return _mm256_set1_pd(a); }
  static V fma(V a, V b, V c) { return _mm256_fmadd_pd(a, b, c); }
  static V add(V a, V b) { return _mm256_add_pd(a, b); }
};

constexpr int kMR = 6;
using KF = SimdKernel<float, F32x8, 2>;
using KD = SimdKernel<double, F64x4, 2>;

constexpr Kernels kTable = kernel_table<kMR, KF, KD>("avx2");

}  // namespace

const Kernels* avx2_kernels() { return &kTable; }

}  // namespace gemm
}  // namespace rnnfast
