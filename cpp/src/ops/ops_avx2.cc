// The ops' elementwise kernels compiled for avx2 (flags set per file in CMakeLists.txt);
// everything here has internal linkage but the exported table.
#include <immintrin.h>

#include <cstdint>

#include "ops/table.h"

namespace rnnfast {
namespace ops {
namespace detail {
namespace {

#include "cells/activations.h"
#include "ops/kernels.h"

constexpr Ops kTable = {"avx2", make_ops_table<float>(), make_ops_table<double>()};

}  // namespace

const Ops* ops_avx2() { return &kTable; }

}  // namespace detail
}  // namespace ops
}  // namespace rnnfast
