// test_ops: the ops' C++ API (rnnfast/ops.h) on its own, as a caller that is not Python sees it.
//  - every invalid argument throws std::invalid_argument (an index or class out of range:
//    std::out_of_range) whose message names the argument and gives the expected and the given
//    value, and nothing is written before the throw;
//  - valid calls: parameter gradients accumulate (+=) and activation gradients are written,
//    float against double, the (R, C, S) layout against (R*S, C), closed forms of the
//    optimizer updates, results bitwise equal at 1 and 2 threads.
// Accuracy against NumPy and torch is tests/test_ops.py's. Prints one line per failure and a
// closing "N passed, M failed".
#include <rnnfast/ops.h>
#include <rnnfast/rnnfast.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

namespace ops = rnnfast::ops;

int g_passed = 0, g_failed = 0;

void check(bool ok, const std::string& what) {
  if (ok) {
    ++g_passed;
  } else {
    ++g_failed;
    std::printf("FAIL %s\n", what.c_str());
  }
}

// splitmix64: the same values on every standard library
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
  std::vector<double> vec(size_t n, double lo = -1.0, double hi = 1.0) {
    std::vector<double> v(n);
    for (auto& x : v) x = uniform(lo, hi);
    return v;
  }
};

template <typename T>
std::vector<T> cast(const std::vector<double>& v) {
  return std::vector<T>(v.begin(), v.end());
}

// f must throw E whose message contains every word.
template <typename E>
void expect_throw(const std::string& what, const std::function<void()>& f,
                  const std::vector<std::string>& words) {
  try {
    f();
    check(false, what + ": no exception");
  } catch (const E& e) {
    const std::string msg = e.what();
    for (const auto& w : words)
      check(msg.find(w) != std::string::npos,
            what + ": message \"" + msg + "\" does not contain \"" + w + "\"");
  } catch (const std::exception& e) {
    check(false, what + ": another exception: " + e.what());
  }
}

void expect_invalid(const std::string& what, const std::function<void()>& f,
                    const std::vector<std::string>& words) {
  expect_throw<std::invalid_argument>(what, f, words);
}

template <typename T>
bool all_equal(const std::vector<T>& v, T value) {
  for (T x : v)
    if (!(x == value)) return false;
  return true;
}

double max_rel(const std::vector<float>& a, const std::vector<double>& b) {
  double scale = 1.0, err = 0.0;
  for (double x : b) scale = std::fmax(scale, std::fabs(x));
  for (size_t i = 0; i < a.size(); ++i) err = std::fmax(err, std::fabs(a[i] - b[i]));
  return err / scale;
}

// ------------------------------------------------------------------ invalid arguments

