// Internal GEMM interface: every matrix product of the cells goes through here, so a later
// micro-kernel per instruction set replaces the inside without touching the cells.
//
// Contract (row-major):  C[M,N] = beta * C + op(A)[M,K] * op(B)[K,N]
//   op(A)(i,k) = transA ? A[k*lda + i] : A[i*lda + k]
//   op(B)(k,n) = transB ? B[n*ldb + k] : B[k*ldb + n]
//   beta == 0: C is never read (so it may hold garbage or NaN).
// B is packed into column panels of NR (zero padded to whole panels, the whole K per panel);
// A is read in place with general strides. A PackedB can be made once and reused for many
// products (the recurrent weights are packed once per sequence and used at every step).
// No function-level statics: packed buffers belong to the caller.
#pragma once

#include <cstdint>
#include <vector>

namespace rnnfast {
namespace gemm {

template <typename T>
struct Tile {
  static constexpr int MR = 6;                          // rows of C per micro-kernel call
  static constexpr int NR = 64 / static_cast<int>(sizeof(T));  // 16 floats / 8 doubles
};

template <typename T>
class PackedB {
 public:
  PackedB() = default;
  // Packs op(B) [K,N]. Reuses its storage when the new size fits.
  void pack(const T* B, int64_t ldb, bool transB, int64_t K, int64_t N);
  int64_t K() const { return K_; }
  int64_t N() const { return N_; }
  int64_t panels() const { return panels_; }
  const T* panel(int64_t j) const { return data_.data() + j * K_ * Tile<T>::NR; }

 private:
  std::vector<T> data_;
  int64_t K_ = 0, N_ = 0, panels_ = 0;
};

// C = beta*C + op(A) * Bp, threaded over the calling team when worth it.
template <typename T>
void gemm_packed(int64_t M, const T* A, int64_t lda, bool transA, const PackedB<T>& Bp, T beta,
                 T* C, int64_t ldc);

// C = beta*C + op(A) * op(B), packing B internally (allocates: not for time loops).
template <typename T>
void gemm(bool transA, bool transB, int64_t M, int64_t N, int64_t K, const T* A, int64_t lda,
          const T* B, int64_t ldb, T beta, T* C, int64_t ldc);

}  // namespace gemm
}  // namespace rnnfast
