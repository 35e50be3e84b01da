// Drivers of the cells whose step has no recurrent matrix product (CellTraits::kRecurrence):
// kDiagonal (h_{t-1} enters through one weight per unit, w_hh = u [H]) and kScan (the gates
// read x_t only and h_t = a_t * h_{t-1} + b_t). Their input products run over all positions
// at once; what is left per step is elementwise and independent across units, so their time
// loops need no per-step barrier. Same arguments as forward()/backward() (rnnfast.h), already
// validated; each family's driver is defined and instantiated for its cells in its own file.
// The diagonal drivers take zoneout too (Z: on, its own instantiation, as the product
// cells' drivers).
#pragma once

#include <cstdint>

#include "rnnfast/rnnfast.h"

namespace rnnfast {
namespace detail {

template <typename T, typename K, bool Z>
void run_forward_diagonal(T* y, T* h_n, T* c_n, T* reserve, const T* x, const T* h0, const T* c0,
                          const int64_t* lengths, const T* h_mask, const Weights<T>& w,
                          const Dims& d, bool reverse, const Zoneout<T>& zo);
template <typename T, typename K, bool Z>
void run_backward_diagonal(T* dx, T* dh0, T* dc0, const WeightGrads<T>& dw, const T* reserve,
                           const T* dy, const T* dh_n, const T* dc_n, const T* x, const T* y,
                           const int64_t* lengths, const T* h_mask, const Weights<T>& w,
                           const Dims& d, bool reverse, const Zoneout<T>& zo);

template <typename T, typename K>
void run_forward_scan(T* y, T* h_n, T* c_n, T* reserve, const T* x, const T* h0, const T* c0,
                      const int64_t* lengths, const T* h_mask, const Weights<T>& w, const Dims& d,
                      bool reverse);
template <typename T, typename K>
void run_backward_scan(T* dx, T* dh0, T* dc0, const WeightGrads<T>& dw, const T* reserve,
                       const T* dy, const T* dh_n, const T* dc_n, const T* x, const T* y,
                       const int64_t* lengths, const T* h_mask, const Weights<T>& w, const Dims& d,
                       bool reverse);

}  // namespace detail
}  // namespace rnnfast
