// The product cells' backward with zoneout (rnnfast.h, Zoneout): run_backward's Z
// instantiation, apart from backward.cc so that the driver without zoneout compiles as it did
// before (backward_driver.h).
#include "cells/backward_driver.h"

namespace rnnfast {
namespace detail {

template <typename T>
void backward_zoneout(Cell cell, T* dx, T* dh0, T* dc0, const WeightGrads<T>& dw, const T* reserve,
                      const T* dy, const T* dh_n, const T* dc_n, const T* x, const T* y,
                      const int64_t* lengths, const T* h_mask, const Weights<T>& w, const Dims& d,
                      bool reverse, const Zoneout<T>& zo) {
  dispatch_cell(cell, [&](auto K) {
    using Kt = decltype(K);
    if constexpr (Kt::kRecurrence == Recurrence::kProduct)
      run_backward<T, Kt, true>(dx, dh0, dc0, dw, reserve, dy, dh_n, dc_n, x, y, lengths, h_mask, w,
                                d, reverse, zo);
    else
      throw std::logic_error("backward_zoneout: a cell without a recurrent product");
  });
}

template void backward_zoneout<float>(Cell, float*, float*, float*, const WeightGrads<float>&,
                                      const float*, const float*, const float*, const float*,
                                      const float*, const float*, const int64_t*, const float*,
                                      const Weights<float>&, const Dims&, bool,
                                      const Zoneout<float>&);
template void backward_zoneout<double>(Cell, double*, double*, double*, const WeightGrads<double>&,
                                       const double*, const double*, const double*, const double*,
                                       const double*, const double*, const int64_t*, const double*,
                                       const Weights<double>&, const Dims&, bool,
                                       const Zoneout<double>&);

}  // namespace detail
}  // namespace rnnfast
