// Argument validation, the reserve size, threads and version: everything of the public API
// that is not numerical. Validation messages name the argument, the expected and given value.
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <functional>
#include <limits>
#include <sstream>
#include <stdexcept>
#include <string>

#include "cells/common.h"
#include "cells/team.h"
#include "cells/traits.h"
#include "gemm/gemm.h"
#include "rnnfast/rnnfast.h"
#include "threads.h"

namespace rnnfast {

namespace {
std::atomic<int> g_threads{0};  // 0 = not set: OpenMP's default

[[noreturn]] void fail(const std::string& msg) { throw std::invalid_argument(msg); }

template <typename V>
std::string str(const V& v) {
  std::ostringstream os;
  os << v;
  return os.str();
}
}  // namespace

int num_gates(Cell cell) { return detail::cell_info(cell).gates; }
const char* cell_name(Cell cell) { return detail::cell_info(cell).name; }
bool has_cell_state(Cell cell) { return detail::cell_info(cell).has_c; }
bool has_projection(Cell cell) { return detail::cell_info(cell).projection; }
int num_extras(Cell cell) { return detail::cell_info(cell).extras; }
bool has_diagonal_recurrence(Cell cell) {
  return detail::cell_info(cell).recurrence == detail::Recurrence::kDiagonal;
}

int64_t extra_size(Cell cell, int64_t H, int k) {
  const detail::CellInfo c = detail::cell_info(cell);
  if (k < 0 || k >= c.extras)
    fail(std::string("k: expected an extra parameter of ") + c.name + " in [0, " + str(c.extras) +
         "), got " + str(k));
  return c.extra_blocks[k] * H;
}

namespace detail {

namespace {
std::atomic<int64_t> g_serial_until{0};         // run on one thread before this time
std::atomic<int64_t> g_backoff{kMinBackoffNs};  // the next backoff period
std::atomic<int64_t> g_last_late{0};            // when a team thread last came late
std::atomic<int64_t> g_window_start{0};         // the late threads counted since then
std::atomic<int> g_late_in_window{0};

bool contention_enabled() {
  static const bool on = [] {
    const char* e = std::getenv("RNNFAST_CONTENTION");
    return !(e && (std::strcmp(e, "off") == 0 || std::strcmp(e, "0") == 0));
  }();
  return on;
}
}  // namespace

bool cores_contended() {
  const int64_t until = g_serial_until.load(std::memory_order_relaxed);
  return until != 0 && now_ns() < until;
}

void note_late_thread() {
  if (!contention_enabled()) return;
  const int64_t now = now_ns();
  g_last_late.store(now, std::memory_order_relaxed);
  // One backoff per late team: a second report while the period runs changes nothing.
  if (now < g_serial_until.load(std::memory_order_relaxed)) return;
  // A late thread now and then (a short-lived process, the system's own work) costs less than
  // one thread would: only kLateInWindow of them within kLateWindowNs start a period.
  const int64_t w = g_window_start.load(std::memory_order_relaxed);
  if (now - w > kLateWindowNs) {
    g_window_start.store(now, std::memory_order_relaxed);
    g_late_in_window.store(1, std::memory_order_relaxed);
    return;
  }
  if (g_late_in_window.fetch_add(1, std::memory_order_relaxed) + 1 < kLateInWindow) return;
  g_late_in_window.store(0, std::memory_order_relaxed);
  const int64_t b = g_backoff.load(std::memory_order_relaxed);
  g_serial_until.store(now + b, std::memory_order_relaxed);
  g_backoff.store(b * 2 < kMaxBackoffNs ? b * 2 : kMaxBackoffNs, std::memory_order_relaxed);
}

void note_team_done(int64_t fork_ns) {
  if (g_last_late.load(std::memory_order_relaxed) < fork_ns &&
      g_backoff.load(std::memory_order_relaxed) != kMinBackoffNs)
    g_backoff.store(kMinBackoffNs, std::memory_order_relaxed);
}

int num_threads() {
  const int n = g_threads.load(std::memory_order_relaxed);
  if (n > 0) return n;
#ifdef _OPENMP
  return omp_get_max_threads();
#else
  return 1;
#endif
}

void validate(Cell cell, const Dims& d, bool has_w_ih, bool has_w_hh, bool has_b_ih, bool has_b_hh,
              bool has_w_hr, const int64_t* lengths, const void* const* extra) {
  const CellInfo c = cell_info(cell);  // validates the cell
  const int G = c.gates;
  if (d.T < 1) fail("T: expected a number of steps >= 1, got " + str(d.T));
  if (d.B < 1) fail("B: expected a batch size >= 1, got " + str(d.B));
  if (d.I < 1) fail("I: expected an input size >= 1, got " + str(d.I));
  if (d.H < 1) fail("H: expected a hidden size >= 1, got " + str(d.H));
  if (c.projection) {
    if (d.H_out < 1 || d.H_out > d.H)
      fail("H_out: expected H (" + str(d.H) + ") or a projection size in [1, H), got " +
           str(d.H_out));
  } else if (d.H_out != d.H) {
    fail(std::string("H_out: expected H (") + str(d.H) + ") for " + c.name +
         " (projection is LSTM only), got " + str(d.H_out));
  }
  // Keep every buffer's element count far from int64 overflow.
  const double norm = c.row_norm ? 2.0 * G * d.H + d.H + 3 : 0.0;  // the LN cells' reserve
  const double big = static_cast<double>(d.T) * d.B * (G * d.H + 3 * d.H + d.H_out + d.I + norm) +
                     static_cast<double>(G) * d.H * (d.I + d.H_out + 2) + d.H * d.H_out;
  if (big > 4.0e18)
    fail("dims: the buffers of T=" + str(d.T) + ", B=" + str(d.B) + ", I=" + str(d.I) +
         ", H=" + str(d.H) + " are too large to address");
  if (!has_w_ih) fail("w_ih: expected a [G*H, I] weight, got a null pointer");
  if (c.recurrence == Recurrence::kProduct) {
    if (!has_w_hh) fail("w_hh: expected a [G*H, H_out] weight, got a null pointer");
    if (has_b_ih != has_b_hh)
      fail(std::string("b_ih, b_hh: expected both biases or neither, got ") +
           (has_b_ih ? "b_ih without b_hh" : "b_hh without b_ih"));
  } else {
    // One bias (b_ih); the recurrent weight is a vector of H (kDiagonal) or absent (kScan).
    if (c.recurrence == Recurrence::kDiagonal && !has_w_hh)
      fail(std::string("w_hh: expected the [H] recurrent weight vector of ") + c.name +
           ", got a null pointer");
    if (c.recurrence == Recurrence::kScan && has_w_hh)
      fail(std::string("w_hh: expected none (") + c.name + "'s gates read x only), got a pointer");
    if (has_b_hh)
      fail(std::string("b_hh: expected none (") + c.name + " has one bias, b_ih), got a pointer");
  }
  if (d.H_out != d.H && !has_w_hr)
    fail("w_hr: expected a [H_out, H] projection weight since H_out (" + str(d.H_out) + ") != H (" +
         str(d.H) + "), got a null pointer");
  if (d.H_out == d.H && has_w_hr)
    fail("w_hr: expected none since H_out == H (no projection), got a pointer");
  for (int k = 0; extra && k < kMaxExtras; ++k) {
    if (k < c.extras && !extra[k])
      fail(std::string("extra[") + str(k) + "]: expected the [" + str(c.extra_blocks[k]) +
           "*H] parameter of " + c.name + ", got a null pointer");
    if (k >= c.extras && extra[k])
      fail(std::string("extra[") + str(k) + "]: expected none (" + c.name + " has " +
           str(c.extras) + " extra parameters), got a pointer");
  }
  if (lengths) {
    for (int64_t b = 0; b < d.B; ++b) {
      if (lengths[b] < 1 || lengths[b] > d.T)
        fail("lengths: expected every length in [1, T=" + str(d.T) + "], got lengths[" + str(b) +
             "] = " + str(lengths[b]));
    }
  }
}

void validate_zoneout(Cell cell, const Dims& d, bool has_h, bool has_c, double h_prob,
                      double c_prob) {
  const CellInfo c = cell_info(cell);
  const auto prob = [](const char* name, double p) {
    if (!(p >= 0.0 && p < 1.0))
      fail(std::string(name) + ": expected a zoneout probability in [0, 1), got " + str(p));
  };
  prob("zoneout.h_prob", h_prob);
  prob("zoneout.c_prob", c_prob);
  if (!(has_h || has_c || h_prob != 0.0 || c_prob != 0.0)) return;  // off
  if (has_h && h_prob != 0.0)
    fail("zoneout.h_prob: expected 0 when the masks zoneout.h are given, got " + str(h_prob));
  if (has_c && c_prob != 0.0)
    fail("zoneout.c_prob: expected 0 when the masks zoneout.c are given, got " + str(c_prob));
  if (c.recurrence == Recurrence::kScan)
    fail(std::string("zoneout: expected none for ") + c.name +
         " (zoneout is for the cells that read h_{t-1} through a recurrent weight: not the "
         "scan cells), got masks or probabilities");
  if (!c.has_c && (has_c || c_prob != 0.0))
    fail(std::string("zoneout.c: expected none (") + c.name +
         " has no cell state), got masks or a probability");
  (void)d;  // a projected LSTM takes zoneout too: h's masks are [T,B,H_out]
}

}  // namespace detail

int64_t reserve_size(Cell cell, const Dims& d, bool zoneout) {
  detail::validate(cell, d, true, detail::cell_info(cell).recurrence != detail::Recurrence::kScan,
                   false, false, d.H_out != d.H, nullptr, nullptr);
  // The layout: detail::Reserve (cells/common.h).
  return detail::Reserve<char>(cell, d, nullptr, zoneout).size;
}

void run_pair(const std::function<void()>& a, const std::function<void()>& b, double step_flops) {
  const int nt = detail::threads_for(1e30);  // 1 when nested or single-threaded
  // Two threads: one per call beats a team per call (no per-step barrier). More threads: only
  // while a call's step is too small for a team of its own.
  const bool concurrent = nt >= 2 && (nt == 2 || step_flops < detail::kMinStepFlops * nt);
  std::exception_ptr err[2];
  if (!concurrent) {  // one after the other; both run, as they would concurrently
    try {
      a();
    } catch (...) {
      err[0] = std::current_exception();
    }
    try {
      b();
    } catch (...) {
      err[1] = std::current_exception();
    }
    for (auto& e : err)
      if (e) std::rethrow_exception(e);
    return;
  }
  const detail::TeamFork fork(2);
#pragma omp parallel num_threads(2)
  {
    const detail::TeamThread member(fork);
    const int t = omp_get_thread_num();
    try {
      if (t == 0) a();
      if (t == 1 || omp_get_num_threads() == 1) b();
    } catch (...) {
      err[t] = std::current_exception();
    }
  }
  for (auto& e : err)
    if (e) std::rethrow_exception(e);
}

template <typename T>
void matmul(int64_t M, int64_t N, int64_t K, const T* A, int64_t lda, const T* B, int64_t ldb, T* C,
            int64_t ldc) {
  if (M < 0 || N < 0 || K < 0)
    fail("M, N, K: expected sizes >= 0, got " + str(M) + ", " + str(N) + ", " + str(K));
  const auto check_ld = [](const char* name, int64_t ld, int64_t cols, const char* dim) {
    const int64_t need = cols > 1 ? cols : 1;
    if (ld < need)
      fail(std::string(name) + ": expected >= max(" + dim + ", 1) = " + str(need) + ", got " +
           str(ld));
  };
  check_ld("lda", lda, K, "K");
  check_ld("ldb", ldb, N, "N");
  check_ld("ldc", ldc, N, "N");
  if (M == 0 || N == 0) return;
  if (!C) fail("C: expected a [M,N] output buffer, got a null pointer");
  if (K > 0 && (!A || !B))
    fail(std::string(!A ? "A" : "B") + ": expected a matrix, got a null pointer");
  const detail::DenormalsOff flush;
  gemm::gemm<T>(false, false, M, N, K, A, lda, B, ldb, T(0), C, ldc);
}
template void matmul<float>(int64_t, int64_t, int64_t, const float*, int64_t, const float*, int64_t,
                            float*, int64_t);
template void matmul<double>(int64_t, int64_t, int64_t, const double*, int64_t, const double*,
                             int64_t, double*, int64_t);

void set_num_threads(int n) {
  if (n < 1) fail("n: expected a thread count >= 1, got " + str(n));
  g_threads.store(n, std::memory_order_relaxed);
}

int get_num_threads() { return detail::num_threads(); }

void reset_thread_backoff() {
  detail::g_serial_until.store(0, std::memory_order_relaxed);
  detail::g_backoff.store(detail::kMinBackoffNs, std::memory_order_relaxed);
  detail::g_late_in_window.store(0, std::memory_order_relaxed);
  detail::g_window_start.store(0, std::memory_order_relaxed);
}

bool has_openmp() {
#ifdef _OPENMP
  return true;
#else
  return false;
#endif
}

// The version string is pyproject.toml's, defined by CMakeLists.txt for this file only.
#ifndef RNNFAST_VERSION_STRING
#error "RNNFAST_VERSION_STRING is not defined: build with CMakeLists.txt (it reads pyproject.toml)"
#endif
const char* version() { return RNNFAST_VERSION_STRING; }

}  // namespace rnnfast
