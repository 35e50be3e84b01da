// The number types of one computation: the policy the cell drivers (forward_driver.h,
// backward_driver.h) are templated on, beside the cell's traits (traits.h).
//   Storage  the caller's arrays (x, y, the states, the weights, every gradient) and the
//            training reserve;
//   Compute  the elementwise passes (gates, the cell state c, dG) and the sums the drivers take
//            themselves (bias gradients, peephole gradients);
//   Operand  what the products read: the weights packed once per call (gemm::PackedB<Operand>)
//            and the rows of A, rounded to it as a micro-kernel reads them; a product
//            accumulates in Compute.
// float32 and float64 are Precision<float> and Precision<double>: all three types the same,
// every path the one it has always been. A mixed mode (bfloat16 operands, float32 state and
// accumulation) is Precision<float, float, bf16>: it needs the GEMM's kernels for that operand
// (a micro-kernel declares its packed layout, gemm/kernels.h) and Products below for it, and
// no change to a cell. docs/ARCHITECTURE.md, "How to add a precision".
#pragma once

#include <cstdint>
#include <type_traits>

#include "cells/pointwise_table.h"
#include "gemm/gemm.h"
#include "workspace.h"

namespace rnnfast {
namespace detail {

template <typename S, typename C = S, typename O = S>
struct Precision {
  using Storage = S;
  using Compute = C;
  using Operand = O;
};

// The products of a cell driver, for precision P: the GEMM entry points (gemm/gemm.h) with the
// operand type P's. Defined for Storage == Compute == Operand; a mixed precision adds its own.
template <typename P, typename = void>
struct Products {
  static_assert(sizeof(P) == 0,
                "no products for this precision: add a Products specialization and the GEMM "
                "kernels of its operand type (docs/ARCHITECTURE.md, \"How to add a precision\")");
};

template <typename P>
struct Products<P, std::enable_if_t<std::is_same_v<typename P::Storage, typename P::Compute> &&
                                    std::is_same_v<typename P::Storage, typename P::Operand>>> {
  using T = typename P::Storage;
  using Packed = gemm::PackedB<T>;

  // The calling thread's packed weights in workspace slot s.
  static Packed& packed(Workspace& ws, PackSlot s) { return ws.packed<T>(s); }
  // C[M, Bp's columns] = beta*C + op(A) * Bp, one thread (a time loop's step: walk.step).
  static void serial(int64_t M, const T* A, int64_t lda, bool transA, const Packed& Bp, T beta,
                     T* C, int64_t ldc, const gemm::Walk& walk, const T* bias = nullptr) {
    gemm::gemm_serial<T>(M, A, lda, transA, Bp, beta, C, ldc, walk, bias);
  }
  // The same over the team (threads_for): the products over all positions.
  static void packed_product(int64_t M, const T* A, int64_t lda, bool transA, const Packed& Bp,
                             T beta, T* C, int64_t ldc, const T* bias = nullptr,
                             T* asum = nullptr) {
    gemm::gemm_packed<T>(M, A, lda, transA, Bp, beta, C, ldc, bias, asum);
  }
  // Unpacked weights, a few rows (a sequence too short to amortize packing).
  static void direct(int64_t M, int64_t N, int64_t K, const T* A, int64_t lda, const T* B,
                     int64_t ldb, bool transB, T beta, T* C, int64_t ldc) {
    gemm::gemm_direct<T>(M, N, K, A, lda, B, ldb, transB, beta, C, ldc);
  }
  // A whole product, packed and threaded by the GEMM itself.
  static void full(bool transA, bool transB, int64_t M, int64_t N, int64_t K, const T* A,
                   int64_t lda, const T* B, int64_t ldb, T beta, T* C, int64_t ldc,
                   const T* bias = nullptr, T* asum = nullptr) {
    gemm::gemm<T>(transA, transB, M, N, K, A, lda, B, ldb, beta, C, ldc, bias, asum);
  }
};

// The elementwise passes of the active instruction set, in P's compute type.
template <typename P>
const PointwiseTable<typename P::Compute>& passes() {
  return table<typename P::Compute>(active_pointwise());
}

}  // namespace detail
}  // namespace rnnfast
