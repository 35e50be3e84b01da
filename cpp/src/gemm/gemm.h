// Internal GEMM interface: every matrix product of the cells goes through here.
//
// Contract (row-major):  C[M,N] = beta * C + op(A)[M,K] * op(B)[K,N]
//   op(A)(i,k) = transA ? A[k*lda + i] : A[i*lda + k]
//   op(B)(k,n) = transB ? B[n*ldb + k] : B[k*ldb + n]
//   beta == 0: C is never read (so it may hold garbage or NaN).
// B is packed into column panels of the active instruction set's width NR (zero padded to
// whole panels, the whole K per panel); A is read in place with general strides. A PackedB is
// made once and reused for many products (the recurrent weights are packed once per sequence);
// it remembers the kernels it was packed for, so a later set_isa cannot mix layouts.
// No function-level statics: packed buffers belong to the caller.
#pragma once

#include <cstddef>
#include <cstdint>
#include <new>
#include <vector>

#include "gemm/kernels.h"

namespace rnnfast {
namespace gemm {

// Storage on 64-byte (cache line) boundaries. The kernels load a panel's rows 64 bytes at a
// time; std::vector's storage is only 16-byte aligned (a big one sits 16 bytes into its pages),
// which made every such load straddle two lines (docs/ARCHITECTURE.md, "Memory").
template <typename T>
struct CacheAligned {
  using value_type = T;
  static constexpr std::align_val_t kAlign{64};
  CacheAligned() = default;
  template <typename U>
  CacheAligned(const CacheAligned<U>&) noexcept {}
  T* allocate(size_t n) { return static_cast<T*>(::operator new(n * sizeof(T), kAlign)); }
  void deallocate(T* p, size_t) noexcept { ::operator delete(p, kAlign); }
  template <typename U>
  bool operator==(const CacheAligned<U>&) const noexcept {
    return true;
  }
  template <typename U>
  bool operator!=(const CacheAligned<U>&) const noexcept {
    return false;
  }
};

template <typename T>
class PackedB {
 public:
  PackedB() = default;
  // Packs op(B) [K,N] (columns n0..n0+N of op(B) when given a column offset via B itself).
  // Reuses its storage when the new size fits. Threads over the calling team when worth it.
  void pack(const T* B, int64_t ldb, bool transB, int64_t K, int64_t N);
  // Packs the columns cols[0..N) of op(B) (a gather: e.g. the gate columns of some units).
  void pack_columns(const T* B, int64_t ldb, bool transB, int64_t K, const int64_t* cols,
                    int64_t N);
  // Packs op(B) [K,N] given row by row: row k is rows[k][0..N), times scales[k][0..N)
  // elementwise when scales is given (a matrix gathered from pieces, e.g. the state each step
  // of a time loop read, with the dropout mask of its sequence). Threads like pack().
  void pack_rows(const T* const* rows, int64_t K, int64_t N, const T* const* scales = nullptr);
  int64_t K() const { return K_; }
  int64_t N() const { return N_; }
  int nr() const { return nr_; }
  int64_t panels() const { return panels_; }
  const T* data() const { return data_.data(); }
  const Kernels& kernels() const { return *kernels_; }

 private:
  void reset(int64_t K, int64_t N);
  std::vector<T, CacheAligned<T>> data_;
  int64_t K_ = 0, N_ = 0, panels_ = 0;
  int nr_ = 1;
  const Kernels* kernels_ = nullptr;
};

// C = beta*C + op(A) * Bp (+ bias[n] on every row) on the calling thread only (for use inside
// a parallel region); walk: a time loop's per-step product of the state passes {true, step is
// odd} (kernels.h, Walk).
template <typename T>
void gemm_serial(int64_t M, const T* A, int64_t lda, bool transA, const PackedB<T>& Bp, T beta,
                 T* C, int64_t ldc, const Walk& walk = Walk{}, const T* bias = nullptr);

// C = beta*C + op(A) * Bp (+ bias[n] on every row), threaded over a team when worth it (not
// inside a parallel region). asum (transA only; nullptr: none): asum[i] += sum over k of
// op(A)(i, k), in order of k (as the blocks of A are packed: the same sums, bitwise, as one
// pass adding A's rows in order).
template <typename T>
void gemm_packed(int64_t M, const T* A, int64_t lda, bool transA, const PackedB<T>& Bp, T beta,
                 T* C, int64_t ldc, const T* bias = nullptr, T* asum = nullptr);

// C = beta*C + A * op(B) without packing, on the calling thread: for a few rows of A.
template <typename T>
void gemm_direct(int64_t M, int64_t N, int64_t K, const T* A, int64_t lda, const T* B, int64_t ldb,
                 bool transB, T beta, T* C, int64_t ldc);

// Rows of A up to which gemm() multiplies unpacked.
constexpr int64_t kDirectMaxRows = 4;

// C = beta*C + op(A) * op(B) (+ bias[n] on every row), packing B internally into the thread's
// workspace. asum: as gemm_packed's.
template <typename T>
void gemm(bool transA, bool transB, int64_t M, int64_t N, int64_t K, const T* A, int64_t lda,
          const T* B, int64_t ldb, T beta, T* C, int64_t ldc, const T* bias = nullptr,
          T* asum = nullptr);

}  // namespace gemm
}  // namespace rnnfast
