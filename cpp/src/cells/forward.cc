// Forward of one recurrent layer, one direction: the public rnnfast::forward() (rnnfast.h), which
// validates, dispatches on the cell and runs the product cells' driver (forward_driver.h) without
// zoneout here, with it in forward_zoneout.cc; the other families' drivers are elsewhere
// (elementwise.h).
#include "cells/forward_driver.h"

namespace rnnfast {

template <typename T>
void forward(Cell cell, T* y, T* h_n, T* c_n, T* reserve, const T* x, const T* h0, const T* c0,
             const int64_t* lengths, const T* h_mask, const Weights<T>& w, const Dims& d,
             bool reverse, const Zoneout<T>& zoneout) {
  detail::validate(cell, d, w.w_ih, w.w_hh, w.b_ih, w.b_hh, w.w_hr, lengths,
                   reinterpret_cast<const void* const*>(w.extra));
  detail::validate_zoneout(cell, d, zoneout);
  const detail::DenormalsOff flush;
  if (!x) throw std::invalid_argument("x: expected a [T,B,I] input, got a null pointer");
  if (!y)
    throw std::invalid_argument("y: expected a [T,B,H_out] output buffer, got a null pointer");
  detail::dispatch_cell(cell, [&](auto K) {
    using Kt = decltype(K);
    if constexpr (Kt::kRecurrence == detail::Recurrence::kDiagonal) {
      if (zoneout.on())
        detail::run_forward_diagonal<T, Kt, true>(y, h_n, c_n, reserve, x, h0, c0, lengths, h_mask,
                                                  w, d, reverse, zoneout);
      else
        detail::run_forward_diagonal<T, Kt, false>(y, h_n, c_n, reserve, x, h0, c0, lengths, h_mask,
                                                   w, d, reverse, zoneout);
    } else if constexpr (Kt::kRecurrence == detail::Recurrence::kScan)
      detail::run_forward_scan<T, Kt>(y, h_n, c_n, reserve, x, h0, c0, lengths, h_mask, w, d,
                                      reverse);
    else if (zoneout.on())
      detail::forward_zoneout<T>(cell, y, h_n, c_n, reserve, x, h0, c0, lengths, h_mask, w, d,
                                 reverse, zoneout);
    else
      run_forward<T, Kt, false>(y, h_n, c_n, reserve, x, h0, c0, lengths, h_mask, w, d, reverse,
                                zoneout);
  });
}

template void forward<float>(Cell, float*, float*, float*, float*, const float*, const float*,
                             const float*, const int64_t*, const float*, const Weights<float>&,
                             const Dims&, bool, const Zoneout<float>&);
template void forward<double>(Cell, double*, double*, double*, double*, const double*,
                              const double*, const double*, const int64_t*, const double*,
                              const Weights<double>&, const Dims&, bool, const Zoneout<double>&);

}  // namespace rnnfast
