// The fused elementwise passes compiled for avx512 (flags set per file in CMakeLists.txt);
// everything here has internal linkage but the exported table.
#include <cstdint>

#include "cells/pointwise_table.h"

namespace rnnfast {
namespace detail {
namespace {

#include "cells/activations.h"
#include "cells/pointwise.h"

const Pointwise kTable = {"avx512", make_table<float>(), make_table<double>()};

}  // namespace

const Pointwise* pointwise_avx512() { return &kTable; }

}  // namespace detail
}  // namespace rnnfast
