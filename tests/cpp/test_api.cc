// test_api: the rnnfast C++ API on its own, as a caller that is not Python sees it.
//  - every invalid argument throws std::invalid_argument whose message names the argument and
//    gives the expected and the given value, and nothing is written before the throw;
//  - valid calls: closed-form cases (zero weights, identity relu RNN), float against double
//    for every cell and option, double backward against central finite differences, parameter
//    gradients that accumulate, zero outputs past each sequence's end, bitwise-equal results
//    with 1 and 2 threads and either time-loop split, run_pair equal to sequential calls;
//  - the scan cells (MINGRU, MINLSTM) in those loops, and a call per step equal to a whole
//    call; the program runs once per RNNFAST_SCAN (units, time: read once per process) from
//    tests/test_cpp_api.py;
//  - `test_api bad_alloc` (a separate ctest entry): sizes whose work buffers cannot be
//    allocated throw std::bad_alloc, and the library keeps working afterwards.
// It deliberately does not check accuracy against the NumPy reference (tests/test_kernels.py
// does) nor performance. Prints one line per failure and a closing "N passed, M failed".
#include <rnnfast/rnnfast.h>
#include <unistd.h>  // usleep

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <new>
#include <stdexcept>
#include <string>
#include <vector>

#include "common.h"
#include "gemm/gemm.h"  // internal: the packed-panel storage check below
#include "threads.h"    // internal: the contention backoff (test_contention_backoff)

#if defined(__x86_64__) || defined(_M_X64)
#include <xmmintrin.h>
#define TEST_MXCSR 1
#endif
#ifdef _OPENMP
#include <omp.h>
#endif