void test_invalid_arguments() {
  const float nan = std::nanf("");
  std::vector<float> x(12, 1.0f), w(12, 1.0f), y(16, nan), b(4, 1.0f);
  // linear: M=3, K=4, N=4 (w [4,4] uses 16, only 12 given here: the sizes are the caller's)
  std::vector<float> w16(16, 1.0f);
  expect_invalid(
      "linear M < 0",
      [&] { ops::linear_forward<float>(y.data(), x.data(), w16.data(), nullptr, -1, 4, 4); },
      {"M", ">= 0", "-1"});
  expect_invalid(
      "linear null x",
      [&] { ops::linear_forward<float>(y.data(), nullptr, w16.data(), nullptr, 3, 4, 4); },
      {"x", "[M,K]", "null"});
  expect_invalid(
      "linear null w",
      [&] { ops::linear_forward<float>(y.data(), x.data(), nullptr, b.data(), 3, 4, 4); },
      {"w", "[N,K]", "null"});
  expect_invalid("linear backward null w for dx",
                 [&] {
                   ops::linear_backward<float>(y.data(), nullptr, nullptr, y.data(), x.data(),
                                               nullptr, 3, 4, 4);
                 },
                 {"w", "dx", "null"});
  bool untouched = true;
  for (float v : y) untouched = untouched && std::isnan(v);
  check(untouched, "linear: y untouched after the invalid calls");

  // embedding
  std::vector<int64_t> idx = {0, 3, 1};
  std::vector<float> table(4 * 2, 1.0f), out(3 * 2, nan), dtab(4 * 2, 0.0f);
  expect_throw<std::out_of_range>(
      "embedding index 3 of 3",
      [&] { ops::embedding_forward<float>(out.data(), idx.data(), table.data(), 3, 3, 2); },
      {"indices", "index 3", "3 embeddings", "0 to 2"});
  expect_throw<std::out_of_range>(
      "embedding backward index",
      [&] { ops::embedding_backward<float>(dtab.data(), out.data(), idx.data(), 3, 3, 2, -1); },
      {"index 3"});
  untouched = true;
  for (float v : out) untouched = untouched && std::isnan(v);
  check(untouched && all_equal(dtab, 0.0f), "embedding: nothing written before the throw");
  expect_invalid(
      "embedding padding_idx",
      [&] { ops::embedding_backward<float>(dtab.data(), out.data(), idx.data(), 3, 4, 2, 4); },
      {"padding_idx", "[0, 4)", "4"});
  expect_invalid(
      "embedding D < 0",
      [&] { ops::embedding_forward<float>(out.data(), idx.data(), table.data(), 3, 4, -2); },
      {"D", ">= 0", "-2"});

  // cross entropy: R=2, C=3, S=1
  std::vector<float> logits(6, 0.5f), loss(2, nan), lse(2, nan), d(6, nan);
  std::vector<int64_t> tgt = {1, 3};
  ops::CrossEntropyOptions o;
  expect_throw<std::out_of_range>("ce class 3 of 3",
                                  [&] {
                                    ops::cross_entropy_forward<float>(loss.data(), lse.data(),
                                                                      logits.data(), tgt.data(),
                                                                      nullptr, 2, 3, 1, o);
                                  },
                                  {"target", "class index 3", "3 classes", "ignore_index=-100"});
  untouched = true;
  for (float v : loss) untouched = untouched && std::isnan(v);
  for (float v : lse) untouched = untouched && std::isnan(v);
  check(untouched, "ce: nothing written before the throw");
  tgt[1] = 2;
  o.label_smoothing = -0.5;
  expect_invalid("ce smoothing",
                 [&] {
                   ops::cross_entropy_forward<float>(loss.data(), lse.data(), logits.data(),
                                                     tgt.data(), nullptr, 2, 3, 1, o);
                 },
                 {"label_smoothing", "[0, 1]", "-0.5"});
  o.label_smoothing = 0.0;
  o.reduction = static_cast<ops::Reduction>(7);
  expect_invalid("ce reduction",
                 [&] {
                   ops::cross_entropy_forward<float>(loss.data(), lse.data(), logits.data(),
                                                     tgt.data(), nullptr, 2, 3, 1, o);
                 },
                 {"reduction", "7"});
  o.reduction = ops::Reduction::Mean;
  expect_invalid("ce C = 0",
                 [&] {
                   ops::cross_entropy_forward<float>(loss.data(), lse.data(), logits.data(),
                                                     tgt.data(), nullptr, 2, 0, 1, o);
                 },
                 {"C", ">= 1", "0"});
  expect_invalid("ce null lse",
                 [&] {
                   ops::cross_entropy_forward<float>(loss.data(), nullptr, logits.data(),
                                                     tgt.data(), nullptr, 2, 3, 1, o);
                 },
                 {"lse", "null"});
  expect_invalid("ce backward null dlogits",
                 [&] {
                   ops::cross_entropy_backward<float>(nullptr, loss.data(), lse.data(),
                                                      logits.data(), tgt.data(), nullptr, 2, 3, 1,
                                                      o);
                 },
                 {"dlogits", "[R,C,S]", "null"});

  // elementwise losses
  std::vector<float> e(6, 0.0f), pw(4, 1.0f);
  ops::Periodic<float> bad;
  bad.data = pw.data();
  bad.period = 4;
  expect_invalid("bce period",
                 [&] {
                   ops::bce_with_logits_forward<float>(loss.data(), e.data(), e.data(),
                                                       ops::Periodic<float>{}, bad, 6,
                                                       ops::Reduction::Sum);
                 },
                 {"pos_weight", "divides n = 6", "4"});
  expect_invalid(
      "mse null target",
      [&] { ops::mse_forward<float>(loss.data(), e.data(), nullptr, 6, ops::Reduction::Sum); },
      {"target", "null"});

  // optimizers
  std::vector<float> p(3, 1.0f), g(3, 1.0f), m(3, 0.0f), v(3, 0.0f);
  ops::AdamParam<float> ap;
  ap.n = 3;
  ap.param = p.data();
  ap.grad = g.data();
  ap.exp_avg = m.data();
  ap.exp_avg_sq = v.data();
  ap.step = 1;
  ops::AdamOptions ao;
  ao.amsgrad = true;
  expect_invalid("adam amsgrad buffer", [&] { ops::adam_step<float>(&ap, 1, ao); },
                 {"params[0].max_exp_avg_sq", "amsgrad", "null"});
  ao.amsgrad = false;
  ao.beta2 = 1.0;
  expect_invalid("adam beta2", [&] { ops::adam_step<float>(&ap, 1, ao); },
                 {"beta2", "[0, 1)", "1"});
  ao.beta2 = 0.999;
  ao.lr = std::nan("");
  expect_invalid("adam lr NaN", [&] { ops::adam_step<float>(&ap, 1, ao); }, {"lr", ">= 0", "nan"});
  ao.lr = 1e-3;
  ap.step = 0;
  expect_invalid("adam step", [&] { ops::adam_step<float>(&ap, 1, ao); },
                 {"params[0].step", ">= 1", "0"});
  ap.step = 1;
  ap.grad = nullptr;
  expect_invalid("adam grad", [&] { ops::adam_step<float>(&ap, 1, ao); },
                 {"params[0].grad", "null"});
  check(all_equal(p, 1.0f) && all_equal(m, 0.0f) && all_equal(v, 0.0f),
        "adam: nothing written before the throw");
  ops::SgdParam<float> sp;
  sp.n = 3;
  sp.param = p.data();
  sp.grad = g.data();
  ops::SgdOptions so;
  so.momentum = 0.9;
  expect_invalid("sgd momentum buffer", [&] { ops::sgd_step<float>(&sp, 1, so); },
                 {"params[0].momentum_buffer", "momentum != 0", "null"});
  so.nesterov = true;
  so.dampening = 0.1;
  expect_invalid("sgd nesterov", [&] { ops::sgd_step<float>(&sp, 1, so); },
                 {"nesterov", "dampening 0.1"});
  expect_invalid("sgd count", [&] { ops::sgd_step<float>(&sp, -1, ops::SgdOptions{}); },
                 {"count", ">= 0", "-1"});
  ops::AdagradParam<float> gp;
  gp.n = 3;
  gp.param = p.data();
  gp.grad = g.data();
  gp.step = 1;
  expect_invalid("adagrad sum", [&] { ops::adagrad_step<float>(&gp, 1, ops::AdagradOptions{}); },
                 {"params[0].sum", "null"});
  ops::RmspropParam<float> rp;
  rp.n = 3;
  rp.param = p.data();
  rp.grad = g.data();
  rp.square_avg = m.data();
  ops::RmspropOptions ro;
  ro.momentum = 0.5;
  expect_invalid("rmsprop momentum buffer", [&] { ops::rmsprop_step<float>(&rp, 1, ro); },
                 {"params[0].momentum_buffer", "momentum > 0"});
  check(all_equal(p, 1.0f), "optimizers: nothing written before the throw");
}

