// avx512::ukernel_12x32 (float) / 12x16 (double): AVX-512F register tiles, 24 accumulators.
// 12 rows rather than 8: per step of k, 2 loads of B serve 24 FMAs instead of 16, which takes
// a third off the bytes of B each FMA needs, which the L2 bandwidth limits (docs/ARCHITECTURE.md).
// Built with -mavx512f (and -mfma) for this file only; chosen at run time by dispatch.cc.
#include <immintrin.h>

#include <cstdint>

#include "gemm/kernels.h"

namespace rnnfast {
namespace gemm {
namespace {

#include "gemm/asm_avx512_12x32.h"
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

// Float: full 12-row tiles of a plain or transposed A run the assembly tile
// (asm_avx512_12x32.h), the faster of the two; shorter tiles and other layouts the intrinsics.
struct KF : SimdKernel<float, F32x16, 2> {
  using Base = SimdKernel<float, F32x16, 2>;
  template <int M>
  static void run(int64_t kc, const float* A, int64_t rsa, int64_t csa, const float* Bp, float* C,
                  int64_t ldc, int n, float beta, const float* bias, const float* pf,
                  int64_t pf_lines) {
#ifdef RNNFAST_ASM_TILE
    if constexpr (M == kMR) {
      if (csa == 1 || rsa == 1) {
        prefetch_c<M>(C, ldc);
        alignas(64) float tile[M * NR];
        asm_tile_12x32(kc, A, rsa, csa, Bp, tile, pf, pf_lines);
        store_array<M>(tile, C, ldc, n, beta, bias);
        return;
      }
    }
#endif
    Base::template run<M>(kc, A, rsa, csa, Bp, C, ldc, n, beta, bias, pf, pf_lines);
  }
};
using KD = SimdKernel<double, F64x8, 2>;

constexpr Kernels kTable = kernel_table<kMR, KF, KD>("avx512");

}  // namespace

const Kernels* avx512_kernels() { return &kTable; }

}  // namespace gemm
}  // namespace rnnfast
