// The ops' kernels follow the instruction set the GEMM uses (gemm/dispatch.cc decides; this
// file only looks the name up), so rnnfast::set_isa switches every kernel at once.
#include <cstring>

#include "gemm/kernels.h"
#include "ops/table.h"

namespace rnnfast {
namespace ops {
namespace detail {

const Ops& active_ops() {
  const char* name = gemm::active_kernels().name;
  if (std::strcmp(name, "avx512") == 0 && ops_avx512()) return *ops_avx512();
  if (std::strcmp(name, "avx2") == 0 && ops_avx2()) return *ops_avx2();
  return ops_portable();
}

#ifdef RNNFAST_NO_X86_KERNELS
const Ops* ops_avx2() { return nullptr; }
const Ops* ops_avx512() { return nullptr; }
#endif

}  // namespace detail
}  // namespace ops
}  // namespace rnnfast