// ------------------------------------------------------------------------ valid calls

void test_linear_accumulates_and_matches_double() {
  const int64_t M = 37, K = 19, N = 23;
  Rng r(1);
  auto x = r.vec(M * K), w = r.vec(N * K), b = r.vec(N), dy = r.vec(M * N);
  std::vector<double> y(M * N), dx(M * K), dw(N * K, 0.5), db(N, 0.25);
  ops::linear_forward<double>(y.data(), x.data(), w.data(), b.data(), M, K, N);
  ops::linear_backward<double>(dx.data(), dw.data(), db.data(), dy.data(), x.data(), w.data(), M, K,
                               N);
  double err = 0.0;
  for (int64_t i = 0; i < M; ++i)
    for (int64_t j = 0; j < N; ++j) {
      double s = b[j];
      for (int64_t k = 0; k < K; ++k) s += x[i * K + k] * w[j * K + k];
      err = std::fmax(err, std::fabs(s - y[i * N + j]));
    }
  check(err < 1e-12, "linear forward = x W^T + b (double)");
  err = 0.0;
  for (int64_t j = 0; j < N; ++j) {
    double s = 0.25;
    for (int64_t i = 0; i < M; ++i) s += dy[i * N + j];
    err = std::fmax(err, std::fabs(s - db[j]));
    for (int64_t k = 0; k < K; ++k) {
      double t = 0.5;
      for (int64_t i = 0; i < M; ++i) t += dy[i * N + j] * x[i * K + k];
      err = std::fmax(err, std::fabs(t - dw[j * K + k]));
    }
  }
  check(err < 1e-12, "linear dw, db accumulate onto 0.5 / 0.25");
  // float against double
  auto xf = cast<float>(x), wf = cast<float>(w), bf = cast<float>(b), dyf = cast<float>(dy);
  std::vector<float> yf(M * N), dxf(M * K, 99.0f);
  ops::linear_forward<float>(yf.data(), xf.data(), wf.data(), bf.data(), M, K, N);
  ops::linear_backward<float>(dxf.data(), nullptr, nullptr, dyf.data(), nullptr, wf.data(), M, K,
                              N);
  check(max_rel(yf, y) < 1e-5, "linear float forward against double");
  check(max_rel(dxf, dx) < 1e-5, "linear float dx (written, not accumulated) against double");
}

