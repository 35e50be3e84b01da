// The losses' front ends: argument checks, the split of rows (cross entropy) or fixed chunks
// of elements (BCE with logits, MSE) over the team, and the reductions, which add per-row or
// per-chunk partial results in their order on the calling thread (in double): the same bits at
// any thread count. The arithmetic per row or chunk is the active instruction set's
// (kernels.h). An (R, C, S) input with S > 1 is transposed a few positions at a time into
// rows of C contiguous classes, so that one row kernel serves both layouts.
#include <algorithm>
#include <cstring>

#include "ops/common.h"
#include "rnnfast/ops.h"

namespace rnnfast {
namespace ops {

using detail::fail;
using detail::str;

namespace {

constexpr int64_t kBlock = 8;     // positions of an (R, C, S > 1) input transposed at once
constexpr int64_t kChunk = 4096;  // elements per partial sum of an elementwise loss

void check_class_dims(int64_t R, int64_t C, int64_t S) {
  detail::check_size("R", R, 0, "a number of rows");
  detail::check_size("C", C, 1, "a number of classes");
  detail::check_size("S", S, 0, "a number of positions per row");
  detail::check_extent("cross_entropy: R, C, S", static_cast<double>(R) * C * S);
}

void check_smoothing(double eps) { detail::check_real("label_smoothing", eps, 0.0, 1.0); }

// Every target in [0, C) or ignore_index (std::out_of_range names the first that is not);
// returns the weighted mean's denominator, the sum of w[y] over the targets not ignored.
template <typename T>
double check_targets(const int64_t* target, int64_t P, int64_t C, int64_t ignore, const T* w) {
  double denom = 0.0;
  for (int64_t p = 0; p < P; ++p) {
    const int64_t y = target[p];
    if (y == ignore) continue;
    if (y < 0 || y >= C)
      throw std::out_of_range("target: class index " + str(y) + " is out of range for " + str(C) +
                              " classes (expected 0 <= target < " + str(C) +
                              ", or ignore_index=" + str(ignore) + ")");
    denom += w ? static_cast<double>(w[y]) : 1.0;
  }
  return denom;
}

// Calls row(p, x_row, q_row) for every position p of an [R,C,S] input (q: a second input of
// that shape, or nullptr), with rows of C contiguous values, over nt threads; with
// write_back, then copies out_row (see below) back to dst (and out2_row to dst2) at p's place.
// row(p, const T* x, const T* q, T* out, T* out2): out/out2 are [C] rows to write (nullptr
// when dst/dst2 is nullptr); for S == 1 they are dst's rows themselves.
template <typename T, typename Row>
void each_row(int64_t R, int64_t C, int64_t S, const T* x, const T* q, T* dst, T* dst2, int nt,
              Row row) {
  if (S == 1) {
    detail::split(R, nt, [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r)
        row(r, x + r * C, q ? q + r * C : nullptr, dst ? dst + r * C : nullptr,
            dst2 ? dst2 + r * C : nullptr);
    });
    return;
  }
  const int64_t blocks = (S + kBlock - 1) / kBlock;
  detail::split(R * blocks, nt, [&](int64_t t0, int64_t t1) {
    detail::OpsScratch& s = detail::scratch();
    const size_t sz = static_cast<size_t>(kBlock * C);
    T* bx = s.get<T>(detail::kBlockIn, sz);
    T* bq = q ? s.get<T>(detail::kBlockQ, sz) : nullptr;
    T* bo = dst ? s.get<T>(detail::kBlockOut, sz) : nullptr;
    T* bo2 = dst2 ? s.get<T>(detail::kBlockOut2, sz) : nullptr;
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t r = t / blocks, s0 = (t % blocks) * kBlock;
      const int64_t sl = std::min(kBlock, S - s0);
      const int64_t base = r * C * S + s0;
      for (int64_t c = 0; c < C; ++c)
        for (int64_t j = 0; j < sl; ++j) {
          bx[j * C + c] = x[base + c * S + j];
          if (bq) bq[j * C + c] = q[base + c * S + j];
        }
      for (int64_t j = 0; j < sl; ++j)
        row(r * S + s0 + j, bx + j * C, bq ? bq + j * C : nullptr, bo ? bo + j * C : nullptr,
            bo2 ? bo2 + j * C : nullptr);
      for (int64_t c = 0; c < C; ++c)
        for (int64_t j = 0; j < sl; ++j) {
          if (bo) dst[base + c * S + j] = bo[j * C + c];
          if (bo2) dst2[base + c * S + j] = bo2[j * C + c];
        }
    }
  });
}

int threads_for_rows(int64_t P, int64_t C) {
  return detail::team_for_ns(static_cast<double>(P) * C * 1.0);
}

// The reduced loss from per-position losses rows[0..P), added in order: sum, or sum / denom.
template <typename T>
T reduce(const T* rows, int64_t P, Reduction red, double denom) {
  double acc = 0.0;
  for (int64_t p = 0; p < P; ++p) acc += static_cast<double>(rows[p]);
  return static_cast<T>(red == Reduction::Mean ? acc / denom : acc);
}

// The per-position coefficient of a backward: dloss[p] ('none'), dloss[0] ('sum'), or
// dloss[0] / denom ('mean').
template <typename T>
struct Coef {
  const T* g;
  Reduction red;
  T scalar;
  Coef(const T* g_, Reduction red_, double denom)
      : g(g_),
        red(red_),
        scalar(red_ == Reduction::None   ? T(0)
               : red_ == Reduction::Mean ? g_[0] / static_cast<T>(denom)
                                         : g_[0]) {}
  T operator()(int64_t p) const { return red == Reduction::None ? g[p] : scalar; }
};

}  // namespace

