// portable::ukernel: plain C++ register tile, built with the baseline flags. It is the
// oracle the SIMD kernels are tested against and the fallback on every other CPU.
#include <cstdint>

#include "gemm/kernels.h"

namespace rnnfast {
namespace gemm {
namespace {

#include "gemm/driver.h"

constexpr int kMR = 6;

template <typename T>
struct Portable {
  static constexpr int NR = 64 / static_cast<int>(sizeof(T));
  template <int M>
  static void run(int64_t kc, const T* A, int64_t rsa, int64_t csa, const T* Bp, T* C,
                  int64_t ldc, int n, T beta) {
    T acc[M * NR];
    for (int i = 0; i < M * NR; ++i) acc[i] = T(0);
    for (int64_t k = 0; k < kc; ++k) {
      const T* b = Bp + k * NR;
      for (int i = 0; i < M; ++i) {
        const T a = A[i * rsa + k * csa];
        for (int j = 0; j < NR; ++j) acc[i * NR + j] += a * b[j];
      }
    }
    store_tile<T, M, NR>(acc, C, ldc, n, beta);
  }
};

void serial_f32(int64_t m0, int64_t m1, int64_t p0, int64_t p1, const float* A, int64_t rsa,
                int64_t csa, const float* Bp, int64_t K, int64_t N, float beta, float* C,
                int64_t ldc) {
  serial_driver<float, kMR, Portable<float>::NR, Portable<float>>(m0, m1, p0, p1, A, rsa, csa,
                                                                   Bp, K, N, beta, C, ldc);
}
void serial_f64(int64_t m0, int64_t m1, int64_t p0, int64_t p1, const double* A, int64_t rsa,
                int64_t csa, const double* Bp, int64_t K, int64_t N, double beta, double* C,
                int64_t ldc) {
  serial_driver<double, kMR, Portable<double>::NR, Portable<double>>(m0, m1, p0, p1, A, rsa, csa,
                                                                      Bp, K, N, beta, C, ldc);
}

void direct_f32(int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const float* B,
                int64_t ldb, bool transB, float beta, float* C, int64_t ldc) {
  direct_product<float>(M, N, K, A, lda, B, ldb, transB, beta, C, ldc);
}
void direct_f64(int64_t M, int64_t N, int64_t K, const double* A, int64_t lda, const double* B,
                int64_t ldb, bool transB, double beta, double* C, int64_t ldc) {
  direct_product<double>(M, N, K, A, lda, B, ldb, transB, beta, C, ldc);
}

const Kernels kTable = {"portable", Portable<float>::NR, Portable<double>::NR, kMR, serial_f32,
                        serial_f64, direct_f32, direct_f64};

}  // namespace

const Kernels& portable_kernels() { return kTable; }

}  // namespace gemm
}  // namespace rnnfast
