// The product cells' forward with zoneout (rnnfast.h, Zoneout): run_forward's Z instantiation,
// apart from forward.cc so that the driver without zoneout compiles as it did before
// (forward_driver.h).
#include "cells/forward_driver.h"

namespace rnnfast {
namespace detail {

template <typename T>
void forward_zoneout(Cell cell, T* y, T* h_n, T* c_n, T* reserve, const T* x, const T* h0,
                     const T* c0, const int64_t* lengths, const T* h_mask, const Weights<T>& w,
                     const Dims& d, bool reverse, const Zoneout<T>& zo) {
  dispatch_cell(cell, [&](auto K) {
    using Kt = decltype(K);
    if constexpr (Kt::kRecurrence == Recurrence::kProduct)
      run_forward<T, Kt, true>(y, h_n, c_n, reserve, x, h0, c0, lengths, h_mask, w, d, reverse, zo);
    else
      throw std::logic_error("forward_zoneout: a cell without a recurrent product");
  });
}

template void forward_zoneout<float>(Cell, float*, float*, float*, float*, const float*,
                                     const float*, const float*, const int64_t*, const float*,
                                     const Weights<float>&, const Dims&, bool,
                                     const Zoneout<float>&);
template void forward_zoneout<double>(Cell, double*, double*, double*, double*, const double*,
                                      const double*, const double*, const int64_t*, const double*,
                                      const Weights<double>&, const Dims&, bool,
                                      const Zoneout<double>&);

}  // namespace detail
}  // namespace rnnfast
