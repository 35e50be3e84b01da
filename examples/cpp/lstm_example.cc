// lstm_example: the rnnfast C++ API from an installed package (find_package(rnnfast)).
// Runs one float LSTM layer forward with a training reserve, then BPTT, on a small batch of
// variable-length sequences, and prints every result as one machine-readable line:
//   <name> [d0,d1,...] v0 v1 ...        (row-major, %.9g)
// so tests/test_cpp_package.py can rebuild the same inputs in NumPy and compare against
// rnnfast.reference. It also shows that the API validates its arguments (std::invalid_argument).
// It deliberately does not show stacking, bidirectional layers or the projection (w_hr).
//
// Inputs (computed in double, then rounded to float; n is the row-major flat index):
//   x    [T,B,I]    sin(0.37*n + 0.1)
//   w_ih [4H,I]     0.3*cos(0.11*n + 0.2)
//   w_hh [4H,H]     0.3*sin(0.07*n + 0.5)
//   b_ih [4H]       0.1*cos(0.5*n)
//   b_hh [4H]       0.1*sin(0.3*n + 1.0)
//   h0   [B,H]      0.2*sin(0.9*n)
//   c0   [B,H]      0.2*cos(0.8*n)
//   dy   [T,B,H]    cos(0.23*n + 0.4)
//   dh_n [B,H]      0.5*sin(0.41*n)
//   dc_n [B,H]      0.5*cos(0.29*n)
// with T=5, B=3, I=4, H=6, lengths = {5, 2, 4}, forward direction.
#include <rnnfast/rnnfast.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <initializer_list>
#include <stdexcept>
#include <vector>

namespace {

std::vector<float> make(int64_t n, const std::function<double(double)>& f) {
  std::vector<float> v(static_cast<size_t>(n));
  for (int64_t k = 0; k < n; ++k) v[static_cast<size_t>(k)] = static_cast<float>(f(double(k)));
  return v;
}

void print(const char* name, std::initializer_list<int64_t> shape, const std::vector<float>& v) {
  std::printf("%s [", name);
  const char* sep = "";
  for (int64_t s : shape) {
    std::printf("%s%lld", sep, static_cast<long long>(s));
    sep = ",";
  }
  std::printf("]");
  for (float e : v) std::printf(" %.9g", static_cast<double>(e));
  std::printf("\n");
}

}  // namespace

int main() {
  using rnnfast::Cell;
  const Cell cell = Cell::LSTM;
  rnnfast::Dims d;
  d.T = 5;
  d.B = 3;
  d.I = 4;
  d.H = 6;
  d.H_out = 6;
  const int64_t G = rnnfast::num_gates(cell);  // 4: i, f, g, o
  const int64_t T = d.T, B = d.B, I = d.I, H = d.H;
  const std::vector<int64_t> lengths = {5, 2, 4};

  const auto x = make(T * B * I, [](double n) { return std::sin(0.37 * n + 0.1); });
  const auto w_ih = make(G * H * I, [](double n) { return 0.3 * std::cos(0.11 * n + 0.2); });
  const auto w_hh = make(G * H * H, [](double n) { return 0.3 * std::sin(0.07 * n + 0.5); });
  const auto b_ih = make(G * H, [](double n) { return 0.1 * std::cos(0.5 * n); });
  const auto b_hh = make(G * H, [](double n) { return 0.1 * std::sin(0.3 * n + 1.0); });
  const auto h0 = make(B * H, [](double n) { return 0.2 * std::sin(0.9 * n); });
  const auto c0 = make(B * H, [](double n) { return 0.2 * std::cos(0.8 * n); });
  const auto dy = make(T * B * H, [](double n) { return std::cos(0.23 * n + 0.4); });
  const auto dh_n = make(B * H, [](double n) { return 0.5 * std::sin(0.41 * n); });
  const auto dc_n = make(B * H, [](double n) { return 0.5 * std::cos(0.29 * n); });

  rnnfast::Weights<float> w;
  w.w_ih = w_ih.data();
  w.w_hh = w_hh.data();
  w.b_ih = b_ih.data();
  w.b_hh = b_hh.data();

  std::printf("version %s\n", rnnfast::version());
  std::printf("openmp %d\n", rnnfast::has_openmp() ? 1 : 0);
  std::printf("dims %lld %lld %lld %lld\n", static_cast<long long>(T), static_cast<long long>(B),
              static_cast<long long>(I), static_cast<long long>(H));
  std::printf("lengths %lld %lld %lld\n", static_cast<long long>(lengths[0]),
              static_cast<long long>(lengths[1]), static_cast<long long>(lengths[2]));

  try {
    // Forward with a training reserve (what backward reads).
    std::vector<float> y(size_t(T * B * H)), h_n(size_t(B * H)), c_n(size_t(B * H));
    std::vector<float> reserve(size_t(rnnfast::reserve_size(cell, d)));
    rnnfast::forward<float>(cell, y.data(), h_n.data(), c_n.data(), reserve.data(), x.data(),
                            h0.data(), c0.data(), lengths.data(), /*h_mask=*/nullptr, w, d,
                            /*reverse=*/false);
    print("y", {T, B, H}, y);
    print("h_n", {B, H}, h_n);
    print("c_n", {B, H}, c_n);

    // BPTT from the reserve and the forward's own y (the states each step read are y one step
    // back). Parameter gradients accumulate (+=), so they start at zero; dx, dh0, dc0 are written.
    std::vector<float> dx(size_t(T * B * I)), dh0(size_t(B * H)), dc0(size_t(B * H));
    std::vector<float> dw_ih(w_ih.size(), 0.f), dw_hh(w_hh.size(), 0.f);
    std::vector<float> db_ih(b_ih.size(), 0.f), db_hh(b_hh.size(), 0.f);
    rnnfast::WeightGrads<float> dw;
    dw.dw_ih = dw_ih.data();
    dw.dw_hh = dw_hh.data();
    dw.db_ih = db_ih.data();
    dw.db_hh = db_hh.data();
    rnnfast::backward<float>(cell, dx.data(), dh0.data(), dc0.data(), dw, reserve.data(), dy.data(),
                             dh_n.data(), dc_n.data(), x.data(), y.data(), lengths.data(),
                             /*h_mask=*/nullptr, w, d, /*reverse=*/false);
    print("dx", {T, B, I}, dx);
    print("dh0", {B, H}, dh0);
    print("dc0", {B, H}, dc0);
    print("dw_ih", {G * H, I}, dw_ih);
    print("dw_hh", {G * H, H}, dw_hh);
    print("db_ih", {G * H}, db_ih);
    print("db_hh", {G * H}, db_hh);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "unexpected error: %s\n", e.what());
    return 1;
  }

  // The API validates before it reads anything: a length beyond T is rejected.
  {
    const std::vector<int64_t> bad = {5, 7, 4};
    std::vector<float> y(size_t(T * B * H)), h_n(size_t(B * H)), c_n(size_t(B * H));
    try {
      rnnfast::forward<float>(cell, y.data(), h_n.data(), c_n.data(), nullptr, x.data(), nullptr,
                              nullptr, bad.data(), nullptr, w, d, /*reverse=*/false);
      std::fprintf(stderr, "expected std::invalid_argument for lengths[1] = 7 > T = 5\n");
      return 1;
    } catch (const std::invalid_argument& e) {
      std::printf("error %s\n", e.what());
    }
  }
  return 0;
}
