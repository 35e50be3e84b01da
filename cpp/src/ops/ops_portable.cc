// The ops' elementwise kernels compiled for portable (flags set per file in CMakeLists.txt);
// everything here has internal linkage but the exported table.
#include <cstdint>

#include "ops/table.h"

namespace rnnfast {
namespace ops {
namespace detail {
namespace {

#include "cells/activations.h"
#include "ops/kernels.h"

constexpr Ops kTable = {"portable", make_ops_table<float>(), make_ops_table<double>()};

}  // namespace

const Ops& ops_portable() { return kTable; }

}  // namespace detail
}  // namespace ops
}  // namespace rnnfast
