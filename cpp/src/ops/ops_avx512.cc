// The ops' elementwise kernels compiled for avx512 (flags set per file in CMakeLists.txt);
// everything here has internal linkage but the exported table.
// GCC 12 reports the intrinsics' own _mm512_undefined_* placeholders as maybe-uninitialized
// (a false positive, GCC bug 105593) wherever they are inlined.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include <cstdint>

#include "ops/table.h"

namespace rnnfast {
namespace ops {
namespace detail {
namespace {

#include "cells/activations.h"
#include "ops/kernels.h"

constexpr Ops kTable = {"avx512", make_ops_table<float>(), make_ops_table<double>()};

}  // namespace

const Ops* ops_avx512() { return &kTable; }

}  // namespace detail
}  // namespace ops
}  // namespace rnnfast
