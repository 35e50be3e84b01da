// fuzz_api: a libFuzzer target for the rnnfast C++ API (built with RNNFAST_FUZZ=ON, clang,
// AddressSanitizer and UndefinedBehaviorSanitizer; run by .ci/fuzz.sh).
//
// The input bytes decode into a cell, dimensions, options, thread count and time-loop split,
// every array's values, a zoneout (masks or probabilities, on h and the LSTMs' c; its byte comes
// last, so older inputs decode as before), and optionally one invalid argument. Buffers always have
// exactly the sizes the *valid* dimensions need, so a check the API misses becomes an out-of-bounds
// access that ASan reports. Each input must end in one of two ways:
//  - invalid argument: forward/backward throw std::invalid_argument (anything else aborts);
//  - valid arguments: forward with a training reserve, then BPTT, in float and in double, with
//    no sanitizer report; for bounded finite inputs every result is finite and float agrees
//    with double to 1e-3 of the array's scale (a gross-error oracle, not an accuracy test:
//    tests/test_kernels.py checks accuracy against the NumPy reference).
// It does not fuzz the Python bindings (tests/test_fuzz.py does, through hypothesis).
#include <rnnfast/rnnfast.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include "../cpp/common.h"

namespace {

using rnnfast::Cell;
using rnnfast::Dims;
using rnnfast_test::mptr;
using rnnfast_test::Outputs;
using rnnfast_test::ptr;

[[noreturn]] void fail(const char* what) {
  std::fprintf(stderr, "fuzz_api: %s\n", what);
  std::abort();
}

// Reads bytes; past the end, zeros.
struct Bytes {
  const uint8_t* p;
  size_t n, i = 0;
  uint8_t next() { return i < n ? p[i++] : 0; }
};

struct Input : rnnfast_test::Arrays {
  Cell cell = Cell::LSTM;
  Dims d;
  bool reverse = false, bias = false, use_h0 = false, use_c0 = false, use_lengths = false,
       use_mask = false;
  bool wild = false;  // values include NaN, Inf, huge and denormal numbers
  int threads = 1, split = 0, isa = 0, pair = 0, invalid = -1;
  std::vector<int64_t> len;
};

double value(uint8_t b, bool wild) {
  if (wild) {
    switch (b) {
      case 0xFF:
        return std::numeric_limits<double>::quiet_NaN();
      case 0xFE:
        return std::numeric_limits<double>::infinity();
      case 0xFD:
        return -std::numeric_limits<double>::infinity();
      case 0xFC:
        return 1e30;
      case 0xFB:
        return -1e30;
      case 0xFA:
        return 1e-40;  // a float denormal
      default:
        break;
    }
  }
  return (static_cast<double>(b) - 128.0) / 64.0;  // [-2, 2)
}

std::vector<double> fill(Bytes& in, int64_t n, bool wild) {
  std::vector<double> v(static_cast<size_t>(n));
  for (auto& e : v) e = value(in.next(), wild);
  return v;
}

bool is_scan(Cell cell) { return cell == Cell::MINGRU || cell == Cell::MINLSTM; }

Input decode(const uint8_t* data, size_t size) {
  Bytes in{data, size};
  Input c;
  const uint8_t b0 = in.next(), b1 = in.next();
  c.cell = static_cast<Cell>(b0 & 3);
  c.reverse = b0 & 4;
  c.bias = b0 & 8;
  c.use_h0 = b0 & 16;
  c.use_c0 = b0 & 32;
  c.use_lengths = b0 & 64;
  c.use_mask = b0 & 128;
  c.threads = (b1 & 1) ? 2 : 1;
  c.split = (b1 >> 1) & 3;  // 0 auto, 1 units, 2 batch, 3 auto
  c.wild = b1 & 8;
  c.isa = (b1 >> 4) & 3;   // index into available_isas(), modulo their number
  c.pair = (b1 >> 6) & 3;  // 1, 2: also run both directions at once through run_pair
  const uint8_t b2 = in.next();
  if (b2 >= 0xC0) c.invalid = b2 % 16;
  // b2's low bit: the GRU and LSTM variants (reset gate before the product, peepholes)
  if (b2 & 1) {
    if (c.cell == Cell::GRU) c.cell = Cell::GRU_RESET_BEFORE;
    if (c.cell == Cell::LSTM) c.cell = Cell::LSTM_PEEPHOLE;
  }
  // b2's second bit: each cell's twin without a recurrent product in its place: the RNNs'
  // IndRNNs (w_hh of H, one bias), minGRU for the GRUs and minLSTM for the LSTMs (no w_hh, no
  // b_hh, no recurrent dropout)
  if (b2 & 2) {
    if (c.cell == Cell::RNN_TANH) c.cell = Cell::INDRNN_TANH;
    if (c.cell == Cell::RNN_RELU) c.cell = Cell::INDRNN_RELU;
    if (c.cell == Cell::GRU || c.cell == Cell::GRU_RESET_BEFORE) c.cell = Cell::MINGRU;
    if (c.cell == Cell::LSTM || c.cell == Cell::LSTM_PEEPHOLE) c.cell = Cell::MINLSTM;
  }
  // b2's third bit: the layer-normalized LSTM and GRU in the LSTMs' and GRUs' place (the
  // second bit, when also set, wins)
  if ((b2 & 4) && !(b2 & 2)) {
    if (c.cell == Cell::GRU || c.cell == Cell::GRU_RESET_BEFORE) c.cell = Cell::LAYERNORM_GRU;
    if (c.cell == Cell::LSTM || c.cell == Cell::LSTM_PEEPHOLE) c.cell = Cell::LAYERNORM_LSTM;
  }
  const bool diagonal = rnnfast::has_diagonal_recurrence(c.cell);
  const bool scan = is_scan(c.cell);
  const bool has_c = rnnfast::has_cell_state(c.cell);
  c.d.T = 1 + in.next() % 12;
  c.d.B = 1 + in.next() % 9;
  c.d.I = 1 + in.next() % 10;
  c.d.H = 1 + in.next() % 20;
  const uint8_t bp = in.next();
  c.d.H_out =
      (rnnfast::has_projection(c.cell) && (bp & 128) && c.d.H > 1) ? 1 + bp % (c.d.H - 1) : c.d.H;
  const int64_t G = rnnfast::num_gates(c.cell), T = c.d.T, B = c.d.B, I = c.d.I, H = c.d.H,
                Ho = c.d.H_out;
  c.x = fill(in, T * B * I, c.wild);
  c.w_ih = fill(in, G * H * I, c.wild);
  if (!scan) c.w_hh = fill(in, diagonal ? H : G * H * Ho, c.wild);
  if (c.bias) {
    c.b_ih = fill(in, G * H, c.wild);
    if (!scan && !diagonal) c.b_hh = fill(in, G * H, c.wild);
  }
  if (Ho != H) c.w_hr = fill(in, Ho * H, c.wild);
  if (c.use_h0) c.h0 = fill(in, B * Ho, c.wild);
  if (c.use_c0 && has_c) c.c0 = fill(in, B * H, c.wild);
  // the cell's extra parameters one after the other (peepholes, the normalizations' gains and
  // shift), each extra_size long
  for (int k = 0; k < rnnfast::num_extras(c.cell); ++k) {
    const std::vector<double> e = fill(in, rnnfast::extra_size(c.cell, H, k), c.wild);
    c.p.insert(c.p.end(), e.begin(), e.end());
    c.p_sizes.push_back(static_cast<int64_t>(e.size()));
  }
  if (c.use_mask && !scan) {
    c.mask.resize(static_cast<size_t>(B * Ho));
    for (auto& m : c.mask) m = (in.next() & 1) ? 0.0 : 2.0;
  }
  if (c.use_lengths)
    for (int64_t b = 0; b < B; ++b) c.len.push_back(1 + in.next() % T);
  if (!c.wild) {  // bounded inputs: weights ~ [-2, 2) / sqrt(fan-in), as initializations do
    auto scale = [](std::vector<double>& v, int64_t fan) {
      for (auto& e : v) e /= std::sqrt(static_cast<double>(fan));
    };
    scale(c.w_ih, I);
    if (!diagonal) scale(c.w_hh, Ho);  // u: one weight per unit, fan-in 1
    scale(c.w_hr, H);
  }
  c.dy = fill(in, T * B * Ho, c.wild);
  c.dh_n = fill(in, B * Ho, c.wild);
  if (has_c) c.dc_n = fill(in, B * H, c.wild);
  // Zoneout: bit 0 on (not for the scan cells), bit 1 masks (from the next bytes' low bits:
  // [T,B,H_out] for h, [T,B,H] for c) or probabilities (k/16 from the next bytes), bit 2 also
  // on c (the LSTMs); bit 7 (with bits 4-5 choosing which): an invalid zoneout instead, when
  // no other argument is invalid.
  const uint8_t bz = in.next();
  if ((bz & 1) && !scan) {
    const bool on_c = (bz & 4) && has_c;
    if (bz & 2) {
      auto masks = [&](int64_t n) {
        std::vector<double> m(static_cast<size_t>(T * B * n));
        for (auto& e : m) e = (in.next() & 1) ? 1.0 : 0.0;
        return m;
      };
      c.zh = masks(Ho);
      if (on_c) c.zc = masks(H);
    } else {
      c.zh_prob = (in.next() % 16) / 16.0;
      if (on_c) c.zc_prob = (in.next() % 16) / 16.0;
    }
  }
  if ((bz & 128) && c.invalid < 0) c.invalid = 16 + ((bz >> 4) & 3);
  return c;
}

// Runs forward + backward with buffers of exactly the valid sizes. With `invalid` >= 0, breaks
// one argument first and requires std::invalid_argument.
template <typename T>
Outputs<T> run(const Input& c, int invalid) {
  const Dims& d = c.d;
  const bool lstm = rnnfast::has_cell_state(c.cell);
  const rnnfast_test::Args<T> a(c);
  Outputs<T> o;
  o.alloc_forward(c.cell, d, T(0), a.z.on());

  rnnfast::Weights<T> w = a.w;
  rnnfast::Zoneout<T> z = a.z;
  Dims dd = d;
  Cell cell = c.cell;
  std::vector<int64_t> len = c.len;
  const T* xp = a.x.data();
  T* res = o.reserve.data();
  if (invalid >= 0) {
    // Every case below is invalid whatever the other bytes said.
    switch (invalid) {
      case 0:
        dd.T = -static_cast<int64_t>(c.x.size() % 3);
        break;
      case 1:
        dd.B = 0;
        break;
      case 2:
        dd.I = -1;
        break;
      case 3:
        dd.H = 0;
        break;
      case 4:
        dd.H_out = d.H + 1;
        break;
      case 5:
        if (len.empty()) len.assign(static_cast<size_t>(d.B), d.T);
        len[len.size() - 1] = (c.x.size() & 1) ? d.T + 1 : 0;
        break;
      case 6:
        w.w_ih = nullptr;
        break;
      case 7:  // a scan cell takes no w_hh, the others need one
        w.w_hh = is_scan(c.cell) ? a.w_ih.data() : nullptr;
        break;
      case 8:  // one bias without the other (a diagonal or scan cell: b_hh at all)
        if (is_scan(c.cell) || rnnfast::has_diagonal_recurrence(c.cell))
          w.b_hh = a.w_ih.data();
        else if (w.b_ih)
          w.b_ih = nullptr;
        else
          w.b_hh = a.w_ih.data();
        break;
      case 9:
        w.w_hr = w.w_hr ? nullptr : a.w_ih.data();
        break;
      case 10:
        dd.T = dd.B = int64_t(1) << 40;
        break;
      case 11:
        cell = static_cast<Cell>(100 + c.x.size() % 100);  // past every cell (6-11 are cells)
        break;
      case 12:
        xp = nullptr;
        break;
      case 13:
        res = nullptr;
        break;  // rejected by backward
      case 14:
        dd.H_out = lstm ? 0 : d.H - 1;
        break;
      case 15:
        dd.I = std::numeric_limits<int64_t>::min();
        break;
      // zoneout: a probability outside [0, 1) (or NaN), a mask and a probability for h, c on a
      // cell without a cell state (on an LSTM: a negative c probability), any on a scan cell
      // (elsewhere: probability 1)
      case 16:
        z.h_prob = (c.x.size() & 1) ? T(1) : std::numeric_limits<T>::quiet_NaN();
        break;
      case 17:
        z.h = a.x.data();  // T*B*I elements: never read, the call is rejected first
        z.h_prob = T(0.5);
        break;
      case 18:
        if (lstm)
          z.c_prob = T(-0.5);
        else
          z.c_prob = T(0.25);
        break;
      default:
        z = {};
        z.h_prob = is_scan(c.cell) ? T(0.5) : T(1);
        break;
    }
  }
  const int64_t* lp = len.empty() ? nullptr : len.data();
  try {
    rnnfast::forward<T>(cell, o.y.data(), o.h_n.data(), mptr(o.c_n),
                        invalid == 13 ? o.reserve.data() : res, xp, ptr(a.h0), ptr(a.c0), lp,
                        ptr(a.mask), w, dd, c.reverse, z);
    if (invalid >= 0 && invalid != 13) fail("an invalid forward argument was accepted");
  } catch (const std::invalid_argument&) {
    if (invalid < 0 || invalid == 13) fail("a valid forward call threw std::invalid_argument");
    return o;
  }
  const rnnfast::WeightGrads<T> g = o.alloc_backward(c.cell, d, a, T(0));
  try {
    rnnfast::backward<T>(c.cell, o.dx.data(), o.dh0.data(), mptr(o.dc0), g, res, a.dy.data(),
                         a.dh_n.data(), lstm ? a.dc_n.data() : nullptr, a.x.data(), o.y.data(), lp,
                         ptr(a.mask), w, d, c.reverse, z);
    if (invalid == 13) fail("backward accepted a null reserve");
  } catch (const std::invalid_argument&) {
    if (invalid != 13) fail("a valid backward call threw std::invalid_argument");
  }
  return o;
}

template <typename T>
bool finite(const std::vector<T>& v) {
  return std::all_of(v.begin(), v.end(), [](T e) { return std::isfinite(e); });
}

// A gross-error check: within 2% of the array's scale (at least `floor`). Rounding alone can
// differ by more than float's epsilon in ill-conditioned cases (c = f*c + i*g cancelling to 0
// in float but not in double), so this catches wrong indexing or wrong formulas, not loss of
// accuracy.
bool agree(const std::vector<float>& f, const std::vector<double>& d, double floor = 1.0) {
  double scale = floor;
  for (double e : d) scale = std::max(scale, std::fabs(e));
  for (size_t i = 0; i < f.size(); ++i)
    if (!(std::fabs(static_cast<double>(f[i]) - d[i]) <= 2e-2 * scale)) return false;
  return true;
}

// Thread count and time-loop split for the next calls.
void configure(int threads, int split) {
  static const char* splits[] = {nullptr, "units", "batch", nullptr};
  rnnfast::set_num_threads(threads);
  if (splits[split])
    setenv("RNNFAST_TIME_PARALLEL", splits[split], 1);
  else
    unsetenv("RNNFAST_TIME_PARALLEL");
}

template <typename T>
bool bitwise_equal(const Outputs<T>& a, const Outputs<T>& b) {
  using O = Outputs<T>;  // every output; the reserve is not one
  const std::vector<T> O::*fields[] = {&O::y,     &O::h_n,   &O::c_n,   &O::dx,
                                       &O::dh0,   &O::dc0,   &O::dw_ih, &O::dw_hh,
                                       &O::db_ih, &O::db_hh, &O::dw_hr};
  for (auto f : fields) {
    const auto &u = a.*f, &v = b.*f;
    if (u.size() != v.size() ||
        (!u.empty() && std::memcmp(u.data(), v.data(), u.size() * sizeof(T)) != 0))
      return false;
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::vector<std::string> isas = rnnfast::available_isas();
  const Input c = decode(data, size);
  rnnfast::set_isa(isas[static_cast<size_t>(c.isa) % isas.size()]);
  configure(c.threads, c.split);

  if (c.invalid >= 0) {
    run<float>(c, c.invalid);
    run<double>(c, c.invalid);
    return 0;
  }
  const Outputs<float> f = run<float>(c, -1);
  const Outputs<double> d = run<double>(c, -1);
  if (c.pair) {
    // Both directions at once (a bidirectional layer): bitwise the two calls made one after
    // the other. step_flops 0 lets run_pair run them concurrently when 2 threads are set.
    Input cf = c, cr = c;
    cf.reverse = false;
    cr.reverse = true;
    Outputs<float> a, b;
    rnnfast::run_pair([&] { a = run<float>(cf, -1); }, [&] { b = run<float>(cr, -1); },
                      c.pair == 1 ? 0.0 : 1e12);
    if (!bitwise_equal(a, run<float>(cf, -1)) || !bitwise_equal(b, run<float>(cr, -1)))
      fail("run_pair results differ from sequential calls");
  }
  // Results are bitwise independent of the thread count and the split (every output element
  // has one owner thread and one summation order): one thread, automatic split, must agree.
  configure(1, 0);
  if (!bitwise_equal(run<float>(c, -1), f)) fail("float results depend on threads or split");
  if (c.wild) return 0;  // NaN/Inf/huge inputs: no crash and no sanitizer report is the check
  // Bounded finite inputs (|v| <= 2, weights scaled by 1/sqrt(fan-in), T <= 12, H <= 20):
  // every result is finite, and float agrees with double. ReLU is unbounded: its float
  // results may leave float's range, so only its double results are checked.
  const std::vector<float>* fv[] = {&f.y,     &f.h_n,   &f.c_n,   &f.dx,    &f.dh0,  &f.dc0,
                                    &f.dw_ih, &f.dw_hh, &f.db_ih, &f.db_hh, &f.dw_hr};
  const std::vector<double>* dv[] = {&d.y,     &d.h_n,   &d.c_n,   &d.dx,    &d.dh0,  &d.dc0,
                                     &d.dw_ih, &d.dw_hh, &d.db_ih, &d.db_hh, &d.dw_hr};
  // A normalized row of (nearly) equal entries scales its gradient by up to 1/sqrt(eps), about
  // 316, and the cancellations after it leave float's rounding of those large intermediates in
  // gradients that are near zero in double: for the layer-normalized cells the gradients are
  // compared on the scale of the largest of them.
  const size_t n = sizeof(fv) / sizeof(fv[0]);
  double grad_floor = 1.0;
  if (c.cell == Cell::LAYERNORM_LSTM || c.cell == Cell::LAYERNORM_GRU)
    for (size_t k = 3; k < n; ++k)
      for (double e : *dv[k]) grad_floor = std::max(grad_floor, std::fabs(e));
  for (size_t k = 0; k < n; ++k) {
    if (!finite(*dv[k])) fail("double result not finite for bounded finite inputs");
    // relu may exceed float's range: no float check
    if (c.cell == Cell::RNN_RELU || c.cell == Cell::INDRNN_RELU) continue;
    if (!finite(*fv[k])) fail("float result not finite for bounded finite inputs");
    if (!agree(*fv[k], *dv[k], k < 3 ? 1.0 : grad_floor)) fail("float and double results disagree");
  }
  return 0;
}