void test_embedding_accumulates() {
  std::vector<int64_t> idx = {2, 0, 2, 1};
  std::vector<double> dy = {1, 2, 3, 4, 5, 6, 7, 8}, dw(3 * 2, 1.0);
  ops::embedding_backward<double>(dw.data(), dy.data(), idx.data(), 4, 3, 2, 1);
  const std::vector<double> want = {1 + 3, 1 + 4, 1, 1, 1 + 1 + 5, 1 + 2 + 6};
  check(dw == want, "embedding backward adds onto dweight, padding row 1 untouched");
}

void test_cross_entropy_layouts_and_types() {
  const int64_t R = 3, C = 11, S = 5;
  Rng r(2);
  auto x = r.vec(R * C * S, -3, 3);
  std::vector<int64_t> t(R * S);
  for (auto& v : t) v = static_cast<int64_t>(r.uniform(0, C - 0.01));
  t[4] = -1;
  auto w = r.vec(C, 0.5, 1.5);
  ops::CrossEntropyOptions o;
  o.ignore_index = -1;
  o.label_smoothing = 0.1;
  o.reduction = ops::Reduction::None;
  std::vector<double> l3(R * S), e3(R * S), d3(R * C * S);
  ops::cross_entropy_forward<double>(l3.data(), e3.data(), x.data(), t.data(), w.data(), R, C, S,
                                     o);
  std::vector<double> g = r.vec(R * S);
  ops::cross_entropy_backward<double>(d3.data(), g.data(), e3.data(), x.data(), t.data(), w.data(),
                                      R, C, S, o);
  // the same positions as (R*S, C) rows
  std::vector<double> x2(R * S * C), l2(R * S), e2(R * S), d2(R * S * C);
  for (int64_t i = 0; i < R; ++i)
    for (int64_t c = 0; c < C; ++c)
      for (int64_t s = 0; s < S; ++s) x2[(i * S + s) * C + c] = x[(i * C + c) * S + s];
  ops::cross_entropy_forward<double>(l2.data(), e2.data(), x2.data(), t.data(), w.data(), R * S, C,
                                     1, o);
  ops::cross_entropy_backward<double>(d2.data(), g.data(), e2.data(), x2.data(), t.data(), w.data(),
                                      R * S, C, 1, o);
  bool same = l2 == l3;
  for (int64_t i = 0; i < R; ++i)
    for (int64_t c = 0; c < C; ++c)
      for (int64_t s = 0; s < S; ++s)
        same = same && d3[(i * C + c) * S + s] == d2[(i * S + s) * C + c];
  check(same, "cross entropy: (R, C, S) equals its (R*S, C) rows bitwise");
  check(l3[4] == 0.0, "cross entropy: an ignored position costs 0");
  bool zero = true;
  for (int64_t c = 0; c < C; ++c) zero = zero && d2[4 * C + c] == 0.0;
  check(zero, "cross entropy: an ignored position gets no gradient");
  // float against double
  auto xf = cast<float>(x), wf = cast<float>(w), gf = cast<float>(g);
  std::vector<float> lf(R * S), ef(R * S), df(R * C * S);
  ops::cross_entropy_forward<float>(lf.data(), ef.data(), xf.data(), t.data(), wf.data(), R, C, S,
                                    o);
  ops::cross_entropy_backward<float>(df.data(), gf.data(), ef.data(), xf.data(), t.data(),
                                     wf.data(), R, C, S, o);
  check(max_rel(lf, l3) < 1e-5, "cross entropy float loss against double");
  check(max_rel(df, d3) < 1e-5, "cross entropy float gradient against double");
}

