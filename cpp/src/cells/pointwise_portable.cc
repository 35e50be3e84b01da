// The fused elementwise passes compiled for portable (flags set per file in CMakeLists.txt);
// everything here has internal linkage but the exported table.
#include <cstdint>
#include <type_traits>  // pointwise.h: std::true_type

#include "cells/pointwise_table.h"

namespace rnnfast {
namespace detail {
namespace {

#include "cells/activations.h"
#include "cells/pointwise.h"

constexpr Pointwise kTable = {"portable", make_table<float>(), make_table<double>()};

}  // namespace

const Pointwise& pointwise_portable() { return kTable; }

}  // namespace detail
}  // namespace rnnfast
