// The fused elementwise passes compiled for avx512 (flags set per file in CMakeLists.txt);
// everything here has internal linkage but the exported table.
// GCC 12 reports the intrinsics' own _mm512_undefined_* placeholders as maybe-uninitialized
// (a false positive, GCC bug 105593) wherever they are inlined; the pragma must precede the
// header for its lines to be covered.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include <cstdint>
#include <type_traits>  // pointwise.h: std::true_type

#include "cells/pointwise_table.h"

namespace rnnfast {
namespace detail {
namespace {

#include "cells/activations.h"
#include "cells/activations_avx512.h"
#include "cells/pointwise.h"

constexpr Pointwise kTable = {"avx512", make_table<float>(), make_table<double>()};

}  // namespace

const Pointwise* pointwise_avx512() { return &kTable; }

}  // namespace detail
}  // namespace rnnfast
