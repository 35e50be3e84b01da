// Backward of one recurrent layer, one direction: the public rnnfast::backward() (rnnfast.h), which
// validates, dispatches on the cell and runs the product cells' driver (backward_driver.h) without
// zoneout here, with it in backward_zoneout.cc; the other families' drivers are elsewhere
// (elementwise.h).
#include "cells/backward_driver.h"

namespace rnnfast {

template <typename T>
void backward(Cell cell, T* dx, T* dh0, T* dc0, const WeightGrads<T>& dw, const T* reserve,
              const T* dy, const T* dh_n, const T* dc_n, const T* x, const T* y,
              const int64_t* lengths, const T* h_mask, const Weights<T>& w, const Dims& d,
              bool reverse, const Zoneout<T>& zoneout) {
  detail::validate(cell, d, w.w_ih, w.w_hh, w.b_ih, w.b_hh, w.w_hr, lengths,
                   reinterpret_cast<const void* const*>(w.extra));
  detail::validate_zoneout(cell, d, zoneout);
  const detail::DenormalsOff flush;
  if (!reserve)
    throw std::invalid_argument(
        "reserve: expected the reserve of a training forward, got a null pointer");
  if (!y)
    throw std::invalid_argument("y: expected the forward's [T,B,H_out] output, got a null pointer");
  if (dw.dw_ih && !x)
    throw std::invalid_argument(
        "x: expected the [T,B,I] input of the forward (needed for dw_ih), got a null pointer");
  detail::dispatch_cell(cell, [&](auto K) {
    using Kt = decltype(K);
    if constexpr (Kt::kRecurrence == detail::Recurrence::kDiagonal) {
      if (zoneout.on())
        detail::run_backward_diagonal<T, Kt, true>(dx, dh0, dc0, dw, reserve, dy, dh_n, dc_n, x, y,
                                                   lengths, h_mask, w, d, reverse, zoneout);
      else
        detail::run_backward_diagonal<T, Kt, false>(dx, dh0, dc0, dw, reserve, dy, dh_n, dc_n, x, y,
                                                    lengths, h_mask, w, d, reverse, zoneout);
    } else if constexpr (Kt::kRecurrence == detail::Recurrence::kScan)
      detail::run_backward_scan<T, Kt>(dx, dh0, dc0, dw, reserve, dy, dh_n, dc_n, x, y, lengths,
                                       h_mask, w, d, reverse);
    else if (zoneout.on())
      detail::backward_zoneout<T>(cell, dx, dh0, dc0, dw, reserve, dy, dh_n, dc_n, x, y, lengths,
                                  h_mask, w, d, reverse, zoneout);
    else
      run_backward<T, Kt, false>(dx, dh0, dc0, dw, reserve, dy, dh_n, dc_n, x, y, lengths, h_mask,
                                 w, d, reverse, zoneout);
  });
}

template void backward<float>(Cell, float*, float*, float*, const WeightGrads<float>&, const float*,
                              const float*, const float*, const float*, const float*, const float*,
                              const int64_t*, const float*, const Weights<float>&, const Dims&,
                              bool, const Zoneout<float>&);
template void backward<double>(Cell, double*, double*, double*, const WeightGrads<double>&,
                               const double*, const double*, const double*, const double*,
                               const double*, const double*, const int64_t*, const double*,
                               const Weights<double>&, const Dims&, bool, const Zoneout<double>&);

}  // namespace rnnfast
