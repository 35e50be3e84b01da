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
  static V zero() { return _mm256_setzero_ps(); }
  static V load(const float* p) { return _mm256_loadu_ps(p); }
  static void store(float* p, V v) { _mm256_storeu_ps(p, v); }
  static V set1(float a) { return _mm256_set1_ps(a); }
  static V fma(V a, V b, V c) { return _mm256_fmadd_ps(a, b, c); }
};
struct F64x4 {
  using V = __m256d;
  static constexpr int W = 4;
  static V zero() { return _mm256_setzero_pd(); }
  static V load(const double* p) { return _mm256_loadu_pd(p); }
  static void store(double* p, V v) { _mm256_storeu_pd(p, v); }
  static V set1(double a) { return _mm256_set1_pd(a); }
  static V fma(V a, V b, V c) { return _mm256_fmadd_pd(a, b, c); }
};

constexpr int kMR = 6;
using KF = SimdKernel<float, F32x8, 2>;
using KD = SimdKernel<double, F64x4, 2>;

void serial_f32(int64_t m0, int64_t m1, int64_t p0, int64_t p1, const float* A, int64_t rsa,
                int64_t csa, const float* Bp, int64_t K, int64_t N, float beta, float* C,
                int64_t ldc) {
  serial_driver<float, kMR, KF::NR, KF>(m0, m1, p0, p1, A, rsa, csa, Bp, K, N, beta, C, ldc);
}
void serial_f64(int64_t m0, int64_t m1, int64_t p0, int64_t p1, const double* A, int64_t rsa,
                int64_t csa, const double* Bp, int64_t K, int64_t N, double beta, double* C,
                int64_t ldc) {
  serial_driver<double, kMR, KD::NR, KD>(m0, m1, p0, p1, A, rsa, csa, Bp, K, N, beta, C, ldc);
}

void direct_f32(int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const float* B,
                int64_t ldb, bool transB, float beta, float* C, int64_t ldc) {
  direct_product<float>(M, N, K, A, lda, B, ldb, transB, beta, C, ldc);
}
void direct_f64(int64_t M, int64_t N, int64_t K, const double* A, int64_t lda, const double* B,
                int64_t ldb, bool transB, double beta, double* C, int64_t ldc) {
  direct_product<double>(M, N, K, A, lda, B, ldb, transB, beta, C, ldc);
}

const Kernels kTable = {"avx2", KF::NR, KD::NR, kMR, serial_f32, serial_f64, direct_f32, direct_f64};

}  // namespace

const Kernels* avx2_kernels() { return &kTable; }

}  // namespace gemm
}  // namespace rnnfast