// ---- cross entropy, class indices -----------------------------------------------------------

template <typename T>
void cross_entropy_forward(T* loss, T* lse, const T* logits, const int64_t* target, const T* weight,
                           int64_t R, int64_t C, int64_t S, const CrossEntropyOptions& o) {
  check_class_dims(R, C, S);
  detail::check_reduction(o.reduction);
  check_smoothing(o.label_smoothing);
  const int64_t P = R * S;
  detail::need(logits, "logits", "[R,C,S]", P * C);
  detail::need(target, "target", "[R,S]", P);
  detail::need(lse, "lse", "[R*S]", P);
  detail::need(loss, "loss", o.reduction == Reduction::None ? "[R*S]" : "[1]",
               o.reduction == Reduction::None ? P : 1);
  const double denom = check_targets(target, P, C, o.ignore_index, weight);
  const rnnfast::detail::DenormalsOff flush;
  const detail::OpsTable<T>& tb = detail::table<T>(detail::active_ops());
  T* rows = o.reduction == Reduction::None
                ? loss
                : detail::scratch().get<T>(detail::kRowLoss, static_cast<size_t>(P));
  const T eps = static_cast<T>(o.label_smoothing);
  const int64_t ignore = o.ignore_index;
  each_row<T>(R, C, S, logits, nullptr, nullptr, nullptr, threads_for_rows(P, C),
              [&](int64_t p, const T* x, const T*, T*, T*) {
                const int64_t y = target[p];
                T l = T(0), m = T(0);
                if (y != ignore) l = tb.ce_fwd(C, x, y, weight, eps, &m);
                rows[p] = l;
                lse[p] = m;
              });
  if (o.reduction != Reduction::None) loss[0] = reduce(rows, P, o.reduction, denom);
}

