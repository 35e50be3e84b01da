// The contract between the cell drivers (forward_driver.h, backward_driver.h) and one instruction
// set's fused elementwise passes (pointwise_<isa>.cc, see pointwise.h for what each computes).
#pragma once

#include <cstdint>

namespace rnnfast {
namespace detail {

template <typename T>
struct PointwiseTable {
  void (*lstm_fwd)(int64_t n, const T* p, int64_t ps, const T* r, int64_t rs, T* c, T* h, T* y,
                   T* sg, int64_t sgs, T* c_save);
  void (*gru_fwd)(int64_t n, const T* p, int64_t ps, const T* r, int64_t rs, const T* rn,
                  const T* b_hn, const T* hprev, T* h, T* y, T* sg, int64_t sgs, T* hn_save);
  void (*rnn_fwd)(int64_t n, const T* p, const T* r, T* h, T* y, T* sg, bool relu);
  void (*lstm_bwd)(int64_t n, const T* g, int64_t gs, const T* cp, const T* ct, const T* dm, T* dc,
                   T* dg, int64_t dgs, T* dgr, int64_t dgrs);
  void (*gru_bwd)(int64_t n, const T* g, int64_t gs, const T* hp, const T* hn, const T* dh, T* dg,
                  int64_t dgs, T* drn, T* drs, int64_t drs_step, T* dhd);
  void (*rnn_bwd)(int64_t n, const T* h, const T* dh, T* dg, T* dgr, bool relu);
  // LSTM_PEEPHOLE (pointwise_lstm_peephole.h)
  void (*lstmp_fwd)(int64_t n, const T* p, int64_t ps, const T* r, int64_t rs, const T* wp,
                    int64_t wps, T* c, T* h, T* y, T* sg, int64_t sgs, T* c_save);
  void (*lstmp_bwd)(int64_t n, const T* g, int64_t gs, const T* cp, const T* ct, const T* wp,
                    int64_t wps, const T* dm, T* dc, T* dg, int64_t dgs);
  // GRU_RESET_BEFORE, the halves around its second product (pointwise_gru_reset_before.h)
  void (*grb_fwd_a)(int64_t n, const T* p, int64_t ps, const T* r, int64_t rs, const T* hm, T* rh,
                    T* rh_save, T* gz, int64_t gzs);
  void (*grb_fwd_b)(int64_t n, const T* pn, const T* rn, const T* z, const T* hprev, T* h, T* y,
                    T* ng);
  void (*grb_bwd_a)(int64_t n, const T* g, int64_t gs, const T* hp, const T* dh, T* dg, int64_t dgs,
                    T* dhd);
  void (*grb_bwd_b)(int64_t n, const T* drh, const T* g, const T* hp, const T* mask, T* dg, T* dhd);
  // 0 sigmoid, 1 tanh: the tests, and the layer-normalized cells' steps (cells/rownorm.h)
  void (*eval)(int which, int64_t n, const T* x, T* out);
};

struct Pointwise {
  const char* name;
  PointwiseTable<float> f32;
  PointwiseTable<double> f64;
};

const Pointwise& pointwise_portable();
const Pointwise* pointwise_avx2();    // nullptr when not compiled in
const Pointwise* pointwise_avx512();  // nullptr when not compiled in

// The table of the active instruction set (the same one the GEMM uses).
const Pointwise& active_pointwise();

template <typename T>
const PointwiseTable<T>& table(const Pointwise& p);
template <>
inline const PointwiseTable<float>& table<float>(const Pointwise& p) {
  return p.f32;
}
template <>
inline const PointwiseTable<double>& table<double>(const Pointwise& p) {
  return p.f64;
}

}  // namespace detail
}  // namespace rnnfast
