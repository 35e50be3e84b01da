// GEMM front end: packing of B into the active kernels' panel layout, the split of a product
// over a thread team (by column panels or by row blocks, whichever gives each thread whole
// panels), and the one-shot gemm(). The loop nest and micro-kernels live per ISA
// (ukernel_*.cc, chosen by dispatch.cc).
#include "gemm/gemm.h"

#include <algorithm>
#include <stdexcept>
#include <string>
#include <type_traits>
#if defined(__SSE2__)
#include <emmintrin.h>
#include <xmmintrin.h>
#endif

#include "threads.h"
#include "workspace.h"

namespace rnnfast {
namespace gemm {
namespace {

// The calling thread's scratch for packed blocks of a transposed A (kernels.h, SerialFn):
// kMC rows in tiles of mr, the last tile padded to mr rows (pack_a_transposed in driver.h
// keeps the tile stride). A plain A is read in place: no scratch (nullptr).
template <typename T>
T* apack_buffer(const Kernels& k, bool transA) {
  if (!transA) return nullptr;
  const int64_t rows = (kMC + k.mr - 1) / k.mr * k.mr;
  return detail::thread_workspace().get<T>(detail::kApack, static_cast<size_t>(rows * kKC));
}

}  // namespace

template <typename T>
void PackedB<T>::reset(int64_t K, int64_t N) {
  kernels_ = &active_kernels();
  const TypedKernels<T>& tk = typed<T>(*kernels_);
  if (tk.kgroup != 1)  // pack_panel writes [K x nr] panels only (kernels.h, TypedKernels)
    throw std::logic_error(std::string("PackedB: the ") + kernels_->name +
                           " kernels' panel layout (kgroup " + std::to_string(tk.kgroup) +
                           ") has no packing");
  nr_ = tk.nr;
  K_ = K;
  N_ = N;
  panels_ = (N + nr_ - 1) / nr_;
  const size_t need = static_cast<size_t>(panels_ * K * nr_);
  if (data_.size() < need) data_.resize(need);
}

// A panel [K x NR] of op(B) from its columns col(0..NR), col(j) < 0 for padding. transB reads
// rows of B (contiguous in k) and transposes them in blocks of kKB values of k, so that the
// block of the panel being written stays in L1 (one pass per column over the whole K would
// write a new cache line for every element); otherwise it copies row by row, as whole runs
// when the columns are consecutive (the usual case: a thread's slice of units).
template <typename T, typename Col>
void pack_panel(const T* B, int64_t ldb, bool transB, int64_t K, int NR, Col col, T* dst) {
  int valid = 0;
  bool run = true;
  while (valid < NR && col(valid) >= 0) {
    run = run && col(valid) == col(0) + valid;
    ++valid;
  }
  for (int j = valid; j < NR; ++j) run = run && col(j) < 0;
  if (!transB) {
    for (int64_t k = 0; k < K; ++k) {
      const T* src = B + k * ldb;
      T* d = dst + k * NR;
      if (run) {
        const T* s = src + (valid ? col(0) : 0);
        for (int j = 0; j < valid; ++j) d[j] = s[j];
        for (int j = valid; j < NR; ++j) d[j] = T(0);
      } else {
        for (int j = 0; j < NR; ++j) {
          const int64_t c = col(j);
          d[j] = c >= 0 ? src[c] : T(0);
        }
      }
    }
    return;
  }
  constexpr int64_t kKB = 16;
  for (int64_t k0 = 0; k0 < K; k0 += kKB) {
    const int64_t k1 = std::min(K, k0 + kKB);
    int j = 0;
#if defined(__SSE2__)
    // float: 4 columns x 4 steps of k at a time, as 4x4 transposes in SSE registers (every
    // x86-64 has them): about twice as fast as element by element (docs/ARCHITECTURE.md).
    if constexpr (std::is_same<T, float>::value) {
      for (; j + 4 <= NR; j += 4) {
        const int64_t c0 = col(j), c1 = col(j + 1), c2 = col(j + 2), c3 = col(j + 3);
        if (c0 < 0 || c1 < 0 || c2 < 0 || c3 < 0) break;  // padding: element by element
        const float *s0 = B + c0 * ldb, *s1 = B + c1 * ldb, *s2 = B + c2 * ldb, *s3 = B + c3 * ldb;
        int64_t k = k0;
        for (; k + 4 <= k1; k += 4) {
          __m128 r0 = _mm_loadu_ps(s0 + k), r1 = _mm_loadu_ps(s1 + k);
          __m128 r2 = _mm_loadu_ps(s2 + k), r3 = _mm_loadu_ps(s3 + k);
          _MM_TRANSPOSE4_PS(r0, r1, r2, r3);
          float* d = dst + k * NR + j;
          _mm_storeu_ps(d, r0);
          _mm_storeu_ps(d + NR, r1);
          _mm_storeu_ps(d + 2 * NR, r2);
          _mm_storeu_ps(d + 3 * NR, r3);
        }
        for (; k < k1; ++k) {
          float* d = dst + k * NR + j;
          d[0] = s0[k];
          d[1] = s1[k];
          d[2] = s2[k];
          d[3] = s3[k];
        }
      }
    }
#endif
    for (; j < NR; ++j) {
      const int64_t c = col(j);
      if (c < 0) {
        for (int64_t k = k0; k < k1; ++k) dst[k * NR + j] = T(0);
      } else {
        const T* src = B + c * ldb;
        for (int64_t k = k0; k < k1; ++k) dst[k * NR + j] = src[k];
      }
    }
  }
}

// fill(p) for each of P panels of a [K x N] pack, over a team when the copy is worth it.
template <typename Fill>
void each_panel(int64_t P, int64_t K, int64_t N, Fill fill) {
  const int nt = detail::threads_for(static_cast<double>(K) * N * 4);
  const detail::TeamFork fork(nt);
#pragma omp parallel num_threads(nt) if (nt > 1)
  {
    const detail::TeamThread member(fork);
#pragma omp for schedule(static)
    for (int64_t p = 0; p < P; ++p) fill(p);
  }
}

template <typename T>
void PackedB<T>::pack(const T* B, int64_t ldb, bool transB, int64_t K, int64_t N) {
  reset(K, N);
  const int NR = nr_;
  T* out = data_.data();
  each_panel(panels_, K, N, [&](int64_t p) {
    const int64_t n0 = p * NR;
    pack_panel<T>(
        B, ldb, transB, K, NR, [=](int j) { return n0 + j < N ? n0 + j : -1; }, out + p * K * NR);
  });
}

template <typename T>
void PackedB<T>::pack_rows(const T* const* rows, int64_t K, int64_t N, const T* const* scales) {
  reset(K, N);
  const int NR = nr_;
  T* out = data_.data();
  each_panel(panels_, K, N, [&](int64_t p) {
    const int64_t n0 = p * NR;
    const int valid = static_cast<int>(std::min<int64_t>(NR, N - n0));
    T* dst = out + p * K * NR;
    for (int64_t k = 0; k < K; ++k) {
      const T* src = rows[k] + n0;
      T* d = dst + k * NR;
      if (scales) {
        const T* sc = scales[k] + n0;
        for (int j = 0; j < valid; ++j) d[j] = src[j] * sc[j];
      } else {
        for (int j = 0; j < valid; ++j) d[j] = src[j];
      }
      for (int j = valid; j < NR; ++j) d[j] = T(0);
    }
  });
}

template <typename T>
void PackedB<T>::pack_columns(const T* B, int64_t ldb, bool transB, int64_t K, const int64_t* cols,
                              int64_t N) {
  reset(K, N);
  const int NR = nr_;
  for (int64_t p = 0; p < panels_; ++p) {
    const int64_t n0 = p * NR;
    pack_panel<T>(
        B, ldb, transB, K, NR, [=](int j) { return n0 + j < N ? cols[n0 + j] : int64_t(-1); },
        data_.data() + p * K * NR);
  }
}

template <typename T>
void gemm_serial(int64_t M, const T* A, int64_t lda, bool transA, const PackedB<T>& Bp, T beta,
                 T* C, int64_t ldc, const Walk& walk, const T* bias) {
  if (M <= 0 || Bp.N() <= 0) return;
  const int64_t rsa = transA ? 1 : lda, csa = transA ? lda : 1;
  typed<T>(Bp.kernels())
      .serial(0, M, 0, Bp.panels(), A, rsa, csa, Bp.data(), Bp.K(), Bp.N(), beta, bias, C, ldc,
              apack_buffer<T>(Bp.kernels(), transA), nullptr, walk);
}

template <typename T>
void gemm_packed(int64_t M, const T* A, int64_t lda, bool transA, const PackedB<T>& Bp, T beta,
                 T* C, int64_t ldc, const T* bias, T* asum) {
  if (M <= 0 || Bp.N() <= 0) return;
  if (asum && !transA) throw std::invalid_argument("gemm_packed: asum needs a transposed A");
  const int64_t rsa = transA ? 1 : lda, csa = transA ? lda : 1;
  const int64_t P = Bp.panels();
  const SerialFn<T> serial = typed<T>(Bp.kernels()).serial;
  const int nt = detail::threads_for(2.0 * M * Bp.N() * Bp.K());
  if (nt <= 1) {
    serial(0, M, 0, P, A, rsa, csa, Bp.data(), Bp.K(), Bp.N(), beta, bias, C, ldc,
           apack_buffer<T>(Bp.kernels(), transA), asum, Walk{});
    return;
  }
  const int MR = Bp.kernels().mr;
  const int64_t mblocks = (M + MR - 1) / MR;
  // By column panels when there are enough (each thread then reads all of A, in place, and
  // only its panels of B); but a transposed A (the weight gradients' dG^T, packed per thread
  // block by block from memory) is split by rows, so that each thread reads and packs only its
  // half of it (the plain-A products split by rows got slower; docs/ARCHITECTURE.md, "GEMM").
  // Row sums of A: by rows, so that each row is summed by one thread.
  const bool split_n =
      (transA && mblocks >= nt) || asum ? false : P >= nt && (P >= mblocks || P >= 2 * nt);
  const detail::TeamFork fork(nt);
#pragma omp parallel num_threads(nt)
  {
    const detail::TeamThread member(fork);
    const int64_t tid = omp_get_thread_num(), n_th = omp_get_num_threads();
    T* apack = apack_buffer<T>(Bp.kernels(), transA);
    if (split_n) {
      const int64_t p0 = P * tid / n_th, p1 = P * (tid + 1) / n_th;
      if (p1 > p0)
        serial(0, M, p0, p1, A, rsa, csa, Bp.data(), Bp.K(), Bp.N(), beta, bias, C, ldc, apack,
               nullptr, Walk{});
    } else {
      const int64_t b0 = mblocks * tid / n_th, b1 = mblocks * (tid + 1) / n_th;
      const int64_t m0 = b0 * MR, m1 = std::min(M, b1 * MR);
      if (m1 > m0)
        serial(m0, m1, 0, P, A, rsa, csa, Bp.data(), Bp.K(), Bp.N(), beta, bias, C, ldc, apack,
               asum ? asum + m0 : nullptr, Walk{});
    }
  }
}

template <typename T>
void gemm_direct(int64_t M, int64_t N, int64_t K, const T* A, int64_t lda, const T* B, int64_t ldb,
                 bool transB, T beta, T* C, int64_t ldc) {
  if (M <= 0 || N <= 0) return;
  typed<T>(active_kernels()).direct(M, N, K, A, lda, B, ldb, transB, beta, C, ldc);
}

template <typename T>
void gemm(bool transA, bool transB, int64_t M, int64_t N, int64_t K, const T* A, int64_t lda,
          const T* B, int64_t ldb, T beta, T* C, int64_t ldc, const T* bias, T* asum) {
  if (M <= 0 || N <= 0) return;
  if (!transA && M <= kDirectMaxRows) {
    gemm_direct<T>(M, N, K, A, lda, B, ldb, transB, beta, C, ldc);
    if (bias)
      for (int64_t i = 0; i < M; ++i)
        for (int64_t j = 0; j < N; ++j) C[i * ldc + j] += bias[j];
    return;
  }
  PackedB<T>& Bp = detail::thread_workspace().packed<T>(detail::kPackGemm);
  Bp.pack(B, ldb, transB, K, N);
  gemm_packed<T>(M, A, lda, transA, Bp, beta, C, ldc, bias, asum);
}

template class PackedB<float>;
template class PackedB<double>;
#define RNNFAST_INSTANTIATE(T)                                                                  \
  template void gemm_serial<T>(int64_t, const T*, int64_t, bool, const PackedB<T>&, T, T*,      \
                               int64_t, const Walk&, const T*);                                 \
  template void gemm_packed<T>(int64_t, const T*, int64_t, bool, const PackedB<T>&, T, T*,      \
                               int64_t, const T*, T*);                                          \
  template void gemm<T>(bool, bool, int64_t, int64_t, int64_t, const T*, int64_t, const T*,     \
                        int64_t, T, T*, int64_t, const T*, T*);                                 \
  template void gemm_direct<T>(int64_t, int64_t, int64_t, const T*, int64_t, const T*, int64_t, \
                               bool, T, T*, int64_t);
RNNFAST_INSTANTIATE(float)
RNNFAST_INSTANTIATE(double)
#undef RNNFAST_INSTANTIATE

}  // namespace gemm
}  // namespace rnnfast
