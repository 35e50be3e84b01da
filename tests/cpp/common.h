// common.h: the arguments and buffers of one forward + backward call of the rnnfast C++ API,
// shared by the C++ API tests (tests/cpp/test_api.cc) and the fuzz target
// (tests/fuzz/fuzz_api.cc, which includes it as "../cpp/common.h").
// A layer's arrays are generated in double and cast to the type under test; the output
// buffers are sized for the layer's (valid) dims. It deliberately does not generate values,
// call forward/backward or check results: each program does that its own way.
#pragma once

#include <rnnfast/rnnfast.h>

#include <cstddef>
#include <cstdint>
#include <vector>

namespace rnnfast_test {

template <typename T>
std::vector<T> cast(const std::vector<double>& v) {
  return std::vector<T>(v.begin(), v.end());
}

// An absent (empty) array is passed as a null pointer.
template <typename T>
const T* ptr(const std::vector<T>& v) {
  return v.empty() ? nullptr : v.data();
}
template <typename T>
T* mptr(std::vector<T>& v) {
  return v.empty() ? nullptr : v.data();
}

// One layer's input arrays in double, by the API's names; an absent one is empty. p: the
// cell's extra parameters (Weights::extra), if it has any, one after the other: p_sizes
// holds their lengths (empty: p is extra[0] alone). zh, zc, zh_prob, zc_prob: the call's
// zoneout (rnnfast::Zoneout: masks, or probabilities where a mask is empty).
struct Arrays {
  std::vector<double> x, w_ih, w_hh, b_ih, b_hh, w_hr, h0, c0, mask, dy, dh_n, dc_n, p;
  std::vector<int64_t> p_sizes;
  std::vector<double> zh, zc;
  double zh_prob = 0, zc_prob = 0;
};

// Points ptrs[k] at extra parameter k of p (see Arrays), null where absent.
template <typename P, typename V>
void point_extras(V& p, const std::vector<int64_t>& sizes, P* ptrs) {
  if (sizes.empty()) {
    ptrs[0] = p.empty() ? nullptr : p.data();
    return;
  }
  int64_t off = 0;
  for (size_t k = 0; k < sizes.size(); ++k) {
    ptrs[k] = p.data() + off;
    off += sizes[k];
  }
}

// Those arrays cast to T, and the Weights over them (null where absent). Not copyable: w
// points into the vectors.
template <typename T>
struct Args {
  std::vector<T> x, w_ih, w_hh, b_ih, b_hh, w_hr, h0, c0, mask, dy, dh_n, dc_n, p;
  std::vector<int64_t> p_sizes;
  std::vector<T> zh, zc;
  rnnfast::Weights<T> w;
  rnnfast::Zoneout<T> z;

  explicit Args(const Arrays& a)
      : x(cast<T>(a.x)),
        w_ih(cast<T>(a.w_ih)),
        w_hh(cast<T>(a.w_hh)),
        b_ih(cast<T>(a.b_ih)),
        b_hh(cast<T>(a.b_hh)),
        w_hr(cast<T>(a.w_hr)),
        h0(cast<T>(a.h0)),
        c0(cast<T>(a.c0)),
        mask(cast<T>(a.mask)),
        dy(cast<T>(a.dy)),
        dh_n(cast<T>(a.dh_n)),
        dc_n(cast<T>(a.dc_n)),
        p(cast<T>(a.p)),
        p_sizes(a.p_sizes),
        zh(cast<T>(a.zh)),
        zc(cast<T>(a.zc)) {
    w.w_ih = ptr(w_ih);
    w.w_hh = ptr(w_hh);
    w.b_ih = ptr(b_ih);
    w.b_hh = ptr(b_hh);
    w.w_hr = ptr(w_hr);
    point_extras(p, p_sizes, w.extra);
    z.h = ptr(zh);
    z.c = ptr(zc);
    z.h_prob = static_cast<T>(a.zh_prob);
    z.c_prob = static_cast<T>(a.zc_prob);
  }
  Args(const Args&) = delete;
  Args& operator=(const Args&) = delete;
};

// Every output of forward and backward, and the training reserve between them.
template <typename T>
struct Outputs {
  std::vector<T> y, h_n, c_n, reserve, dx, dh0, dc0, dw_ih, dw_hh, db_ih, db_hh, dw_hr, dp;

  // forward's outputs (c_n for the LSTMs only) and the reserve (with zoneout's block when
  // `zoneout`), for dims d, every element `fill`.
  void alloc_forward(rnnfast::Cell cell, const rnnfast::Dims& d, T fill, bool zoneout = false) {
    y.assign(static_cast<size_t>(d.T * d.B * d.H_out), fill);
    h_n.assign(static_cast<size_t>(d.B * d.H_out), fill);
    if (rnnfast::has_cell_state(cell)) c_n.assign(static_cast<size_t>(d.B * d.H), fill);
    reserve.assign(static_cast<size_t>(rnnfast::reserve_size(cell, d, zoneout)), fill);
  }

  // backward's activation gradients (dc0 for the LSTMs only), every element `fill`, and zeroed
  // parameter gradients shaped like a's weights (backward accumulates into them). Returns the
  // WeightGrads over them: null where the weight is absent.
  rnnfast::WeightGrads<T> alloc_backward(rnnfast::Cell cell, const rnnfast::Dims& d,
                                         const Args<T>& a, T fill) {
    dx.assign(static_cast<size_t>(d.T * d.B * d.I), fill);
    dh0.assign(static_cast<size_t>(d.B * d.H_out), fill);
    if (rnnfast::has_cell_state(cell)) dc0.assign(static_cast<size_t>(d.B * d.H), fill);
    dw_ih.assign(a.w_ih.size(), T(0));
    dw_hh.assign(a.w_hh.size(), T(0));
    db_ih.assign(a.b_ih.size(), T(0));
    db_hh.assign(a.b_hh.size(), T(0));
    dw_hr.assign(a.w_hr.size(), T(0));
    dp.assign(a.p.size(), T(0));
    rnnfast::WeightGrads<T> g;
    g.dw_ih = mptr(dw_ih);
    g.dw_hh = mptr(dw_hh);
    g.db_ih = mptr(db_ih);
    g.db_hh = mptr(db_hh);
    g.dw_hr = mptr(dw_hr);
    point_extras(dp, a.p_sizes, g.dextra);
    return g;
  }
};

}  // namespace rnnfast_test