template <typename T>
void cross_entropy_backward(T* dlogits, const T* dloss, const T* lse, const T* logits,
                            const int64_t* target, const T* weight, int64_t R, int64_t C, int64_t S,
                            const CrossEntropyOptions& o) {
  check_class_dims(R, C, S);
  detail::check_reduction(o.reduction);
  check_smoothing(o.label_smoothing);
  const int64_t P = R * S;
  detail::need(logits, "logits", "[R,C,S]", P * C);
  detail::need(target, "target", "[R,S]", P);
  detail::need(lse, "lse", "[R*S]", P);
  detail::need(dlogits, "dlogits", "[R,C,S]", P * C);
  detail::need(dloss, "dloss", o.reduction == Reduction::None ? "[R*S]" : "[1]",
               o.reduction == Reduction::None ? P : 1);
  const double denom = check_targets(target, P, C, o.ignore_index, weight);
  if (P == 0) return;
  const rnnfast::detail::DenormalsOff flush;
  const detail::OpsTable<T>& tb = detail::table<T>(detail::active_ops());
  const T eps = static_cast<T>(o.label_smoothing);
  const T eps_c = eps / static_cast<T>(C);
  T wsum = T(0);
  if (weight)
    for (int64_t c = 0; c < C; ++c) wsum += weight[c];
  const Coef<T> coef(dloss, o.reduction, denom);
  const int64_t ignore = o.ignore_index;
  // d loss_p / d x[c] = p[c] ((1-eps) w[y] + eps/C sum w) - eps/C w[c] - (c == y) (1-eps) w[y]
  each_row<T>(R, C, S, logits, nullptr, dlogits, nullptr, threads_for_rows(P, C),
              [&](int64_t p, const T* x, const T*, T* d, T*) {
                const int64_t y = target[p];
                if (y == ignore) {
                  std::fill_n(d, C, T(0));
                  return;
                }
                const T k = coef(p);
                const T wy = weight ? weight[y] : T(1);
                const T a = weight ? k * ((T(1) - eps) * wy + eps_c * wsum) : k;
                tb.ce_bwd(C, x, lse[p], weight, a, k * eps_c, y, k * (T(1) - eps) * wy, d);
              });
}

// ---- cross entropy, class probabilities -----------------------------------------------------

template <typename T>
void cross_entropy_prob_forward(T* loss, T* lse, const T* logits, const T* target, const T* weight,
                                int64_t R, int64_t C, int64_t S, const CrossEntropyOptions& o) {
  check_class_dims(R, C, S);
  detail::check_reduction(o.reduction);
  check_smoothing(o.label_smoothing);
  const int64_t P = R * S;
  detail::need(logits, "logits", "[R,C,S]", P * C);
  detail::need(target, "target", "[R,C,S]", P * C);
  detail::need(lse, "lse", "[R*S]", P);
  detail::need(loss, "loss", o.reduction == Reduction::None ? "[R*S]" : "[1]",
               o.reduction == Reduction::None ? P : 1);
  const rnnfast::detail::DenormalsOff flush;
  const detail::OpsTable<T>& tb = detail::table<T>(detail::active_ops());
  T* rows = o.reduction == Reduction::None
                ? loss
                : detail::scratch().get<T>(detail::kRowLoss, static_cast<size_t>(P));
  const T eps = static_cast<T>(o.label_smoothing);
  each_row<T>(R, C, S, logits, target, nullptr, nullptr, threads_for_rows(P, C),
              [&](int64_t p, const T* x, const T* q, T*, T*) {
                rows[p] = tb.ce_prob_fwd(C, x, q, weight, eps, &lse[p]);
              });
  if (o.reduction != Reduction::None)
    loss[0] = reduce(rows, P, o.reduction, static_cast<double>(P));
}

template <typename T>
void cross_entropy_prob_backward(T* dlogits, T* dtarget, const T* dloss, const T* lse,
                                 const T* logits, const T* target, const T* weight, int64_t R,
                                 int64_t C, int64_t S, const CrossEntropyOptions& o) {
  check_class_dims(R, C, S);
  detail::check_reduction(o.reduction);
  check_smoothing(o.label_smoothing);
  const int64_t P = R * S;
  detail::need(logits, "logits", "[R,C,S]", P * C);
  detail::need(target, "target", "[R,C,S]", P * C);
  detail::need(lse, "lse", "[R*S]", P);
  detail::need(dloss, "dloss", o.reduction == Reduction::None ? "[R*S]" : "[1]",
               o.reduction == Reduction::None ? P : 1);
  if (P == 0 || (!dlogits && !dtarget)) return;
  const rnnfast::detail::DenormalsOff flush;
  const detail::OpsTable<T>& tb = detail::table<T>(detail::active_ops());
  const T eps = static_cast<T>(o.label_smoothing);
  const Coef<T> coef(dloss, o.reduction, static_cast<double>(P));
  each_row<T>(R, C, S, logits, target, dlogits, dtarget, threads_for_rows(P, C),
              [&](int64_t p, const T* x, const T* q, T* dx, T* dq) {
                tb.ce_prob_bwd(C, x, lse[p], q, weight, eps, coef(p), dx, dq);
              });
}

// ---- elementwise losses ---------------------------------------------------------------------