namespace {

using rnnfast::Cell;
using rnnfast::Dims;
using rnnfast_test::cast;
using rnnfast_test::ptr;

int g_passed = 0, g_failed = 0;

void check(bool ok, const std::string& what) {
  if (ok) {
    ++g_passed;
  } else {
    ++g_failed;
    std::printf("FAIL %s\n", what.c_str());
  }
}

// A deterministic generator (splitmix64), so the program needs no <random> distribution
// whose output could differ between standard libraries.
struct Rng {
  uint64_t s;
  explicit Rng(uint64_t seed) : s(seed) {}
  double uniform(double lo, double hi) {
    uint64_t z = (s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    return lo + (hi - lo) * (static_cast<double>(z >> 11) / 9007199254740992.0);
  }
};

std::vector<double> rand_vec(Rng& r, int64_t n, double scale) {
  std::vector<double> v(static_cast<size_t>(n));
  for (auto& e : v) e = r.uniform(-scale, scale);
  return v;
}

// The scan cells: gates from x only, no w_hh, no b_hh, no h_mask.
bool is_scan(Cell cell) { return cell == Cell::MINGRU || cell == Cell::MINLSTM; }

// One layer problem: dims, options, and every input in double.
struct Case : rnnfast_test::Arrays {
  Cell cell = Cell::LSTM;
  Dims d;
  bool bias = true, reverse = false, use_lengths = false, use_h0 = true, use_mask = false;
  std::vector<int64_t> lengths;
  std::string name;
};

Case make_case(Cell cell, int64_t T, int64_t B, int64_t I, int64_t H, int64_t Ho, bool bias,
               bool reverse, bool lengths, bool h0, bool mask, uint64_t seed) {
  Case c;
  c.cell = cell;
  c.d.T = T;
  c.d.B = B;
  c.d.I = I;
  c.d.H = H;
  c.d.H_out = Ho;
  c.bias = bias;
  c.reverse = reverse;
  c.use_lengths = lengths;
  c.use_h0 = h0;
  c.use_mask = mask = mask && !is_scan(cell);
  const int64_t G = rnnfast::num_gates(cell);
  const double k = 1.0 / std::sqrt(static_cast<double>(H));
  Rng r(seed);
  c.x = rand_vec(r, T * B * I, 1.0);
  c.w_ih = rand_vec(r, G * H * I, k);
  // A diagonal cell (IndRNN): w_hh is u [H], one weight per unit, and one bias; a scan cell
  // (minGRU, minLSTM): no w_hh, one bias.
  const bool diagonal = rnnfast::has_diagonal_recurrence(cell);
  if (!is_scan(cell)) c.w_hh = diagonal ? rand_vec(r, H, 1.0) : rand_vec(r, G * H * Ho, k);
  if (bias) {
    c.b_ih = rand_vec(r, G * H, k);
    if (!diagonal && !is_scan(cell)) c.b_hh = rand_vec(r, G * H, k);
  }
  if (Ho != H) c.w_hr = rand_vec(r, Ho * H, k);
  if (h0) {
    c.h0 = rand_vec(r, B * Ho, 0.5);
    if (rnnfast::has_cell_state(cell)) c.c0 = rand_vec(r, B * H, 0.5);
  }
  if (mask) {
    c.mask.resize(static_cast<size_t>(B * Ho));
    for (auto& m : c.mask) m = r.uniform(0, 1) < 0.3 ? 0.0 : 1.0 / 0.7;
  }
  if (lengths) {
    for (int64_t b = 0; b < B; ++b)
      c.lengths.push_back(1 + static_cast<int64_t>(r.uniform(0, 1) * static_cast<double>(T)) % T);
    c.lengths[0] = T;  // y keeps its full length
  }
  c.dy = rand_vec(r, T * B * Ho, 1.0);
  c.dh_n = rand_vec(r, B * Ho, 1.0);
  if (rnnfast::has_cell_state(cell)) c.dc_n = rand_vec(r, B * H, 1.0);
  if (rnnfast::num_extras(cell) == 1) c.p = rand_vec(r, rnnfast::extra_size(cell, H, 0), 0.8);
  if (rnnfast::num_extras(cell) > 1) {  // the layer-normalized cells: gains around 1, shift 0
    for (int k = 0; k < rnnfast::num_extras(cell); ++k) {
      const int64_t n = rnnfast::extra_size(cell, H, k);
      const std::vector<double> v = rand_vec(r, n, 0.5);
      const double start = cell == Cell::LAYERNORM_LSTM && k == 3 ? 0.0 : 1.0;
      for (double e : v) c.p.push_back(start + e);
      c.p_sizes.push_back(n);
    }
  }
  c.name = std::string(rnnfast::cell_name(cell)) + " T=" + std::to_string(T) +
           " B=" + std::to_string(B) + " I=" + std::to_string(I) + " H=" + std::to_string(H) +
           " H_out=" + std::to_string(Ho) + (bias ? "" : " nobias") + (reverse ? " reverse" : "") +
           (lengths ? " lengths" : "") + (h0 ? "" : " no-h0") + (mask ? " h_mask" : "");
  return c;
}

// Every output of forward and backward, and named() to list them (the reserve is not one).
template <typename T>
struct Result : rnnfast_test::Outputs<T> {
  std::vector<std::pair<const char*, const std::vector<T>*>> named() const {
    return {{"y", &this->y},         {"h_n", &this->h_n},     {"c_n", &this->c_n},
            {"dx", &this->dx},       {"dh0", &this->dh0},     {"dc0", &this->dc0},
            {"dw_ih", &this->dw_ih}, {"dw_hh", &this->dw_hh}, {"db_ih", &this->db_ih},
            {"db_hh", &this->db_hh}, {"dw_hr", &this->dw_hr}, {"dp", &this->dp}};
  }
};

template <typename T>
Result<T> run(const Case& c, bool with_backward = true) {
  const Dims& d = c.d;
  const bool lstm = rnnfast::has_cell_state(c.cell);
  const rnnfast_test::Args<T> a(c);
  Result<T> r;
  r.alloc_forward(c.cell, d, T(-7));
  const int64_t* len = c.lengths.empty() ? nullptr : c.lengths.data();
  rnnfast::forward<T>(c.cell, r.y.data(), r.h_n.data(), lstm ? r.c_n.data() : nullptr,
                      r.reserve.data(), a.x.data(), ptr(a.h0), ptr(a.c0), len, ptr(a.mask), a.w, d,
                      c.reverse);
  if (!with_backward) return r;
  const rnnfast::WeightGrads<T> g = r.alloc_backward(c.cell, d, a, T(-7));
  rnnfast::backward<T>(c.cell, r.dx.data(), r.dh0.data(), lstm ? r.dc0.data() : nullptr, g,
                       r.reserve.data(), a.dy.data(), a.dh_n.data(), lstm ? a.dc_n.data() : nullptr,
                       a.x.data(), r.y.data(), len, ptr(a.mask), a.w, d, c.reverse);
  return r;
}

bool all_finite(const std::vector<float>& v) {
  return std::all_of(v.begin(), v.end(), [](float e) { return std::isfinite(e); });
}

// max|a - b| <= tol * max(1, max|b|): float sums of many terms are compared at their scale.
template <typename A, typename B>
bool close(const std::vector<A>& a, const std::vector<B>& b, double tol, std::string* why) {
  if (a.size() != b.size()) {
    *why = "size " + std::to_string(a.size()) + " != " + std::to_string(b.size());
    return false;
  }
  double scale = 1.0, err = 0.0;
  for (size_t i = 0; i < a.size(); ++i) {
    scale = std::max(scale, std::fabs(static_cast<double>(b[i])));
    const double e = std::fabs(static_cast<double>(a[i]) - static_cast<double>(b[i]));
    if (!(e <= err)) err = e;  // NaN counts as the worst error
  }
  if (err <= tol * scale) return true;
  char buf[128];
  std::snprintf(buf, sizeof buf, "max abs error %.3g > %.1g * scale %.3g", err, tol, scale);
  *why = buf;
  return false;
}

// ------------------------------------------------------------------ invalid arguments

// Calls `f`, which must throw std::invalid_argument whose message contains every word.
void expect_invalid(const std::string& what, const std::function<void()>& f,
                    const std::vector<std::string>& words) {
  try {
    f();
    check(false, what + ": no exception");
  } catch (const std::invalid_argument& e) {
    const std::string msg = e.what();
    for (const auto& w : words)
      check(msg.find(w) != std::string::npos,
            what + ": message \"" + msg + "\" does not contain \"" + w + "\"");
  } catch (const std::exception& e) {
    check(false, what + ": expected std::invalid_argument, got another exception: " + e.what());
  }
}

// The scan cells refuse a recurrent weight, a second bias and a recurrent dropout mask, in
// forward and backward, and write nothing then.
void test_invalid_scan_arguments() {
  for (Cell cell : {Cell::MINGRU, Cell::MINLSTM}) {
    const Case c = make_case(cell, 4, 3, 5, 6, 6, true, false, true, true, false, 2);
    const std::string name = rnnfast::cell_name(cell);
    const Dims good = c.d;
    const rnnfast_test::Args<float> a(c);
    const std::vector<float> extra(64, 0.5f);
    Result<float> r;
    r.alloc_forward(cell, good, 12345.f);
    auto fwd = [&](const rnnfast::Weights<float>& ww, const float* mask, const Dims& d) {
      return [&, ww, mask, d]() {
        rnnfast::forward<float>(cell, r.y.data(), r.h_n.data(), nullptr, r.reserve.data(),
                                a.x.data(), a.h0.data(), nullptr, c.lengths.data(), mask, ww, d,
                                false);
      };
    };
    auto with = [&](std::function<void(rnnfast::Weights<float>&)> f) {
      rnnfast::Weights<float> ww = a.w;
      f(ww);
      return ww;
    };
    expect_invalid(name + " with w_hh",
                   fwd(with([&](auto& ww) { ww.w_hh = extra.data(); }), nullptr, good),
                   {"w_hh", "expected none", name, "got a pointer"});
    expect_invalid(name + " with b_hh",
                   fwd(with([&](auto& ww) { ww.b_hh = extra.data(); }), nullptr, good),
                   {"b_hh", "expected none", name, "got a pointer"});
    expect_invalid(name + " with h_mask", fwd(a.w, extra.data(), good),
                   {"h_mask", "expected none", name, "got a pointer"});
    expect_invalid(name + " without w_ih",
                   fwd(with([&](auto& ww) { ww.w_ih = nullptr; }), nullptr, good),
                   {"w_ih", "null"});
    Dims proj = good;
    proj.H_out = 3;
    expect_invalid(name + " with a projection", fwd(a.w, nullptr, proj), {"H_out", name, "got 3"});
    expect_invalid(name + " with an extra",
                   fwd(with([&](auto& ww) { ww.extra[0] = extra.data(); }), nullptr, good),
                   {"extra[0]", "none", name});
    const bool untouched =
        std::all_of(r.y.begin(), r.y.end(), [](float v) { return v == 12345.f; }) &&
        std::all_of(r.reserve.begin(), r.reserve.end(), [](float v) { return v == 12345.f; });
    check(untouched, name + ": a rejected forward wrote into its outputs");
    // backward, after a valid forward
    fwd(a.w, nullptr, good)();
    const rnnfast::WeightGrads<float> g = r.alloc_backward(cell, good, a, 777.f);
    auto bwd = [&](const rnnfast::Weights<float>& ww, const float* mask) {
      return [&, ww, mask]() {
        rnnfast::backward<float>(cell, r.dx.data(), r.dh0.data(), nullptr, g, r.reserve.data(),
                                 a.dy.data(), a.dh_n.data(), nullptr, a.x.data(), r.y.data(),
                                 c.lengths.data(), mask, ww, good, false);
      };
    };
    expect_invalid(name + " backward with w_hh",
                   bwd(with([&](auto& ww) { ww.w_hh = extra.data(); }), nullptr),
                   {"w_hh", "expected none", name});
    expect_invalid(name + " backward with b_hh",
                   bwd(with([&](auto& ww) { ww.b_hh = extra.data(); }), nullptr),
                   {"b_hh", "expected none", name});
    expect_invalid(name + " backward with h_mask", bwd(a.w, extra.data()),
                   {"h_mask", "expected none", name});
    const bool bwd_untouched =
        std::all_of(r.dx.begin(), r.dx.end(), [](float v) { return v == 777.f; }) &&
        std::all_of(r.dw_ih.begin(), r.dw_ih.end(), [](float v) { return v == 0.f; });
    check(bwd_untouched, name + ": a rejected backward wrote into its outputs");
    check(rnnfast::num_gates(cell) == (cell == Cell::MINGRU ? 2 : 3) &&
              !rnnfast::has_cell_state(cell) && !rnnfast::has_projection(cell) &&
              rnnfast::num_extras(cell) == 0,
          name + ": gates, no cell state, no projection, no extras");
  }
}

// Zoneout's arguments (rnnfast::Zoneout): probabilities in [0, 1), masks or a probability per
// state, a cell state for c, not a scan cell; forward and backward throw before
// writing anything. The reserve grows by T*B*H for the RNNs, the IndRNNs and the
// LSTM/LSTM_PEEPHOLE only.
void test_invalid_zoneout() {
  const int64_t T = 4, B = 3, I = 5, H = 6;
  const float sentinel = 12345.f;
  std::vector<float> x(T * B * I, 0.5f), wv(4 * H * std::max(I, H), 0.1f), bv(4 * H, 0.1f);
  std::vector<float> masks(T * B * H, 1.f), y(T * B * H, sentinel), h_n(B * H, sentinel);
  std::vector<float> c_n(B * H, sentinel), reserve(4096, sentinel), dx(T * B * I);
  auto run = [&](Cell cell, const Dims& d, const rnnfast::Zoneout<float>& z, bool back) {
    return [=, &x, &wv, &bv, &y, &h_n, &c_n, &reserve, &dx]() {
      rnnfast::Weights<float> w;
      w.w_ih = wv.data();
      w.w_hh = wv.data();
      if (rnnfast::cell_name(cell) != std::string("mingru")) {
        w.b_ih = bv.data();
        w.b_hh = rnnfast::has_diagonal_recurrence(cell) ? nullptr : bv.data();
      } else {
        w.w_hh = nullptr;
        w.b_ih = bv.data();
      }
      if (d.H_out != d.H) w.w_hr = wv.data();
      if (back) {
        rnnfast::backward<float>(cell, dx.data(), nullptr, nullptr, {}, reserve.data(), nullptr,
                                 nullptr, nullptr, x.data(), y.data(), nullptr, nullptr, w, d,
                                 false, z);
      } else {
        rnnfast::forward<float>(
            cell, y.data(), h_n.data(), rnnfast::has_cell_state(cell) ? c_n.data() : nullptr,
            reserve.data(), x.data(), nullptr, nullptr, nullptr, nullptr, w, d, false, z);
      }
    };
  };
  Dims d;
  d.T = T;
  d.B = B;
  d.I = I;
  d.H = d.H_out = H;
  for (bool back : {false, true}) {
    const std::string dir = back ? " (backward)" : "";
    rnnfast::Zoneout<float> z;
    z.h_prob = 1.f;
    expect_invalid("zoneout h_prob = 1" + dir, run(Cell::LSTM, d, z, back),
                   {"zoneout.h_prob", "[0, 1)", "got 1"});
    z.h_prob = 0.f;
    z.c_prob = -0.25f;
    expect_invalid("zoneout c_prob < 0" + dir, run(Cell::LSTM, d, z, back),
                   {"zoneout.c_prob", "[0, 1)", "got -0.25"});
    z.c_prob = std::nanf("");
    expect_invalid("zoneout c_prob NaN" + dir, run(Cell::LSTM, d, z, back),
                   {"zoneout.c_prob", "[0, 1)", "nan"});
    z = {};
    z.h = masks.data();
    z.h_prob = 0.5f;
    expect_invalid("zoneout masks and probability" + dir, run(Cell::GRU, d, z, back),
                   {"zoneout.h_prob", "expected 0 when the masks", "got 0.5"});
    z = {};
    z.c = masks.data();
    expect_invalid("zoneout c on a GRU" + dir, run(Cell::GRU, d, z, back),
                   {"zoneout.c", "gru has no cell state"});
    z = {};
    z.h_prob = 0.5f;
    expect_invalid("zoneout on minGRU" + dir, run(Cell::MINGRU, d, z, back),
                   {"zoneout", "expected none for mingru"});
  }
  bool untouched = true;
  for (float v : y) untouched = untouched && v == sentinel;
  for (float v : h_n) untouched = untouched && v == sentinel;
  for (float v : reserve) untouched = untouched && v == sentinel;
  check(untouched, "zoneout: nothing written before the throw");
  for (Cell cell :
       {Cell::RNN_TANH, Cell::LSTM, Cell::LSTM_PEEPHOLE, Cell::GRU, Cell::GRU_RESET_BEFORE,
        Cell::LAYERNORM_LSTM, Cell::LAYERNORM_GRU, Cell::INDRNN_RELU, Cell::MINLSTM}) {
    const bool grows = cell == Cell::RNN_TANH || cell == Cell::LSTM ||
                       cell == Cell::LSTM_PEEPHOLE || cell == Cell::INDRNN_RELU;
    check(rnnfast::reserve_size(cell, d, true) ==
              rnnfast::reserve_size(cell, d) + (grows ? T * B * H : 0),
          std::string("reserve_size with zoneout: ") + rnnfast::cell_name(cell));
  }
}

void test_invalid_arguments() {
  // A valid float LSTM problem with a projection; each case breaks one thing.
  const Case c = make_case(Cell::LSTM, 4, 3, 5, 6, 6, true, false, true, true, false, 1);
  const Dims good = c.d;
  const auto x = cast<float>(c.x), w_ih = cast<float>(c.w_ih), w_hh = cast<float>(c.w_hh);
  const auto b = cast<float>(c.b_ih), w_hr_p = std::vector<float>(3 * 6, 0.1f);
  const float sentinel = 12345.f;
  std::vector<float> y(4 * 3 * 6, sentinel), h_n(3 * 6, sentinel), c_n(3 * 6, sentinel);
  std::vector<float> reserve(static_cast<size_t>(rnnfast::reserve_size(Cell::LSTM, good)),
                             sentinel);
  rnnfast::Weights<float> w;
  w.w_ih = w_ih.data();
  w.w_hh = w_hh.data();
  w.b_ih = b.data();
  w.b_hh = b.data();

  auto fwd = [&](Cell cell, const Dims& d, const rnnfast::Weights<float>& ww, const int64_t* len,
                 const float* xp, float* yp) {
    return [=, &h_n, &c_n, &reserve]() {
      rnnfast::forward<float>(cell, yp, h_n.data(), c_n.data(), reserve.data(), xp, nullptr,
                              nullptr, len, nullptr, ww, d, false);
    };
  };
  auto with = [&](std::function<void(Dims&)> f) {
    Dims d = good;
    f(d);
    return d;
  };
  const int64_t* len = c.lengths.data();
  const float* xp = x.data();
  float* yp = y.data();

  expect_invalid("T=0", fwd(Cell::LSTM, with([](Dims& d) { d.T = 0; }), w, nullptr, xp, yp),
                 {"T", ">= 1", "got 0"});
  expect_invalid("B=-2", fwd(Cell::LSTM, with([](Dims& d) { d.B = -2; }), w, nullptr, xp, yp),
                 {"B", ">= 1", "got -2"});
  expect_invalid("I=0", fwd(Cell::LSTM, with([](Dims& d) { d.I = 0; }), w, nullptr, xp, yp),
                 {"I", ">= 1", "got 0"});
  expect_invalid("H=0", fwd(Cell::LSTM, with([](Dims& d) { d.H = 0; }), w, nullptr, xp, yp),
                 {"H", ">= 1", "got 0"});
  expect_invalid("H_out > H",
                 fwd(Cell::LSTM, with([](Dims& d) { d.H_out = 7; }), w, nullptr, xp, yp),
                 {"H_out", "[1, H)", "got 7"});
  expect_invalid("H_out = 0",
                 fwd(Cell::LSTM, with([](Dims& d) { d.H_out = 0; }), w, nullptr, xp, yp),
                 {"H_out", "got 0"});
  expect_invalid("GRU projection",
                 fwd(Cell::GRU, with([](Dims& d) { d.H_out = 3; }), w, nullptr, xp, yp),
                 {"H_out", "gru", "got 3"});
  expect_invalid(
      "dims overflow",
      fwd(Cell::LSTM, with([](Dims& d) { d.T = d.B = int64_t(1) << 40; }), w, nullptr, xp, yp),
      {"dims", "too large", "T=1099511627776"});
  expect_invalid("bad cell", fwd(static_cast<Cell>(12), good, w, nullptr, xp, yp),
                 {"cell", "got 12"});
  expect_invalid("bad cell (negative)", fwd(static_cast<Cell>(-1), good, w, nullptr, xp, yp),
                 {"cell", "got -1"});
  {
    auto ww = w;
    ww.w_ih = nullptr;
    expect_invalid("null w_ih", fwd(Cell::LSTM, good, ww, nullptr, xp, yp),
                   {"w_ih", "[G*H, I]", "null"});
  }
  {
    auto ww = w;
    ww.w_hh = nullptr;
    expect_invalid("null w_hh", fwd(Cell::LSTM, good, ww, nullptr, xp, yp), {"w_hh", "null"});
  }
  {
    auto ww = w;
    ww.b_hh = nullptr;
    expect_invalid("one bias", fwd(Cell::LSTM, good, ww, nullptr, xp, yp),
                   {"b_ih, b_hh", "both biases or neither", "b_ih without b_hh"});
    ww = w;
    ww.b_ih = nullptr;
    expect_invalid("other bias", fwd(Cell::LSTM, good, ww, nullptr, xp, yp), {"b_hh without b_ih"});
  }
  {
    auto ww = w;
    ww.w_hr = w_hr_p.data();
    expect_invalid("w_hr without projection", fwd(Cell::LSTM, good, ww, nullptr, xp, yp),
                   {"w_hr", "H_out == H", "got a pointer"});
    expect_invalid("projection without w_hr",
                   fwd(Cell::LSTM, with([](Dims& d) { d.H_out = 3; }), w, nullptr, xp, yp),
                   {"w_hr", "[H_out, H]", "null"});
  }
  {
    const std::vector<int64_t> zero = {4, 0, 2}, over = {4, 5, 2}, neg = {-3, 1, 2};
    expect_invalid("lengths 0", fwd(Cell::LSTM, good, w, zero.data(), xp, yp),
                   {"lengths", "[1, T=4]", "lengths[1] = 0"});
    expect_invalid("lengths > T", fwd(Cell::LSTM, good, w, over.data(), xp, yp),
                   {"lengths", "[1, T=4]", "lengths[1] = 5"});
    expect_invalid("lengths < 0", fwd(Cell::LSTM, good, w, neg.data(), xp, yp),
                   {"lengths", "lengths[0] = -3"});
  }
  expect_invalid("null x", fwd(Cell::LSTM, good, w, len, nullptr, yp), {"x", "[T,B,I]", "null"});
  expect_invalid("null y", fwd(Cell::LSTM, good, w, len, xp, nullptr), {"y", "null"});
  // Nothing was written by any rejected call.
  const bool untouched =
      std::all_of(y.begin(), y.end(), [&](float v) { return v == sentinel; }) &&
      std::all_of(h_n.begin(), h_n.end(), [&](float v) { return v == sentinel; }) &&
      std::all_of(c_n.begin(), c_n.end(), [&](float v) { return v == sentinel; }) &&
      std::all_of(reserve.begin(), reserve.end(), [&](float v) { return v == sentinel; });
  check(untouched, "a rejected forward wrote into its outputs");

  // backward
  std::vector<float> dx(x.size(), sentinel), dh0(h_n.size(), sentinel), dw_ih(w_ih.size(), 0.f);
  rnnfast::WeightGrads<float> g;
  g.dw_ih = dw_ih.data();
  auto bwd = [&](const Dims& d, const float* res, const float* xx, const int64_t* ln,
                 const float* yy) {
    return [=, &dx, &dh0]() {
      rnnfast::backward<float>(Cell::LSTM, dx.data(), dh0.data(), nullptr, g, res, nullptr, nullptr,
                               nullptr, xx, yy, ln, nullptr, w, d, false);
    };
  };
  expect_invalid("backward null reserve", bwd(good, nullptr, xp, nullptr, yp),
                 {"reserve", "training forward", "null"});
  expect_invalid("backward null y", bwd(good, reserve.data(), xp, nullptr, nullptr),
                 {"y", "output", "null"});
  expect_invalid("backward null x with dw_ih", bwd(good, reserve.data(), nullptr, nullptr, yp),
                 {"x", "dw_ih", "null"});
  expect_invalid("backward T=0",
                 bwd(with([](Dims& d) { d.T = 0; }), reserve.data(), xp, nullptr, yp),
                 {"T", "got 0"});
  {
    const std::vector<int64_t> over = {9, 1, 1};
    expect_invalid("backward lengths", bwd(good, reserve.data(), xp, over.data(), yp),
                   {"lengths", "lengths[0] = 9"});
  }
  const bool bwd_untouched =
      std::all_of(dx.begin(), dx.end(), [&](float v) { return v == sentinel; }) &&
      std::all_of(dh0.begin(), dh0.end(), [&](float v) { return v == sentinel; }) &&
      std::all_of(dw_ih.begin(), dw_ih.end(), [](float v) { return v == 0.f; });
  check(bwd_untouched, "a rejected backward wrote into its outputs");
  {  // a y other than the forward's: its last step no longer matches the h_n the reserve kept
    fwd(Cell::LSTM, good, w, nullptr, xp, yp)();
    y[(4 - 1) * 3 * 6 + 2 * 6 + 5] += 1.f;  // t = T-1, b = 2, last unit
    expect_invalid("backward wrong y", bwd(good, reserve.data(), xp, nullptr, yp),
                   {"y", "h_n", "sequence 2"});
    y[(4 - 1) * 3 * 6 + 2 * 6 + 5] -= 1.f;
    const bool kept = std::all_of(dx.begin(), dx.end(), [&](float v) { return v == sentinel; }) &&
                      std::all_of(dw_ih.begin(), dw_ih.end(), [](float v) { return v == 0.f; });
    check(kept, "a backward rejected for its y wrote into its outputs");
  }

  // The rest of the API.
  const Dims no_h = with([](Dims& d) { d.H = 0; });
  expect_invalid("reserve_size H=0", [&]() { rnnfast::reserve_size(Cell::GRU, no_h); },
                 {"H", "got 0"});
  expect_invalid("num_gates bad cell", []() { rnnfast::num_gates(static_cast<Cell>(12)); },
                 {"cell", "got 12"});
  expect_invalid("cell_name bad cell", []() { rnnfast::cell_name(static_cast<Cell>(12)); },
                 {"cell", "got 12"});
  expect_invalid("extra_size of a cell without", []() { rnnfast::extra_size(Cell::LSTM, 4, 0); },
                 {"k", "lstm", "[0, 0)", "got 0"});
  check(rnnfast::num_extras(Cell::LSTM_PEEPHOLE) == 1 &&
            rnnfast::extra_size(Cell::LSTM_PEEPHOLE, 5, 0) == 15,
        "lstm_peephole: one extra parameter of 3*H");
  check(rnnfast::num_extras(Cell::LAYERNORM_LSTM) == 4 &&
            rnnfast::extra_size(Cell::LAYERNORM_LSTM, 5, 0) == 20 &&
            rnnfast::extra_size(Cell::LAYERNORM_LSTM, 5, 1) == 20 &&
            rnnfast::extra_size(Cell::LAYERNORM_LSTM, 5, 2) == 5 &&
            rnnfast::extra_size(Cell::LAYERNORM_LSTM, 5, 3) == 5 &&
            !rnnfast::has_projection(Cell::LAYERNORM_LSTM) &&
            rnnfast::has_cell_state(Cell::LAYERNORM_LSTM),
        "layernorm_lstm: gamma_x, gamma_h (4*H), gamma_c, beta_c (H); a cell state, no projection");
  check(rnnfast::num_extras(Cell::LAYERNORM_GRU) == 2 &&
            rnnfast::extra_size(Cell::LAYERNORM_GRU, 5, 0) == 15 &&
            rnnfast::extra_size(Cell::LAYERNORM_GRU, 5, 1) == 15 &&
            !rnnfast::has_cell_state(Cell::LAYERNORM_GRU) &&
            std::string(rnnfast::cell_name(Cell::LAYERNORM_GRU)) == "layernorm_gru",
        "layernorm_gru: gamma_x, gamma_h (3*H)");
  {
    auto ww = w;  // an LSTM_PEEPHOLE call without its peephole weights
    expect_invalid("lstm_peephole without p", fwd(Cell::LSTM_PEEPHOLE, good, ww, nullptr, xp, yp),
                   {"extra[0]", "lstm_peephole", "null"});
    const float p[64] = {};
    ww.extra[1] = p;  // and an LSTM with one
    expect_invalid("lstm with an extra", fwd(Cell::LSTM, good, ww, nullptr, xp, yp),
                   {"extra[1]", "none", "lstm"});
  }
  {  // IndRNN: w_hh is u [H] (required), one bias, no projection
    const Dims dd = with([](Dims& d) { d.H_out = d.H; });
    auto ww = w;
    ww.w_hr = nullptr;
    ww.b_hh = nullptr;
    for (Cell cell : {Cell::INDRNN_RELU, Cell::INDRNN_TANH}) {
      const std::string nm = rnnfast::cell_name(cell);
      check(rnnfast::num_gates(cell) == 1 && !rnnfast::has_cell_state(cell) &&
                !rnnfast::has_projection(cell) && rnnfast::has_diagonal_recurrence(cell) &&
                rnnfast::num_extras(cell) == 0,
            nm + ": one gate, no cell state, projection or extras, a diagonal recurrence");
      auto bad = ww;
      bad.w_hh = nullptr;
      expect_invalid(nm + " null w_hh", fwd(cell, dd, bad, nullptr, xp, yp),
                     {"w_hh", "[H] recurrent weight vector", nm, "null"});
      bad = ww;
      bad.b_hh = b.data();
      expect_invalid(nm + " with b_hh", fwd(cell, dd, bad, nullptr, xp, yp),
                     {"b_hh", "none", nm, "got a pointer"});
      expect_invalid(nm + " projection",
                     fwd(cell, with([](Dims& d) { d.H_out = 3; }), ww, nullptr, xp, yp),
                     {"H_out", nm, "got 3"});
      bad = ww;
      bad.w_hr = w_hr_p.data();
      expect_invalid(nm + " with w_hr", fwd(cell, dd, bad, nullptr, xp, yp),
                     {"w_hr", "H_out == H", "got a pointer"});
    }
    check(!rnnfast::has_diagonal_recurrence(Cell::LSTM) &&
              !rnnfast::has_diagonal_recurrence(Cell::RNN_RELU),
          "the product cells have no diagonal recurrence");
    expect_invalid("has_diagonal_recurrence bad cell",
                   []() { rnnfast::has_diagonal_recurrence(static_cast<Cell>(12)); },
                   {"cell", "got 12"});
  }
  test_invalid_scan_arguments();
  expect_invalid("set_num_threads(0)", []() { rnnfast::set_num_threads(0); },
                 {"n", ">= 1", "got 0"});
  expect_invalid("set_isa bogus", []() { rnnfast::set_isa("sse9"); }, {"isa", "sse9"});

  // The library still works after all of that.
  const Result<float> r = run<float>(c);
  check(all_finite(r.y) && all_finite(r.dx), "a valid call after rejected ones");
}

// ------------------------------------------------------------------ closed-form cases

void test_closed_forms() {
  const int64_t T = 6, B = 2, I = 3, H = 3;
  // Zero weights: every gate sees only its bias.
  {  // RNN tanh: h_t = tanh(b_ih + b_hh) at every step.
    Case c = make_case(Cell::RNN_TANH, T, B, I, H, H, true, false, false, true, false, 2);
    std::fill(c.w_ih.begin(), c.w_ih.end(), 0.0);
    std::fill(c.w_hh.begin(), c.w_hh.end(), 0.0);
    const auto r = run<double>(c, false);
    bool ok = true;
    for (int64_t i = 0; i < T * B * H; ++i)
      ok &= std::fabs(r.y[i] - std::tanh(c.b_ih[i % H] + c.b_hh[i % H])) < 1e-14;
    check(ok, "rnn_tanh with zero weights: y = tanh(b_ih + b_hh)");
  }
  {  // LSTM, no bias: i = f = o = 1/2, g = 0, so c_t = c0 / 2^t and h_t = tanh(c_t) / 2.
    Case c = make_case(Cell::LSTM, T, B, I, H, H, false, false, false, true, false, 3);
    std::fill(c.w_ih.begin(), c.w_ih.end(), 0.0);
    std::fill(c.w_hh.begin(), c.w_hh.end(), 0.0);
    const auto r = run<double>(c, false);
    bool ok = true;
    for (int64_t t = 0; t < T; ++t)
      for (int64_t k = 0; k < B * H; ++k) {
        const double ct = c.c0[k] * std::ldexp(1.0, -static_cast<int>(t + 1));
        ok &= std::fabs(r.y[t * B * H + k] - 0.5 * std::tanh(ct)) < 1e-14;
        if (t == T - 1) ok &= std::fabs(r.c_n[k] - ct) < 1e-14;
      }
    check(ok, "lstm with zero weights: c_t = c0 / 2^t, h_t = tanh(c_t) / 2");
  }
  {  // GRU, no bias: r = z = 1/2, n = 0, so h_t = h0 / 2^t.
    Case c = make_case(Cell::GRU, T, B, I, H, H, false, false, false, true, false, 4);
    std::fill(c.w_ih.begin(), c.w_ih.end(), 0.0);
    std::fill(c.w_hh.begin(), c.w_hh.end(), 0.0);
    const auto r = run<float>(c, false);
    bool ok = true;
    for (int64_t t = 0; t < T; ++t)
      for (int64_t k = 0; k < B * H; ++k) {
        const double want = static_cast<float>(c.h0[k]) * std::ldexp(1.0, -static_cast<int>(t + 1));
        ok &= std::fabs(r.y[t * B * H + k] - want) <= 1e-6 * std::fabs(want);
      }
    check(ok, "gru with zero weights: h_t = h0 / 2^t");
  }
  for (Cell cell : {Cell::MINGRU, Cell::MINLSTM}) {
    // Zero weights, no bias: z = 1/2 (f = i = 1/2, so f/(f+i) = 1/2), h~ = 0: h_t = h0 / 2^t,
    // exact in binary; in reverse as well, from each sequence's own last step.
    Case c = make_case(cell, T, B, I, H, H, false, true, true, true, false, 6);
    c.lengths = {3, T};
    std::fill(c.w_ih.begin(), c.w_ih.end(), 0.0);
    const auto r = run<float>(c, false);
    bool ok = true;
    for (int64_t b = 0; b < B; ++b)
      for (int64_t t = 0; t < T; ++t)
        for (int64_t k = 0; k < H; ++k) {
          const int64_t len = c.lengths[b], step = len - 1 - t;  // reverse: step 0 at len-1
          const double want =
              t < len ? static_cast<float>(c.h0[b * H + k]) * std::ldexp(1.0, -int(step + 1)) : 0;
          ok &= r.y[(t * B + b) * H + k] == static_cast<float>(want);
          if (t == 0) ok &= r.h_n[b * H + k] == static_cast<float>(want);
        }
    check(ok, std::string(rnnfast::cell_name(cell)) +
                  " with zero weights: h_t = h0 / 2^t in reverse with lengths, h_n at t = 0");
  }
  {  // ReLU RNN with identity weights on non-negative integers: h_t = h0 + x_0 + ... + x_t,
     // exact in float. Backward with dy = 1 everywhere and lengths: dx_t = len - t (zero
     // past the end), dh0 = len, db_ih = db_hh = sum over b of len(len+1)/2.
    const int64_t n = 4;
    Case c = make_case(Cell::RNN_RELU, T, B, n, n, n, true, false, true, true, false, 5);
    c.lengths = {T, 3};
    // Strictly positive, so every pre-activation is > 0 and relu' = 1.
    for (size_t i = 0; i < c.x.size(); ++i) c.x[i] = static_cast<double>(1 + i % 5);
    for (size_t i = 0; i < c.h0.size(); ++i) c.h0[i] = static_cast<double>(1 + i % 3);
    std::fill(c.w_ih.begin(), c.w_ih.end(), 0.0);
    std::fill(c.w_hh.begin(), c.w_hh.end(), 0.0);
    for (int64_t k = 0; k < n; ++k) c.w_ih[k * n + k] = c.w_hh[k * n + k] = 1.0;
    std::fill(c.b_ih.begin(), c.b_ih.end(), 0.0);
    std::fill(c.b_hh.begin(), c.b_hh.end(), 0.0);
    std::fill(c.dy.begin(), c.dy.end(), 1.0);
    std::fill(c.dh_n.begin(), c.dh_n.end(), 0.0);
    const auto r = run<float>(c);
    bool fwd_ok = true, bwd_ok = true;
    for (int64_t b = 0; b < B; ++b) {
      const int64_t len = c.lengths[b];
      for (int64_t k = 0; k < n; ++k) {
        double acc = c.h0[b * n + k];
        for (int64_t t = 0; t < T; ++t) {
          acc += c.x[(t * B + b) * n + k];
          const double want_y = t < len ? acc : 0.0;
          fwd_ok &= r.y[(t * B + b) * n + k] == static_cast<float>(want_y);
          bwd_ok &= r.dx[(t * B + b) * n + k] == static_cast<float>(t < len ? len - t : 0);
        }
        double hn = c.h0[b * n + k];
        for (int64_t t = 0; t < len; ++t) hn += c.x[(t * B + b) * n + k];
        fwd_ok &= r.h_n[b * n + k] == static_cast<float>(hn);
        bwd_ok &= r.dh0[b * n + k] == static_cast<float>(len);
      }
    }
    double bsum = 0;
    for (int64_t len : c.lengths) bsum += static_cast<double>(len * (len + 1) / 2);
    for (int64_t k = 0; k < n; ++k)
      bwd_ok &= r.db_ih[k] == static_cast<float>(bsum) && r.db_hh[k] == static_cast<float>(bsum);
    check(fwd_ok, "identity relu RNN: y_t = h0 + cumulative sum of x, zero past each length");
    check(bwd_ok, "identity relu RNN: dx_t = len - t, dh0 = len, db = sum len(len+1)/2");
  }
  // IndRNN with zero W_ih: every unit is its own scalar recurrence h_t = act(b + u h_{t-1}),
  // computed here step by step; the reverse direction runs each sequence from its own end.
  for (Cell cell : {Cell::INDRNN_TANH, Cell::INDRNN_RELU}) {
    Case c = make_case(cell, T, B, I, H, H, true, true, true, true, true, 6);
    std::fill(c.w_ih.begin(), c.w_ih.end(), 0.0);
    const bool relu = cell == Cell::INDRNN_RELU;
    const auto r = run<double>(c, false);
    bool ok = true;
    for (int64_t b = 0; b < B; ++b)
      for (int64_t k = 0; k < H; ++k) {
        double h = c.h0[b * H + k];
        const int64_t len = c.lengths[b];
        for (int64_t s = 0; s < len; ++s) {
          const double a = c.b_ih[k] + c.w_hh[k] * (h * c.mask[b * H + k]);
          h = relu ? std::max(a, 0.0) : std::tanh(a);
          ok &= std::fabs(r.y[((len - 1 - s) * B + b) * H + k] - h) < 1e-14;
        }
        for (int64_t t = len; t < T; ++t) ok &= r.y[(t * B + b) * H + k] == 0.0;
        ok &= r.h_n[b * H + k] == r.y[b * H + k];  // reverse: the last step is t = 0
      }
    check(ok, std::string(rnnfast::cell_name(cell)) +
                  " with zero W_ih: h_t = act(b_ih + u * h_{t-1} * h_mask), per unit, reversed");
  }
}

// ------------------------------------------------------------------ float vs double, FD

std::vector<Case> option_cases() {
  std::vector<Case> cs;
  uint64_t seed = 100;
  for (Cell cell : {Cell::RNN_TANH, Cell::RNN_RELU, Cell::LSTM, Cell::GRU, Cell::GRU_RESET_BEFORE,
                    Cell::LSTM_PEEPHOLE, Cell::INDRNN_RELU, Cell::INDRNN_TANH, Cell::MINGRU,
                    Cell::MINLSTM, Cell::LAYERNORM_LSTM, Cell::LAYERNORM_GRU}) {
    for (int variant = 0; variant < 4; ++variant) {
      const bool reverse = variant & 1, lengths = variant & 2;
      const bool bias = variant != 3, h0 = variant != 2, mask = variant == 1 || variant == 2;
      cs.push_back(make_case(cell, 7, 5, 9, 13, 13, bias, reverse, lengths, h0, mask, seed++));
      if (rnnfast::has_projection(cell))
        cs.push_back(make_case(cell, 5, 3, 4, 11, 5, bias, reverse, lengths, h0, mask, seed++));
    }
  }
  cs.push_back(make_case(Cell::LSTM, 1, 1, 1, 1, 1, true, false, false, false, false, seed++));
  cs.push_back(make_case(Cell::GRU, 2, 17, 33, 40, 40, true, true, true, true, true, seed++));
  cs.push_back(
      make_case(Cell::INDRNN_TANH, 1, 1, 1, 1, 1, true, false, false, false, false, seed++));
  cs.push_back(
      make_case(Cell::INDRNN_RELU, 30, 20, 7, 48, 48, true, true, true, true, true, seed++));
  // scans over many chunks of steps (RNNFAST_SCAN=time), units past a block of 16
  cs.push_back(make_case(Cell::MINGRU, 70, 3, 4, 37, 37, true, true, true, true, false, seed++));
  cs.push_back(make_case(Cell::MINLSTM, 70, 3, 4, 37, 37, true, false, true, false, false, seed++));
  cs.push_back(make_case(Cell::MINLSTM, 1, 1, 1, 1, 1, true, false, false, false, false, seed++));
  return cs;
}

void test_float_matches_double() {
  for (const Case& c : option_cases()) {
    const Result<float> f = run<float>(c);
    const Result<double> d = run<double>(c);
    const auto fn = f.named();
    const auto dn = d.named();
    for (size_t i = 0; i < fn.size(); ++i) {
      std::string why;
      check(close(*fn[i].second, *dn[i].second, 1e-4, &why),
            c.name + ": float " + fn[i].first + " vs double: " + why);
    }
    if (c.use_lengths) {
      bool zero = true;
      for (int64_t b = 0; b < c.d.B; ++b)
        for (int64_t t = c.lengths[b]; t < c.d.T; ++t)
          for (int64_t k = 0; k < c.d.H_out; ++k)
            zero &= f.y[(t * c.d.B + b) * c.d.H_out + k] == 0.f;
      check(zero, c.name + ": y is zero past each sequence's end");
    }
  }
}

// L = sum(y dy) + sum(h_n dh_n) + sum(c_n dc_n), in double.
double loss(const Case& c) {
  const Result<double> r = run<double>(c, false);
  double s = 0;
  for (size_t i = 0; i < r.y.size(); ++i) s += r.y[i] * c.dy[i];
  for (size_t i = 0; i < r.h_n.size(); ++i) s += r.h_n[i] * c.dh_n[i];
  for (size_t i = 0; i < r.c_n.size(); ++i) s += r.c_n[i] * c.dc_n[i];
  return s;
}

void test_finite_differences() {
  const double eps = 1e-6;
  for (Cell cell : {Cell::RNN_TANH, Cell::LSTM, Cell::GRU, Cell::GRU_RESET_BEFORE,
                    Cell::LSTM_PEEPHOLE, Cell::INDRNN_RELU, Cell::INDRNN_TANH, Cell::MINGRU,
                    Cell::MINLSTM, Cell::LAYERNORM_LSTM, Cell::LAYERNORM_GRU}) {
    for (int64_t Ho : {int64_t(6), int64_t(4)}) {
      if (Ho != 6 && !rnnfast::has_projection(cell)) continue;
      // The scan cells also in reverse (their Ho is H), over more steps than a chunk.
      const bool scan = is_scan(cell);
      Case c = make_case(cell, scan ? 11 : 5, 3, 4, 6, Ho, true, Ho != 6 || scan, true, true, true,
                         7 + Ho);
      const Result<double> g = run<double>(c);
      struct Param {
        const char* name;
        std::vector<double>* v;
        const std::vector<double>* grad;
      };
      const std::vector<Param> params = {
          {"x", &c.x, &g.dx},          {"w_ih", &c.w_ih, &g.dw_ih}, {"w_hh", &c.w_hh, &g.dw_hh},
          {"b_ih", &c.b_ih, &g.db_ih}, {"b_hh", &c.b_hh, &g.db_hh}, {"w_hr", &c.w_hr, &g.dw_hr},
          {"h0", &c.h0, &g.dh0},       {"c0", &c.c0, &g.dc0},       {"p", &c.p, &g.dp}};
      for (const Param& p : params) {
        const size_t n = p.v->size();
        for (size_t s = 0; s < 5 && n > 0; ++s) {
          const size_t i = (s * 7919 + 13) % n;
          const double keep = (*p.v)[i];
          (*p.v)[i] = keep + eps;
          const double lp = loss(c);
          (*p.v)[i] = keep - eps;
          const double lm = loss(c);
          (*p.v)[i] = keep;
          const double num = (lp - lm) / (2 * eps), ana = (*p.grad)[i];
          check(std::fabs(num - ana) <= 1e-6 * std::max(1.0, std::fabs(num)),
                c.name + ": d" + p.name + "[" + std::to_string(i) + "] analytic " +
                    std::to_string(ana) + " vs numeric " + std::to_string(num));
        }
      }
    }
  }
}

void test_gradients_accumulate_of(Cell cell) {
  const Case c = make_case(cell, 4, 3, 5, 6, 6, true, false, false, true, false, 9);
  const Result<double> once = run<double>(c);
  // Run backward again into the same parameter buffers: they double; dx is overwritten.
  const auto x = c.x, w_ih = c.w_ih, w_hh = c.w_hh;
  rnnfast::Weights<double> w;
  w.w_ih = w_ih.data();
  w.w_hh = rnnfast_test::ptr(w_hh);
  w.b_ih = c.b_ih.data();
  w.b_hh = rnnfast_test::ptr(c.b_hh);
  Result<double> r = once;
  rnnfast::WeightGrads<double> g;
  g.dw_ih = r.dw_ih.data();
  g.dw_hh = rnnfast_test::mptr(r.dw_hh);
  g.db_ih = r.db_ih.data();
  g.db_hh = nullptr;  // skipped: left as it was
  std::vector<double> dx(x.size(), 99.0);
  rnnfast::backward<double>(c.cell, dx.data(), nullptr, nullptr, g, r.reserve.data(), c.dy.data(),
                            c.dh_n.data(), nullptr, x.data(), r.y.data(), nullptr, nullptr, w, c.d,
                            false);
  bool ok = true;
  for (size_t i = 0; i < r.dw_ih.size(); ++i) ok &= r.dw_ih[i] == 2 * once.dw_ih[i];
  for (size_t i = 0; i < r.dw_hh.size(); ++i) ok &= r.dw_hh[i] == 2 * once.dw_hh[i];
  for (size_t i = 0; i < r.db_ih.size(); ++i) ok &= r.db_ih[i] == 2 * once.db_ih[i];
  for (size_t i = 0; i < r.db_hh.size(); ++i) ok &= r.db_hh[i] == once.db_hh[i];
  for (size_t i = 0; i < dx.size(); ++i) ok &= dx[i] == once.dx[i];
  check(ok, std::string(rnnfast::cell_name(cell)) +
                ": parameter gradients accumulate (+=), skipped ones untouched, dx is written (=)");
}

void test_gradients_accumulate() {
  for (Cell cell : {Cell::GRU, Cell::INDRNN_TANH, Cell::MINGRU, Cell::MINLSTM})
    test_gradients_accumulate_of(cell);
}

void test_threads_bitwise() {
  if (!rnnfast::has_openmp()) return;
  const int old = rnnfast::get_num_threads();
  // Then a projection to 5 outputs, so with the time loop split by units the second thread
  // owns no output column at all, for a packed (T=9) and a direct (T=1) product; and 12 units
  // at batch 3, so that it owns no unit either, where each thread computes its own input
  // projection before the loop (it once did pointer arithmetic on its null input buffer
  // there: clang's UBSan, as in the fuzz run, reports that; GCC's does not).
  const std::vector<Case> cases = {
      make_case(Cell::RNN_TANH, 9, 20, 24, 40, 40, true, true, true, true, true, 11),
      make_case(Cell::LSTM, 9, 20, 24, 40, 24, true, true, true, true, true, 11),
      make_case(Cell::GRU, 9, 20, 24, 40, 40, true, true, true, true, true, 11),
      make_case(Cell::LSTM, 9, 3, 4, 40, 5, true, false, true, true, true, 12),
      make_case(Cell::LSTM, 1, 1, 4, 18, 5, true, true, false, true, false, 13),
      make_case(Cell::GRU, 9, 3, 4, 12, 12, true, true, true, true, true, 14),
      make_case(Cell::LSTM, 9, 3, 4, 12, 12, true, false, true, true, true, 15),
      make_case(Cell::GRU_RESET_BEFORE, 9, 20, 24, 40, 40, true, true, true, true, true, 16),
      make_case(Cell::GRU_RESET_BEFORE, 9, 3, 4, 40, 40, true, false, true, true, true, 17),
      make_case(Cell::LSTM_PEEPHOLE, 9, 20, 24, 40, 24, true, true, true, true, true, 18),
      make_case(Cell::LSTM_PEEPHOLE, 9, 3, 4, 40, 40, true, false, true, true, true, 19),
      // IndRNN's loops run a team only from about 2.5e4 elements: a team split by units (48
      // units), one split by sequences (12 units), packed and not.
      make_case(Cell::INDRNN_RELU, 30, 20, 7, 48, 48, true, true, true, true, true, 20),
      make_case(Cell::INDRNN_TANH, 30, 20, 7, 48, 48, false, false, false, true, true, 20),
      make_case(Cell::INDRNN_TANH, 60, 40, 5, 12, 12, true, false, true, true, true, 22),
      make_case(Cell::INDRNN_RELU, 60, 40, 5, 12, 12, true, true, false, false, false, 23),
      // the scans, large enough for a team (the split: RNNFAST_SCAN of the process, or by
      // shape: units for the first two, time for the last two)
      make_case(Cell::MINGRU, 300, 3, 5, 70, 70, true, true, true, true, false, 20),
      make_case(Cell::MINLSTM, 300, 3, 5, 70, 70, true, false, true, true, false, 21),
      make_case(Cell::MINGRU, 3200, 1, 3, 16, 16, false, false, false, true, false, 22),
      make_case(Cell::MINLSTM, 2000, 2, 3, 16, 16, true, true, true, true, false, 24),
      make_case(Cell::LAYERNORM_LSTM, 9, 20, 24, 40, 40, true, true, true, true, true, 20),
      make_case(Cell::LAYERNORM_LSTM, 9, 3, 4, 40, 40, true, false, true, true, true, 21),
      make_case(Cell::LAYERNORM_GRU, 9, 20, 24, 40, 40, true, true, true, true, true, 22),
      make_case(Cell::LAYERNORM_GRU, 9, 3, 4, 70, 70, false, false, true, true, true, 23)};
  for (const Case& c : cases) {
    std::vector<Result<float>> runs;
    for (const char* split : {"", "units", "batch"}) {
      for (int n : {1, 2}) {
        if (*split)
          setenv("RNNFAST_TIME_PARALLEL", split, 1);
        else
          unsetenv("RNNFAST_TIME_PARALLEL");
        rnnfast::set_num_threads(n);
        runs.push_back(run<float>(c));
      }
    }
    unsetenv("RNNFAST_TIME_PARALLEL");
    bool same = true;
    for (size_t k = 1; k < runs.size(); ++k) {
      const auto a = runs[0].named(), b = runs[k].named();
      for (size_t i = 0; i < a.size(); ++i) {
        const std::vector<float>&u = *a[i].second, &v = *b[i].second;
        same &= u.size() == v.size() &&
                (u.empty() || std::memcmp(u.data(), v.data(), u.size() * sizeof(float)) == 0);
      }
    }
    check(same, c.name + ": bitwise equal with 1 and 2 threads and either time split");
  }
  rnnfast::set_num_threads(old);
}

// The scan cells' streaming use: one call per step (T = 1), each from the previous call's h_n,
// gives the whole call's y: bitwise when the scan is split by units (each chain step by step
// in both), within rounding when it is split by time (the chunks' start states are composed).
template <typename T>
void check_scan_streaming(Cell cell, double tol) {
  const char* env = std::getenv("RNNFAST_SCAN");
  const bool time_split = env && std::strcmp(env, "time") == 0;
  const Case c = make_case(cell, 40, 3, 4, 21, 21, true, false, false, true, false, 23);
  const Result<T> whole = run<T>(c, false);
  const int64_t B = c.d.B, H = c.d.H, I = c.d.I;
  std::vector<T> h = cast<T>(c.h0), ys;
  const auto x = cast<T>(c.x);
  const rnnfast_test::Args<T> a(c);
  Dims d1 = c.d;
  d1.T = 1;
  for (int64_t t = 0; t < c.d.T; ++t) {
    std::vector<T> y(static_cast<size_t>(B * H)), hn(y.size());
    rnnfast::forward<T>(cell, y.data(), hn.data(), nullptr, nullptr, x.data() + t * B * I, h.data(),
                        nullptr, nullptr, nullptr, a.w, d1, false);
    ys.insert(ys.end(), y.begin(), y.end());
    h = hn;
  }
  std::string why;
  const std::string name =
      std::string(rnnfast::cell_name(cell)) + (sizeof(T) == 4 ? " float" : " double");
  if (time_split)
    check(close(ys, whole.y, tol, &why),
          name + ": a call per step vs one call (time split): " + why);
  else
    check(ys == whole.y && h == whole.h_n, name + ": a call per step is bitwise one call");
}

void test_scan_streaming() {
  const int old = rnnfast::get_num_threads();
  for (int n : {1, 2}) {
    rnnfast::set_num_threads(n);
    for (Cell cell : {Cell::MINGRU, Cell::MINLSTM}) {
      check_scan_streaming<float>(cell, 1e-6);
      check_scan_streaming<double>(cell, 1e-12);
    }
  }
  rnnfast::set_num_threads(old);
}

// run_pair: two calls at once give bitwise the results of the two calls one after the other,
// whichever way run_pair decides to run them; an exception from either is rethrown after both
// have finished.
void test_run_pair() {
  const int old = rnnfast::get_num_threads();
  for (Cell cell : {Cell::LSTM, Cell::GRU, Cell::RNN_TANH, Cell::INDRNN_RELU}) {
    Case fwd = make_case(cell, 7, 6, 5, 20, cell == Cell::LSTM ? 9 : 20, true, false, true, true,
                         true, 21);
    Case rev = fwd;
    rev.reverse = true;
    const Result<float> want_f = run<float>(fwd), want_r = run<float>(rev);
    for (int n : {1, 2}) {
      for (double flops : {0.0, 1e12}) {  // concurrent (when 2 threads) and one after the other
        rnnfast::set_num_threads(n);
        Result<float> got_f, got_r;
        rnnfast::run_pair([&] { got_f = run<float>(fwd); }, [&] { got_r = run<float>(rev); },
                          flops);
        const auto a = got_f.named(), b = want_f.named(), c = got_r.named(), e = want_r.named();
        bool same = true;
        for (size_t i = 0; i < a.size(); ++i)
          same &= *a[i].second == *b[i].second && *c[i].second == *e[i].second;
        check(same, fwd.name + ": run_pair with " + std::to_string(n) + " threads, step_flops " +
                        std::to_string(flops) + " equals sequential calls");
      }
    }
  }
  for (int n : {1, 2}) {
    rnnfast::set_num_threads(n);
    for (int which : {0, 1}) {
      bool ran_other = false;
      try {
        rnnfast::run_pair(
            [&] {
              if (which == 0) throw std::invalid_argument("lengths: from the first call");
              ran_other = true;
            },
            [&] {
              if (which == 1) throw std::invalid_argument("lengths: from the second call");
              ran_other = true;
            },
            0.0);
        check(false, "run_pair swallowed an exception");
      } catch (const std::invalid_argument& e) {
        // Concurrently or one after the other, the other call still runs.
        check(std::string(e.what()).find(which ? "second" : "first") != std::string::npos &&
                  ran_other,
              "run_pair with " + std::to_string(n) + " threads rethrows the exception of call " +
                  std::to_string(which) + (ran_other ? "" : " (the other call did not run)"));
      }
    }
  }
  rnnfast::set_num_threads(old);
}

void test_nonfinite_inputs_on(const std::string& isa);

void test_nonfinite_inputs() {
  // Every instruction set: the portable kernels' scalar activations see the NaN too.
  const std::string old_isa = rnnfast::isa();
  for (const std::string& isa : rnnfast::available_isas()) {
    rnnfast::set_isa(isa);
    test_nonfinite_inputs_on(isa);
  }
  rnnfast::set_isa(old_isa);
}

void test_nonfinite_inputs_on(const std::string& isa) {
  Case c = make_case(Cell::LSTM, 5, 3, 4, 6, 6, true, false, false, true, false, 12);
  c.x[1 * 3 * 4 + 0 * 4 + 2] = std::nan("");  // x[1, 0, 2]
  const Result<float> r = run<float>(c);
  bool ok = true;
  for (int64_t t = 0; t < 5; ++t)
    for (int64_t k = 0; k < 6; ++k) {
      const float y0 = r.y[(t * 3 + 0) * 6 + k], y1 = r.y[(t * 3 + 1) * 6 + k];
      ok &= t < 1 ? std::isfinite(y0) : std::isnan(y0);
      ok &= std::isfinite(y1);
    }
  check(ok, isa + ": a NaN in x[1, 0] propagates through sequence 0 from step 1 only");
  {  // Inf in x: no crash, NaN or Inf confined to the sequence it entered.
    Case h = make_case(Cell::RNN_TANH, 3, 2, 3, 4, 4, true, false, false, true, false, 15);
    h.x[0] = INFINITY;  // x[0, 0, 0]
    const Result<float> rh = run<float>(h);
    bool other = true;
    for (int64_t t = 0; t < 3; ++t)
      for (int64_t k = 0; k < 4; ++k) other &= std::isfinite(rh.y[(t * 2 + 1) * 4 + k]);
    check(other, isa + ": an Inf in sequence 0 leaves sequence 1 finite");
  }
  for (double big : {1e30, -1e30, 1e37}) {
    Case h = make_case(Cell::GRU, 4, 2, 3, 5, 5, true, false, false, true, false, 13);
    for (auto& v : h.x) v = v > 0 ? big : -big;
    const Result<float> rh = run<float>(h);
    check(all_finite(rh.y) && all_finite(rh.h_n),
          isa + ": gru with |x| = " + std::to_string(big) + ": finite outputs (saturating gates)");
  }
}

// ------------------------------------------------------------------ allocation failure

bool overcommit_always() {
  std::ifstream f("/proc/sys/vm/overcommit_memory");
  int mode = 0;
  return (f >> mode) && mode == 1;
}

int test_bad_alloc() {
#if defined(RNNFAST_TEST_SANITIZED)
  std::printf("skipped: sanitizer allocators abort on impossible sizes instead of throwing\n");
  return 0;
#else
  if (overcommit_always()) {
    std::printf("skipped: vm.overcommit_memory=1 lets impossible allocations succeed\n");
    return 0;
  }
  // Warm up the thread's work buffers with a small call, so the failed one has to replace them.
  const Case small = make_case(Cell::LSTM, 8, 2, 1, 8, 8, true, false, false, true, false, 14);
  const Result<float> before = run<float>(small);
  // The cell state alone is B*H floats = 2^40 * 4 bytes = 4 TiB (and the input projection, in
  // one GEMM or per step, more). Every buffer the caller passes is real (x and y hold T*B
  // floats, the weights 4H), only the library's own work buffers fail.
  Dims d;
  d.T = 4;
  d.B = 1 << 20;
  d.I = 1;
  d.H = 1 << 20;
  d.H_out = 1;
  std::vector<float> x(static_cast<size_t>(d.T * d.B), 0.5f), y(x.size());
  std::vector<float> w_ih(static_cast<size_t>(4 * d.H), 0.01f), w_hh(w_ih.size(), 0.01f);
  std::vector<float> w_hr(static_cast<size_t>(d.H), 0.01f);
  rnnfast::Weights<float> w;
  w.w_ih = w_ih.data();
  w.w_hh = w_hh.data();
  w.w_hr = w_hr.data();
  bool threw = false;
  try {
    rnnfast::forward<float>(Cell::LSTM, y.data(), nullptr, nullptr, nullptr, x.data(), nullptr,
                            nullptr, nullptr, nullptr, w, d, false);
  } catch (const std::bad_alloc&) {
    threw = true;
  }
  check(threw, "forward whose work buffers cannot be allocated throws std::bad_alloc");
  // The same thread keeps working, with the same results as before the failure.
  const Result<float> after = run<float>(small);
  const auto a = before.named(), b = after.named();
  bool same = true;
  for (size_t i = 0; i < a.size(); ++i) same &= *a[i].second == *b[i].second;
  check(same, "after std::bad_alloc the next calls work and give the same results");
  return 0;
#endif
}

}  // namespace

void test_matmul() {
  // A 9x600 @ 600x40 product (two K passes, a partial panel) against a double loop.
  const int64_t M = 9, K = 600, N = 40;
  std::vector<double> a(M * K), b(K * N), c(M * N, -7.0);
  for (int64_t i = 0; i < M * K; ++i) a[i] = std::sin(0.37 * static_cast<double>(i));
  for (int64_t i = 0; i < K * N; ++i) b[i] = std::cos(0.11 * static_cast<double>(i));
  rnnfast::matmul<double>(M, N, K, a.data(), K, b.data(), N, c.data(), N);
  double worst = 0;
  for (int64_t i = 0; i < M; ++i)
    for (int64_t j = 0; j < N; ++j) {
      double want = 0;
      for (int64_t k = 0; k < K; ++k) want += a[i * K + k] * b[k * N + j];
      worst = std::max(worst, std::abs(c[i * N + j] - want));
    }
  check(worst < 1e-10, "matmul: max error " + std::to_string(worst));
  double* C = c.data();
  const double* A = a.data();
  const double* Bp = b.data();
  expect_invalid("matmul M<0", [&] { rnnfast::matmul<double>(-1, N, K, A, K, Bp, N, C, N); },
                 {"M, N, K", "-1"});
  expect_invalid("matmul lda", [&] { rnnfast::matmul<double>(M, N, K, A, K - 1, Bp, N, C, N); },
                 {"lda", "599"});
  expect_invalid("matmul ldb", [&] { rnnfast::matmul<double>(M, N, K, A, K, Bp, 3, C, N); },
                 {"ldb", "40"});
  expect_invalid("matmul ldc", [&] { rnnfast::matmul<double>(M, N, K, A, K, Bp, N, C, 1); },
                 {"ldc"});
  expect_invalid("matmul null C",
                 [&] { rnnfast::matmul<double>(M, N, K, A, K, Bp, N, nullptr, N); }, {"C", "null"});
  expect_invalid("matmul null A",
                 [&] { rnnfast::matmul<double>(M, N, K, nullptr, K, Bp, N, C, N); }, {"A", "null"});
}

// Packed panels start on a cache line whatever their size (small ones come from the heap,
// large ones from fresh pages): the kernels load 64-byte rows of them, and a misaligned base
// splits every load over two lines (a batch-1 step product ran 1.6x slower).
template <typename T>
void check_packed_alignment(const char* type) {
  rnnfast::gemm::PackedB<T> p;
  for (int64_t K : {1, 7, 64, 256, 1000, 4096}) {
    const int64_t N = 37;
    std::vector<T> b(static_cast<size_t>(K * N), T(1));
    p.pack(b.data(), N, false, K, N);  // grows through the sizes: every reallocation checked
    const auto addr = reinterpret_cast<std::uintptr_t>(p.data());
    check(addr % 64 == 0, std::string("PackedB<") + type +
                              "> storage 64-byte aligned at K=" + std::to_string(K) +
                              " (address mod 64 = " + std::to_string(addr % 64) + ")");
  }
}

void test_packed_alignment() {
  check_packed_alignment<float>("float");
  check_packed_alignment<double>("double");
}

// [T,B,n] <-> [B,T,n] (the same function both ways given the leading two sizes).
template <typename V>
std::vector<V> swap_steps(const std::vector<V>& a, int64_t T, int64_t B, int64_t n) {
  std::vector<V> out(a.size());
  for (int64_t t = 0; t < T; ++t)
    for (int64_t b = 0; b < B; ++b)
      std::copy_n(a.begin() + (t * B + b) * n, n, out.begin() + (b * T + t) * n);
  return out;
}

// Dims::batch_first: x, y, dx, dy are [B,T,..], read and written in place. y, h_n, dx and dh0
// are bitwise those of the time-major call on the transposed arrays (each row is the same
// computation); the parameter gradients (sums over positions, in another order) are close.
void test_batch_first() {
  const std::vector<Case> cases = {
      make_case(Cell::LSTM, 9, 20, 24, 40, 24, true, true, true, true, true, 41),
      make_case(Cell::GRU, 9, 20, 24, 40, 40, true, false, true, true, true, 42),
      make_case(Cell::RNN_TANH, 7, 3, 5, 33, 33, false, true, false, false, false, 43),
      make_case(Cell::GRU, 1, 2, 3, 17, 17, true, true, true, true, false, 44),
      make_case(Cell::INDRNN_RELU, 9, 20, 24, 40, 40, true, true, true, true, true, 45),
      make_case(Cell::INDRNN_TANH, 30, 20, 7, 48, 48, true, false, false, true, true, 46),
      make_case(Cell::MINGRU, 30, 4, 5, 19, 19, true, true, true, true, false, 45),
      make_case(Cell::MINLSTM, 30, 4, 5, 19, 19, true, false, false, true, false, 46)};
  for (const Case& c : cases) {
    const int64_t T = c.d.T, B = c.d.B;
    Case bf = c;
    bf.d.batch_first = true;
    bf.x = swap_steps(c.x, T, B, c.d.I);
    bf.dy = swap_steps(c.dy, T, B, c.d.H_out);
    const Result<float> a = run<float>(c), b = run<float>(bf);
    check(swap_steps(b.y, B, T, c.d.H_out) == a.y && b.h_n == a.h_n && b.c_n == a.c_n,
          c.name + " batch_first: y, h_n, c_n bitwise those of the time-major call");
    check(swap_steps(b.dx, B, T, c.d.I) == a.dx && b.dh0 == a.dh0 && b.dc0 == a.dc0,
          c.name + " batch_first: dx, dh0, dc0 bitwise those of the time-major call");
    std::string why;
    bool ok = close(b.dw_ih, a.dw_ih, 1e-5, &why) && close(b.dw_hh, a.dw_hh, 1e-5, &why) &&
              close(b.db_ih, a.db_ih, 1e-5, &why) && close(b.dw_hr, a.dw_hr, 1e-5, &why);
    check(ok, c.name + " batch_first: parameter gradients " + why);
  }
}

#ifdef TEST_MXCSR
constexpr unsigned kFtzDaz = 0x8040;  // MXCSR: bit 15 flush-to-zero, bit 6 denormals-are-zero

// MXCSR's FTZ/DAZ bits of the calling thread and of every thread of a 2-thread OpenMP team
// (the runtime reuses its threads, so these are the threads the kernels ran on).
std::vector<unsigned> team_flags(unsigned set_to, bool set) {
  std::vector<unsigned> out(3, 0);
  if (set) _mm_setcsr((_mm_getcsr() & ~kFtzDaz) | set_to);
  out[0] = _mm_getcsr() & kFtzDaz;
#ifdef _OPENMP
#pragma omp parallel num_threads(2)
  {
    if (set) _mm_setcsr((_mm_getcsr() & ~kFtzDaz) | set_to);
    out[1 + omp_get_thread_num()] = _mm_getcsr() & kFtzDaz;
  }
#endif
  return out;
}
#endif

// The kernels run with flush-to-zero and denormals-are-zero (docs/NUMERICS.md) and leave every
// thread's floating-point control state as they found it: the caller's and the team's, with the
// flags off and with them on. Inside, a subnormal input is read as zero.
void test_denormals_flushed_and_state_restored() {
#ifdef TEST_MXCSR
  const int old = rnnfast::get_num_threads();
  Case c = make_case(Cell::LSTM, 9, 20, 24, 40, 40, true, true, true, true, true, 31);
  Case rev = c;
  rev.reverse = true;
  for (unsigned state : {0u, kFtzDaz}) {
    for (int n : {1, 2}) {
      rnnfast::set_num_threads(n);
      const std::vector<unsigned> before = team_flags(state, true);
      for (Cell cell : {Cell::LSTM, Cell::GRU, Cell::RNN_TANH}) {
        c.cell = rev.cell = cell;
        run<float>(c);
        run<double>(c);
      }
      rnnfast::run_pair([&] { run<float>(c); }, [&] { run<float>(rev); }, 0.0);
      std::vector<float> a(64 * 300, 1.0f), b(300 * 70, 1.0f), out(64 * 70);
      rnnfast::matmul<float>(64, 70, 300, a.data(), 300, b.data(), 70, out.data(), 70);
      const std::vector<unsigned> after = team_flags(0, false);
      check(after == before,
            "FTZ/DAZ state of the caller and the team restored after calls "
            "with " +
                std::to_string(n) + " threads, flags " + std::to_string(state) +
                " before, caller " + std::to_string(after[0]) + " after");
    }
  }
  // A subnormal input (1e-40 < 1.2e-38) is read as zero by the kernels (DAZ), while the same
  // product computed by the caller afterwards keeps it.
  team_flags(0, true);
  volatile float tiny = 1e-40f;
  for (int n : {1, 2}) {
    rnnfast::set_num_threads(n);
    std::vector<float> a(40 * 40, static_cast<float>(tiny)), b(40 * 40, 1.0f), out(40 * 40, -1.0f);
    rnnfast::matmul<float>(40, 40, 40, a.data(), 40, b.data(), 40, out.data(), 40);
    check(std::all_of(out.begin(), out.end(), [](float v) { return v == 0.0f; }),
          "matmul reads subnormal inputs as zero with " + std::to_string(n) + " threads");
  }
  const float kept = tiny * 1.0f;
  check(kept != 0.0f, "the caller still computes with subnormals after the calls");
  rnnfast::set_num_threads(old);
#endif
}

// Team threads reported late (another process holds the cores) put the process in the
// backoff period: threads_for then picks one thread unless a caller forces its team, and the
// results are bitwise those of a team; a team that finishes on time afterwards ends nothing
// early (the period runs out by itself) and resets the next period to the shortest.
void test_contention_backoff() {
  if (!rnnfast::has_openmp()) return;
  namespace d = rnnfast::detail;
  const int old = rnnfast::get_num_threads();
  rnnfast::set_num_threads(2);
  const Case c = make_case(Cell::LSTM, 9, 20, 24, 40, 40, true, true, true, true, true, 21);
  const char* env = std::getenv("RNNFAST_CONTENTION");
  const bool enabled = !(env && (std::strcmp(env, "off") == 0 || std::strcmp(env, "0") == 0));
  // Wait out any period a real contention during the earlier tests started.
  for (int i = 0; i < 400 && d::cores_contended(); ++i) usleep(10000);
  check(!d::cores_contended(), "no backoff period running after 4 s without a late thread");
  check(d::threads_for(1e9) == 2, "threads_for: a team of 2 for large work outside a period");
  const Result<float> team = run<float>(c);
  for (int i = 0; i < d::kLateInWindow; ++i) d::note_late_thread();
  if (enabled) {
    check(d::cores_contended(), "late threads in a short window start the backoff period");
    check(d::threads_for(1e9) == 1, "threads_for: one thread during the period");
    check(d::threads_for(1e9, false) == 2, "threads_for: a forced team keeps its threads");
  } else {
    check(!d::cores_contended(), "RNNFAST_CONTENTION=off: a late thread changes nothing");
  }
  const Result<float> serial = run<float>(c);
  bool same = true;
  const auto a = team.named(), b = serial.named();
  for (size_t i = 0; i < a.size(); ++i) {
    const std::vector<float>&u = *a[i].second, &v = *b[i].second;
    same &= u.size() == v.size() &&
            (u.empty() || std::memcmp(u.data(), v.data(), u.size() * sizeof(float)) == 0);
  }
  check(same, "results during the backoff period are bitwise the team's");
  if (enabled) {
    rnnfast::reset_thread_backoff();
    check(!d::cores_contended() && d::threads_for(1e9) == 2,
          "reset_thread_backoff ends the period at once");
    for (int i = 0; i < d::kLateInWindow; ++i) d::note_late_thread();
  }
  d::note_team_done(d::now_ns());  // on time: the next period is the shortest again
  for (int i = 0; i < 400 && d::cores_contended(); ++i) usleep(10000);
  check(!d::cores_contended(), "the backoff period ends by itself");
  rnnfast::set_num_threads(old);
}

int main(int argc, char** argv) {
  const std::string group = argc > 1 ? argv[1] : "all";
  try {
    if (group == "bad_alloc") {
      test_bad_alloc();
    } else if (group == "all") {
      test_invalid_arguments();
      test_invalid_zoneout();
      test_closed_forms();
      test_float_matches_double();
      test_finite_differences();
      test_gradients_accumulate();
      test_threads_bitwise();
      test_scan_streaming();
      test_run_pair();
      test_nonfinite_inputs();
      test_matmul();
      test_packed_alignment();
      test_denormals_flushed_and_state_restored();
      test_batch_first();
      test_contention_backoff();
    } else {
      std::printf("usage: test_api [all|bad_alloc]\n");
      return 2;
    }
  } catch (const std::exception& e) {
    std::printf("FAIL unexpected exception: %s\n", e.what());
    ++g_failed;
  }
  std::printf("test_api %s (isa %s, %d threads): %d passed, %d failed\n", group.c_str(),
              rnnfast::isa(), rnnfast::get_num_threads(), g_passed, g_failed);
  return g_failed == 0 ? 0 : 1;
}
