// The fused elementwise passes compiled for avx2 (flags set per file in CMakeLists.txt);
// everything here has internal linkage but the exported table.
#include <immintrin.h>

#include <cstdint>
#include <type_traits>  // pointwise.h: std::true_type

#include "cells/pointwise_table.h"

namespace rnnfast {
namespace detail {
namespace {

#include "cells/activations.h"
#include "cells/activations_avx2.h"
#include "cells/pointwise.h"

constexpr Pointwise kTable = {"avx2", make_table<float>(), make_table<double>()};

}  // namespace

const Pointwise* pointwise_avx2() { return &kTable; }

}  // namespace detail
}  // namespace rnnfast