void test_optimizer_closed_forms() {
  // Adam's first step moves every parameter by lr * sign(g) (up to eps): m/sqrt(v) = g/|g|.
  std::vector<double> p = {1.0, -2.0, 3.0}, g = {0.5, -0.25, 2.0}, m(3, 0.0), v(3, 0.0);
  ops::AdamParam<double> ap;
  ap.n = 3;
  ap.param = p.data();
  ap.grad = g.data();
  ap.exp_avg = m.data();
  ap.exp_avg_sq = v.data();
  ap.step = 1;
  ops::AdamOptions ao;
  ao.lr = 0.1;
  ao.eps = 0.0;
  ops::adam_step<double>(&ap, 1, ao);
  check(std::fabs(p[0] - 0.9) < 1e-14 && std::fabs(p[1] + 1.9) < 1e-14 &&
            std::fabs(p[2] - 2.9) < 1e-14,
        "adam: the first step is lr * sign(grad)");
  // SGD with momentum: b_1 = g, then b_2 = mu b_1 + g.
  std::vector<double> q = {1.0}, h = {2.0}, buf = {123.0};
  ops::SgdParam<double> sp;
  sp.n = 1;
  sp.param = q.data();
  sp.grad = h.data();
  sp.momentum_buffer = buf.data();
  sp.first = true;
  ops::SgdOptions so;
  so.lr = 0.5;
  so.momentum = 0.5;
  ops::sgd_step<double>(&sp, 1, so);
  check(buf[0] == 2.0 && q[0] == 0.0, "sgd: the first step sets the buffer to the gradient");
  sp.first = false;
  ops::sgd_step<double>(&sp, 1, so);
  check(buf[0] == 3.0 && q[0] == -1.5, "sgd: b = mu b + g, p -= lr b");
}

void test_threads_bitwise() {
  if (!rnnfast::has_openmp()) return;
  const int old = rnnfast::get_num_threads();
  Rng r(3);
  const int64_t R = 300, C = 5000, n = 2000000;
  auto xf = cast<float>(r.vec(R * C, -4, 4));
  std::vector<int64_t> t(R);
  for (auto& v : t) v = static_cast<int64_t>(r.uniform(0, C - 0.01));
  auto p0 = cast<float>(r.vec(n)), gr = cast<float>(r.vec(n));
  std::vector<std::vector<float>> results;
  for (int threads : {1, 2}) {
    rnnfast::set_num_threads(threads);
    ops::CrossEntropyOptions o;
    o.label_smoothing = 0.05;
    std::vector<float> loss(1), lse(R), d(R * C), g(1, 1.0f);
    ops::cross_entropy_forward<float>(loss.data(), lse.data(), xf.data(), t.data(), nullptr, R, C,
                                      1, o);
    ops::cross_entropy_backward<float>(d.data(), g.data(), lse.data(), xf.data(), t.data(), nullptr,
                                       R, C, 1, o);
    std::vector<float> p = p0, m(n, 0.0f), v(n, 0.0f);
    ops::AdamParam<float> ap;
    ap.n = n;
    ap.param = p.data();
    ap.grad = gr.data();
    ap.exp_avg = m.data();
    ap.exp_avg_sq = v.data();
    ap.step = 3;
    ops::adam_step<float>(&ap, 1, ops::AdamOptions{});
    results.push_back(loss);
    results.push_back(d);
    results.push_back(p);
  }
  rnnfast::set_num_threads(old);
  check(results[0] == results[3], "cross entropy loss bitwise at 1 and 2 threads");
  check(results[1] == results[4], "cross entropy gradient bitwise at 1 and 2 threads");
  check(results[2] == results[5], "adam step bitwise at 1 and 2 threads");
}

}  // namespace

int main() {
  try {
    for (const std::string& isa : rnnfast::available_isas()) {
      rnnfast::set_isa(isa);
      test_invalid_arguments();
      test_linear_accumulates_and_matches_double();
      test_embedding_accumulates();
      test_cross_entropy_layouts_and_types();
      test_optimizer_closed_forms();
    }
    test_threads_bitwise();
  } catch (const std::exception& e) {
    std::printf("FAIL unexpected exception: %s\n", e.what());
    ++g_failed;
  }
  std::printf("test_ops (%d threads, %d instruction sets): %d passed, %d failed\n",
              rnnfast::get_num_threads(), static_cast<int>(rnnfast::available_isas().size()),
              g_passed, g_failed);
  return g_failed == 0 ? 0 : 1;
}