namespace {

template <typename T>
void check_periodic(const char* name, const Periodic<T>& w, int64_t n) {
  if (!w.data) return;
  const int64_t period = w.period;
  if (period < 1 || period > (n > 0 ? n : 1) || (n > 0 && n % period != 0))
    fail(std::string(name) + ": expected a period that divides n = " + str(n) + ", got " +
         str(period));
}

// The weights of elements [i0, i0 + len): a pointer into w when its period covers them all,
// else its values repeated into the thread's scratch slot.
template <typename T>
const T* weight_run(const Periodic<T>& w, int64_t i0, int64_t len, detail::OpsSlot slot) {
  if (!w.data) return nullptr;
  const int64_t k0 = i0 % w.period;
  if (k0 + len <= w.period) return w.data + k0;
  T* run = detail::scratch().get<T>(slot, static_cast<size_t>(len));
  for (int64_t i = 0, k = k0; i < len; ++i) {
    run[i] = w.data[k];
    if (++k == w.period) k = 0;
  }
  return run;
}

// body(i0, len, WeightRun) for each chunk of kChunk elements over the team; sums: each
// chunk's result, when body returns one.
template <typename T, typename Body>
void each_chunk(int64_t n, Periodic<T> w, Periodic<T> pw, double ns_per_element, Body body) {
  const int64_t chunks = (n + kChunk - 1) / kChunk;
  const int nt = detail::team_for_ns(static_cast<double>(n) * ns_per_element);
  detail::split(chunks, nt, [&](int64_t c0, int64_t c1) {
    for (int64_t c = c0; c < c1; ++c) {
      const int64_t i0 = c * kChunk, len = std::min(kChunk, n - i0);
      detail::WeightRun<T> wr;
      wr.w = weight_run(w, i0, len, detail::kWeightRun);
      wr.pw = weight_run(pw, i0, len, detail::kPosWeightRun);
      body(c, i0, len, wr);
    }
  });
}

template <typename T>
void check_elementwise(const T* out, const char* out_name, const T* x, const T* y, int64_t n,
                       Reduction red) {
  detail::check_size("n", n, 0, "a number of elements");
  detail::check_reduction(red);
  detail::need(x, "input", "[n]", n);
  detail::need(y, "target", "[n]", n);
  detail::need(out, out_name, red == Reduction::None ? "[n]" : "[1]",
               red == Reduction::None ? n : 1);
}

// Forward of an elementwise loss: body(i0, len, wr, out) -> the chunk's sum.
template <typename T, typename Body>
void elementwise_forward(T* loss, int64_t n, Reduction red, Periodic<T> w, Periodic<T> pw,
                         double ns_per_element, Body body) {
  const int64_t chunks = (n + kChunk - 1) / kChunk;
  T* sums = red == Reduction::None
                ? nullptr
                : detail::scratch().get<T>(detail::kRowLoss, static_cast<size_t>(chunks));
  each_chunk<T>(n, w, pw, ns_per_element,
                [&](int64_t c, int64_t i0, int64_t len, detail::WeightRun<T> wr) {
                  const T s = body(i0, len, wr, red == Reduction::None ? loss + i0 : nullptr);
                  if (sums) sums[c] = s;
                });
  if (red != Reduction::None) loss[0] = reduce(sums, chunks, red, static_cast<double>(n));
}

}  // namespace

template <typename T>
void bce_with_logits_forward(T* loss, const T* x, const T* y, Periodic<T> weight,
                             Periodic<T> pos_weight, int64_t n, Reduction reduction) {
  check_elementwise<T>(loss, "loss", x, y, n, reduction);
  check_periodic("weight", weight, n);
  check_periodic("pos_weight", pos_weight, n);
  const rnnfast::detail::DenormalsOff flush;
  const detail::OpsTable<T>& tb = detail::table<T>(detail::active_ops());
  elementwise_forward<T>(loss, n, reduction, weight, pos_weight, 1.5,
                         [&](int64_t i0, int64_t len, detail::WeightRun<T> wr, T* out) {
                           return tb.bce_fwd(len, x + i0, y + i0, wr, out);
                         });
}

