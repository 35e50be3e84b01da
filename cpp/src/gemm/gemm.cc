// Blocked, cache-aware portable GEMM behind the internal interface of gemm.h.
// Loop nest: K blocks (KC) -> M blocks (MC) -> column panels of packed B (NR) -> MR rows, with
// one register-tile micro-kernel written in plain C++. On x86-64 with GCC or Clang the driver
// is compiled several times (x86-64-v4 / v3 / baseline) and the loader picks the clone for the
// running CPU, so one build runs everywhere without -march=native.
// Not here (yet): hand-written intrinsics per instruction set, packed A panels.
#include "gemm/gemm.h"

#include <algorithm>
#include <cstring>
#include <stdexcept>

#include "threads.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__)) && !defined(RNNFAST_NO_CLONES)
#define RNNFAST_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define RNNFAST_CLONES
#endif

namespace rnnfast {
namespace gemm {
namespace {

constexpr int64_t KC = 256;  // depth of one pass: a B panel slice (KC x NR) stays in L1
constexpr int64_t MC = 96;   // rows of A per block: MC x KC stays in L2

// C[m,n] (m <= MR, n <= NR) = beta*C + A[m,kc] * Bp[kc,NR]; A with strides (rsa, csa).
// Instantiated for every row count MR = 1..Tile::MR so short edges (B = 1) waste no work.
template <typename T, int MR>
inline __attribute__((always_inline)) void ukernel(int64_t kc, const T* A, int64_t rsa,
                                                   int64_t csa, const T* Bp, T* C, int64_t ldc,
                                                   int m, int n, T beta) {
  constexpr int NR = Tile<T>::NR;
  const T* arow[MR];
  for (int i = 0; i < MR; ++i) arow[i] = A + i * rsa;
  T acc[MR][NR];
  for (int i = 0; i < MR; ++i)
    for (int j = 0; j < NR; ++j) acc[i][j] = T(0);
  for (int64_t k = 0; k < kc; ++k) {
    const T* b = Bp + k * NR;
    for (int i = 0; i < MR; ++i) {
      const T a = arow[i][k * csa];
      for (int j = 0; j < NR; ++j) acc[i][j] += a * b[j];
    }
  }
  if (m == MR && n == NR) {
    if (beta == T(0)) {
      for (int i = 0; i < MR; ++i)
        for (int j = 0; j < NR; ++j) C[i * ldc + j] = acc[i][j];
    } else {
      for (int i = 0; i < MR; ++i)
        for (int j = 0; j < NR; ++j) C[i * ldc + j] = beta * C[i * ldc + j] + acc[i][j];
    }
    return;
  }
  for (int i = 0; i < m; ++i)
    for (int j = 0; j < n; ++j)
      C[i * ldc + j] = (beta == T(0)) ? acc[i][j] : beta * C[i * ldc + j] + acc[i][j];
}

// Rows [m0, m1) x panels [p0, p1) of C = beta*C + op(A) * Bp.
template <typename T>
inline __attribute__((always_inline)) void serial_impl(int64_t m0, int64_t m1, int64_t p0,
                                                       int64_t p1, const T* A, int64_t rsa,
                                                       int64_t csa, const PackedB<T>& Bp, T beta,
                                                       T* C, int64_t ldc) {
  constexpr int MR = Tile<T>::MR, NR = Tile<T>::NR;
  const int64_t K = Bp.K(), N = Bp.N();
  if (K == 0) {  // C = beta*C
    for (int64_t i = m0; i < m1; ++i)
      for (int64_t j = p0 * NR; j < std::min(N, p1 * NR); ++j)
        C[i * ldc + j] = beta == T(0) ? T(0) : beta * C[i * ldc + j];
    return;
  }
  for (int64_t pc = 0; pc < K; pc += KC) {
    const int64_t kc = std::min(KC, K - pc);
    const T b = pc == 0 ? beta : T(1);
    for (int64_t ic = m0; ic < m1; ic += MC) {
      const int64_t mc_end = std::min(m1, ic + MC);
      for (int64_t p = p0; p < p1; ++p) {
        const T* bp = Bp.panel(p) + pc * NR;
        const int n = static_cast<int>(std::min<int64_t>(NR, N - p * NR));
        for (int64_t i = ic; i < mc_end; i += MR) {
          const int m = static_cast<int>(std::min<int64_t>(MR, mc_end - i));
          const T* a = A + i * rsa + pc * csa;
          T* c = C + i * ldc + p * NR;
          static_assert(MR == 6, "the switch below covers MR = 6");
          switch (m) {
            case 6: ukernel<T, 6>(kc, a, rsa, csa, bp, c, ldc, m, n, b); break;
            case 5: ukernel<T, 5>(kc, a, rsa, csa, bp, c, ldc, m, n, b); break;
            case 4: ukernel<T, 4>(kc, a, rsa, csa, bp, c, ldc, m, n, b); break;
            case 3: ukernel<T, 3>(kc, a, rsa, csa, bp, c, ldc, m, n, b); break;
            case 2: ukernel<T, 2>(kc, a, rsa, csa, bp, c, ldc, m, n, b); break;
            default: ukernel<T, 1>(kc, a, rsa, csa, bp, c, ldc, m, n, b); break;
          }
        }
      }
    }
  }
}

RNNFAST_CLONES void serial(int64_t m0, int64_t m1, int64_t p0, int64_t p1, const float* A,
                           int64_t rsa, int64_t csa, const PackedB<float>& Bp, float beta,
                           float* C, int64_t ldc) {
  serial_impl<float>(m0, m1, p0, p1, A, rsa, csa, Bp, beta, C, ldc);
}
RNNFAST_CLONES void serial(int64_t m0, int64_t m1, int64_t p0, int64_t p1, const double* A,
                           int64_t rsa, int64_t csa, const PackedB<double>& Bp, double beta,
                           double* C, int64_t ldc) {
  serial_impl<double>(m0, m1, p0, p1, A, rsa, csa, Bp, beta, C, ldc);
}

}  // namespace

template <typename T>
void PackedB<T>::pack(const T* B, int64_t ldb, bool transB, int64_t K, int64_t N) {
  constexpr int NR = Tile<T>::NR;
  K_ = K;
  N_ = N;
  panels_ = (N + NR - 1) / NR;
  const size_t need = static_cast<size_t>(panels_ * K * NR);
  if (data_.size() < need) data_.resize(need);
  T* out = data_.data();
  const int nt = detail::threads_for(static_cast<double>(K) * N * 4);
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1)
  for (int64_t p = 0; p < panels_; ++p) {
    T* dst = out + p * K * NR;
    const int n = static_cast<int>(std::min<int64_t>(NR, N - p * NR));
    if (!transB) {
      for (int64_t k = 0; k < K; ++k) {
        const T* src = B + k * ldb + p * NR;
        int j = 0;
        for (; j < n; ++j) dst[k * NR + j] = src[j];
        for (; j < NR; ++j) dst[k * NR + j] = T(0);
      }
    } else {
      for (int j = 0; j < NR; ++j) {
        if (j < n) {
          const T* src = B + (p * NR + j) * ldb;
          for (int64_t k = 0; k < K; ++k) dst[k * NR + j] = src[k];
        } else {
          for (int64_t k = 0; k < K; ++k) dst[k * NR + j] = T(0);
        }
      }
    }
  }
}

template <typename T>
void gemm_packed(int64_t M, const T* A, int64_t lda, bool transA, const PackedB<T>& Bp, T beta,
                 T* C, int64_t ldc) {
  constexpr int MR = Tile<T>::MR;
  if (M <= 0 || Bp.N() <= 0) return;
  const int64_t rsa = transA ? 1 : lda, csa = transA ? lda : 1;
  const int64_t P = Bp.panels();
  const int nt = detail::threads_for(2.0 * M * Bp.N() * Bp.K());
  if (nt <= 1) {
    serial(0, M, 0, P, A, rsa, csa, Bp, beta, C, ldc);
    return;
  }
  const int64_t mblocks = (M + MR - 1) / MR;
  const bool split_n = P >= nt && (P >= mblocks || P >= 2 * nt);
#pragma omp parallel num_threads(nt)
  {
    const int64_t tid = omp_get_thread_num(), n_th = omp_get_num_threads();
    if (split_n) {
      const int64_t p0 = P * tid / n_th, p1 = P * (tid + 1) / n_th;
      if (p1 > p0) serial(0, M, p0, p1, A, rsa, csa, Bp, beta, C, ldc);
    } else {
      const int64_t b0 = mblocks * tid / n_th, b1 = mblocks * (tid + 1) / n_th;
      const int64_t m0 = b0 * MR, m1 = std::min(M, b1 * MR);
      if (m1 > m0) serial(m0, m1, 0, P, A, rsa, csa, Bp, beta, C, ldc);
    }
  }
}

template <typename T>
void gemm(bool transA, bool transB, int64_t M, int64_t N, int64_t K, const T* A, int64_t lda,
          const T* B, int64_t ldb, T beta, T* C, int64_t ldc) {
  if (M <= 0 || N <= 0) return;
  PackedB<T> Bp;
  Bp.pack(B, ldb, transB, K, N);
  gemm_packed<T>(M, A, lda, transA, Bp, beta, C, ldc);
}

template class PackedB<float>;
template class PackedB<double>;
template void gemm_packed<float>(int64_t, const float*, int64_t, bool, const PackedB<float>&,
                                 float, float*, int64_t);
template void gemm_packed<double>(int64_t, const double*, int64_t, bool, const PackedB<double>&,
                                  double, double*, int64_t);
template void gemm<float>(bool, bool, int64_t, int64_t, int64_t, const float*, int64_t,
                          const float*, int64_t, float, float*, int64_t);
template void gemm<double>(bool, bool, int64_t, int64_t, int64_t, const double*, int64_t,
                           const double*, int64_t, double, double*, int64_t);

}  // namespace gemm
}  // namespace rnnfast
