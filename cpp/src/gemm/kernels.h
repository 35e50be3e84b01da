// The contract between the GEMM front end (gemm.cc) and one instruction set's kernels.
//
// Each ISA translation unit (ukernel_portable.cc, ukernel_avx2.cc, ukernel_avx512.cc) is built
// with its own compile flags and exports one table of serial drivers. A serial driver computes
//   C[m0:m1, panels p0:p1] = beta*C + op(A)[m0:m1, :] * Bp[:, panels p0:p1]
// with op(A)(i,k) = A[i*rsa + k*csa] and Bp packed in column panels of NR (the table's nr for
// that type), each panel [K x NR] contiguous and zero padded. beta == 0: C is never read.
// Everything inside an ISA TU has internal linkage, so no inline function compiled with wide
// instructions can leak into code that runs on a CPU without them.
#pragma once

#include <cstdint>

namespace rnnfast {
namespace gemm {

// bias (nullptr: none) adds bias[n] to every row of C. apack (nullptr: A is read in place) is
// the calling thread's scratch of ceil(kMC / mr) * mr * kKC elements, into which blocks of a
// transposed A (rsa == 1) are packed (see driver.h). asum (nullptr: none; needs apack and the
// default walk): asum[i - m0] += op(A)(i, k) for every k, in order of k, as the blocks are
// packed (a bias gradient is the row sums of the dW product's dG^T: no pass of its own).
// walk: how the driver goes over B (Walk).
struct Walk;
template <typename T>
using SerialFn = void (*)(int64_t m0, int64_t m1, int64_t p0, int64_t p1, const T* A, int64_t rsa,
                          int64_t csa, const T* Bp, int64_t K, int64_t N, T beta, const T* bias,
                          T* C, int64_t ldc, T* apack, T* asum, const Walk& walk);

// How a serial driver goes over the packed B. The default: passes of kKC over k, panels in
// ascending order. A time loop's product of the same weights at every step (step = true) takes
// the whole depth in one pass (a few rows of A: the panel stays in L2 across its tiles, and
// each pass over C would cost a reload), and with reverse = true goes over the panels in
// descending order: alternating the order from step to step, the panels a step read last --
// still in L2 -- are the first the next step needs. Each element of C is the same chain of FMAs
// in either panel order, so results do not depend on it. It pays when a thread's weights
// exceed L2 (docs/ARCHITECTURE.md, "GEMM micro-kernels and drivers").
struct Walk {
  bool step = false;
  bool reverse = false;
};

// Blocking shared by every ISA. KC: depth of one pass over a panel; MC: rows of A per block.
// KC = 512 beats 256 and 384 at the LSTM sizes (half the passes over C; the 64 KB panel slice
// is read from L2). Blocks of A are not packed (BLIS style): at these shapes each thread would
// re-pack all of A for only a few panels, and the hardware streams the strided rows of A well
// enough (docs/ARCHITECTURE.md).
constexpr int64_t kKC = 512;
constexpr int64_t kMC = 96;

// Unpacked product for a few rows of A (no packing to amortize, e.g. one step of a cell):
//   C[M,N] = beta*C + A[M,K] * op(B),  op(B)(k,n) = transB ? B[n*ldb + k] : B[k*ldb + n].
template <typename T>
using DirectFn = void (*)(int64_t M, int64_t N, int64_t K, const T* A, int64_t lda, const T* B,
                          int64_t ldb, bool transB, T beta, T* C, int64_t ldc);

// One element type's kernels of an instruction set, with the layout of packed B that its
// micro-kernel reads: panels of nr columns, each [K x nr] row-major when kgroup == 1. The
// layout belongs to the micro-kernel, not to the element's size: a kernel whose instructions
// take pairs or tiles of k (AVX-512 BF16, AMX) declares kgroup > 1, and packing must then
// interleave that many consecutive values of k per column (not implemented yet: PackedB
// refuses such a table).
template <typename T>
struct TypedKernels {
  int nr;      // panel width
  int kgroup;  // consecutive values of k stored together per column
  SerialFn<T> serial;
  DirectFn<T> direct;
};

struct Kernels {
  const char* name;  // "portable", "avx2", "avx512"
  int mr;            // rows per micro-kernel call (informational)
  TypedKernels<float> f32;
  TypedKernels<double> f64;
};

// The kernels of element type T: defined for the types an instruction set has kernels for
// (float, double); any other type is a compile error, never another type's layout.
template <typename T>
const TypedKernels<T>& typed(const Kernels& k);
template <>
inline const TypedKernels<float>& typed<float>(const Kernels& k) {
  return k.f32;
}
template <>
inline const TypedKernels<double>& typed<double>(const Kernels& k) {
  return k.f64;
}

const Kernels& portable_kernels();
const Kernels* avx2_kernels();    // nullptr when not compiled in (non-x86 builds)
const Kernels* avx512_kernels();  // nullptr when not compiled in

// dispatch.cc: the one place that decides. Chosen once (newest the CPU and OS support, or the
// RNNFAST_ISA environment variable), changeable by set_isa for tests.
const Kernels& active_kernels();

}  // namespace gemm
}  // namespace rnnfast
