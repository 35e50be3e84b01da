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
  static constexpr int kWidePanels = 1;  // no run_panels: the plain loop nest only
  template <int M>
  static void run(int64_t kc, const T* A, int64_t rsa, int64_t csa, const T* Bp, T* C, int64_t ldc,
                  int n, T beta, const T* bias, const T* /*pf*/, int64_t /*pf_lines*/) {
    T acc[M * NR];
    for (int i = 0; i < M * NR; ++i) acc[i] = T(0);
    for (int64_t k = 0; k < kc; ++k) {
      const T* b = Bp + k * NR;
      for (int i = 0; i < M; ++i) {
        const T a = A[i * rsa + k * csa];
        for (int j = 0; j < NR; ++j) acc[i * NR + j] += a * b[j];
      }
    }
    store_tile<T, M, NR>(acc, C, ldc, n, beta, bias);
  }
};

constexpr Kernels kTable = kernel_table<kMR, Portable<float>, Portable<double>>("portable");

}  // namespace

const Kernels& portable_kernels() { return kTable; }

}  // namespace gemm
}  // namespace rnnfast