template <typename T>
void bce_with_logits_backward(T* dx, T* dy, const T* dloss, const T* x, const T* y,
                              Periodic<T> weight, Periodic<T> pos_weight, int64_t n,
                              Reduction reduction) {
  check_elementwise<T>(dloss, "dloss", x, y, n, reduction);
  check_periodic("weight", weight, n);
  check_periodic("pos_weight", pos_weight, n);
  if (n == 0 || (!dx && !dy)) return;
  const rnnfast::detail::DenormalsOff flush;
  const detail::OpsTable<T>& tb = detail::table<T>(detail::active_ops());
  const Coef<T> coef(dloss, reduction, static_cast<double>(n));
  each_chunk<T>(n, weight, pos_weight, 1.5,
                [&](int64_t, int64_t i0, int64_t len, detail::WeightRun<T> wr) {
                  const bool none = reduction == Reduction::None;
                  tb.bce_bwd(len, x + i0, y + i0, wr, none ? dloss + i0 : &coef.scalar,
                             none ? 1 : 0, dx ? dx + i0 : nullptr, dy ? dy + i0 : nullptr);
                });
}

template <typename T>
void mse_forward(T* loss, const T* x, const T* y, int64_t n, Reduction reduction) {
  check_elementwise<T>(loss, "loss", x, y, n, reduction);
  const rnnfast::detail::DenormalsOff flush;
  const detail::OpsTable<T>& tb = detail::table<T>(detail::active_ops());
  elementwise_forward<T>(loss, n, reduction, Periodic<T>{}, Periodic<T>{}, 0.2,
                         [&](int64_t i0, int64_t len, detail::WeightRun<T>, T* out) {
                           return tb.mse_fwd(len, x + i0, y + i0, out);
                         });
}

template <typename T>
void mse_backward(T* dx, T* dy, const T* dloss, const T* x, const T* y, int64_t n,
                  Reduction reduction) {
  check_elementwise<T>(dloss, "dloss", x, y, n, reduction);
  if (n == 0 || (!dx && !dy)) return;
  const rnnfast::detail::DenormalsOff flush;
  const detail::OpsTable<T>& tb = detail::table<T>(detail::active_ops());
  const Coef<T> coef(dloss, reduction, static_cast<double>(n));
  each_chunk<T>(n, Periodic<T>{}, Periodic<T>{}, 0.2,
                [&](int64_t, int64_t i0, int64_t len, detail::WeightRun<T>) {
                  const bool none = reduction == Reduction::None;
                  tb.mse_bwd(len, x + i0, y + i0, none ? dloss + i0 : &coef.scalar, none ? 1 : 0,
                             dx ? dx + i0 : nullptr, dy ? dy + i0 : nullptr);
                });
}

#define RNNFAST_INSTANTIATE(T)                                                                 \
  template void cross_entropy_forward<T>(T*, T*, const T*, const int64_t*, const T*, int64_t,  \
                                         int64_t, int64_t, const CrossEntropyOptions&);        \
  template void cross_entropy_backward<T>(T*, const T*, const T*, const T*, const int64_t*,    \
                                          const T*, int64_t, int64_t, int64_t,                 \
                                          const CrossEntropyOptions&);                         \
  template void cross_entropy_prob_forward<T>(T*, T*, const T*, const T*, const T*, int64_t,   \
                                              int64_t, int64_t, const CrossEntropyOptions&);   \
  template void cross_entropy_prob_backward<T>(T*, T*, const T*, const T*, const T*, const T*, \
                                               const T*, int64_t, int64_t, int64_t,            \
                                               const CrossEntropyOptions&);                    \
  template void bce_with_logits_forward<T>(T*, const T*, const T*, Periodic<T>, Periodic<T>,   \
                                           int64_t, Reduction);                                \
  template void bce_with_logits_backward<T>(T*, T*, const T*, const T*, const T*, Periodic<T>, \
                                            Periodic<T>, int64_t, Reduction);                  \
  template void mse_forward<T>(T*, const T*, const T*, int64_t, Reduction);                    \
  template void mse_backward<T>(T*, T*, const T*, const T*, const T*, int64_t, Reduction);
RNNFAST_INSTANTIATE(float)
RNNFAST_INSTANTIATE(double)
#undef RNNFAST_INSTANTIATE

}  // namespace ops
}  // namespace rnnfast
