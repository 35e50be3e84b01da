// The optimizer steps' front ends: option and buffer checks, the scalars of torch.optim's
// formulas rounded to the parameters' type (as torch rounds a Python float it passes to a
// kernel), and one pass over all of a group's elements, split evenly over the team whatever
// the parameters' sizes. Each element's update is independent of every other, so results do
// not depend on the split. The update loops themselves are kernels.h's.
#include <cmath>
#include <string>
#include <vector>

#include "ops/common.h"
#include "rnnfast/ops.h"

namespace rnnfast {
namespace ops {

using detail::fail;
using detail::str;

namespace {

std::string at(int64_t i, const char* field) { return "params[" + str(i) + "]." + field; }

// The checks every optimizer shares: the list, sizes, param and grad of each entry.
template <typename P>
void check_list(const P* params, int64_t count) {
  detail::check_size("count", count, 0, "a number of parameters");
  if (count > 0 && !params) fail("params: expected an array of count entries, got a null pointer");
  for (int64_t i = 0; i < count; ++i) {
    const P& p = params[i];
    if (p.n < 0) fail(at(i, "n") + ": expected a number of elements >= 0, got " + str(p.n));
    if (p.n > 0 && !p.param) fail(at(i, "param") + ": expected a [n] buffer, got a null pointer");
    if (p.n > 0 && !p.grad) fail(at(i, "grad") + ": expected a [n] buffer, got a null pointer");
  }
}

void need_buffer(const void* b, int64_t n, int64_t i, const char* field, const char* why) {
  if (n > 0 && !b) fail(at(i, field) + ": expected a [n] buffer (" + why + "), got a null pointer");
}

void check_step(int64_t step, int64_t i) {
  if (step < 1) fail(at(i, "step") + ": expected a step number >= 1, got " + str(step));
}

template <typename T>
detail::OptimScalars<T> base_scalars(double lr, double weight_decay, bool maximize) {
  detail::OptimScalars<T> s;
  s.maximize = maximize;
  s.decay = weight_decay != 0.0;
  s.wd = static_cast<T>(weight_decay);
  s.neg_lr = static_cast<T>(-lr);
  return s;
}

// fn(param, i0, i1, scalars) over every element of every parameter, over the team.
template <typename T, typename P, typename Fn>
void each_element(const P* params, int64_t count, const std::vector<detail::OptimScalars<T>>& sc,
                  Fn fn) {
  int64_t total = 0;
  for (int64_t i = 0; i < count; ++i) total += params[i].n;
  const rnnfast::detail::DenormalsOff flush;
  const int nt = detail::team_for_ns(static_cast<double>(total) * 1.2);
  detail::split(total, nt, [&](int64_t g0, int64_t g1) {
    int64_t off = 0;
    for (int64_t i = 0; i < count && off < g1; ++i) {
      const int64_t n = params[i].n;
      const int64_t lo = g0 > off ? g0 - off : 0;
      const int64_t hi = g1 < off + n ? g1 - off : n;
      if (hi > lo) fn(params[i], lo, hi, sc[static_cast<size_t>(i)]);
      off += n;
    }
  });
}

}  // namespace

template <typename T>
void sgd_step(const SgdParam<T>* params, int64_t count, const SgdOptions& o) {
  detail::check_real("lr", o.lr, 0.0);
  detail::check_real("momentum", o.momentum, 0.0);
  detail::check_real("dampening", o.dampening, -HUGE_VAL);  // any number, as torch
  detail::check_real("weight_decay", o.weight_decay, 0.0);
  if (o.nesterov && (o.momentum <= 0.0 || o.dampening != 0.0))
    fail(
        "nesterov: expected momentum > 0 and dampening = 0 for Nesterov momentum, got "
        "momentum " +
        str(o.momentum) + ", dampening " + str(o.dampening));
  check_list(params, count);
  for (int64_t i = 0; i < count; ++i)
    if (o.momentum != 0.0)
      need_buffer(params[i].momentum_buffer, params[i].n, i, "momentum_buffer", "momentum != 0");
  detail::OptimScalars<T> s = base_scalars<T>(o.lr, o.weight_decay, o.maximize);
  s.momentum = o.momentum != 0.0;
  s.nesterov = o.nesterov;
  s.mu = static_cast<T>(o.momentum);
  s.damp_c = static_cast<T>(1.0 - o.dampening);
  const std::vector<detail::OptimScalars<T>> sc(static_cast<size_t>(count), s);
  const detail::OpsTable<T>& tb = detail::table<T>(detail::active_ops());
  each_element<T>(params, count, sc, tb.sgd);
}

template <typename T>
void adam_step(const AdamParam<T>* params, int64_t count, const AdamOptions& o) {
  detail::check_real("lr", o.lr, 0.0);
  detail::check_real("eps", o.eps, 0.0);
  detail::check_real("beta1", o.beta1, 0.0, 1.0, true);
  detail::check_real("beta2", o.beta2, 0.0, 1.0, true);
  detail::check_real("weight_decay", o.weight_decay, 0.0);
  check_list(params, count);
  std::vector<detail::OptimScalars<T>> sc;
  sc.reserve(static_cast<size_t>(count));
  for (int64_t i = 0; i < count; ++i) {
    const AdamParam<T>& p = params[i];
    need_buffer(p.exp_avg, p.n, i, "exp_avg", "Adam's first moment");
    need_buffer(p.exp_avg_sq, p.n, i, "exp_avg_sq", "Adam's second moment");
    if (o.amsgrad) need_buffer(p.max_exp_avg_sq, p.n, i, "max_exp_avg_sq", "amsgrad");
    check_step(p.step, i);
    detail::OptimScalars<T> s = base_scalars<T>(o.lr, o.weight_decay, o.maximize);
    const double t = static_cast<double>(p.step);
    const double bc1 = 1.0 - std::pow(o.beta1, t), bc2 = 1.0 - std::pow(o.beta2, t);
    s.decoupled = o.decoupled_weight_decay;
    if (o.decoupled_weight_decay) s.keep = static_cast<T>(1.0 - o.lr * o.weight_decay);
    s.neg_lr = static_cast<T>(-(o.lr / bc1));
    s.bc2_sqrt = static_cast<T>(std::sqrt(bc2));
    s.beta1_c = static_cast<T>(1.0 - o.beta1);
    s.beta2 = static_cast<T>(o.beta2);
    s.beta2_c = static_cast<T>(1.0 - o.beta2);
    s.eps = static_cast<T>(o.eps);
    s.amsgrad = o.amsgrad;
    sc.push_back(s);
  }
  const detail::OpsTable<T>& tb = detail::table<T>(detail::active_ops());
  each_element<T>(params, count, sc, tb.adam);
}

template <typename T>
void rmsprop_step(const RmspropParam<T>* params, int64_t count, const RmspropOptions& o) {
  detail::check_real("lr", o.lr, 0.0);
  detail::check_real("alpha", o.alpha, 0.0);
  detail::check_real("eps", o.eps, 0.0);
  detail::check_real("weight_decay", o.weight_decay, 0.0);
  detail::check_real("momentum", o.momentum, 0.0);
  check_list(params, count);
  for (int64_t i = 0; i < count; ++i) {
    const RmspropParam<T>& p = params[i];
    need_buffer(p.square_avg, p.n, i, "square_avg", "RMSprop's average of squares");
    if (o.momentum > 0.0) need_buffer(p.momentum_buffer, p.n, i, "momentum_buffer", "momentum > 0");
    if (o.centered) need_buffer(p.grad_avg, p.n, i, "grad_avg", "centered");
  }
  detail::OptimScalars<T> s = base_scalars<T>(o.lr, o.weight_decay, o.maximize);
  s.beta2 = static_cast<T>(o.alpha);
  s.beta2_c = static_cast<T>(1.0 - o.alpha);
  s.eps = static_cast<T>(o.eps);
  s.momentum = o.momentum > 0.0;
  s.mu = static_cast<T>(o.momentum);
  s.centered = o.centered;
  const std::vector<detail::OptimScalars<T>> sc(static_cast<size_t>(count), s);
  const detail::OpsTable<T>& tb = detail::table<T>(detail::active_ops());
  each_element<T>(params, count, sc, tb.rmsprop);
}

template <typename T>
void adagrad_step(const AdagradParam<T>* params, int64_t count, const AdagradOptions& o) {
  detail::check_real("lr", o.lr, 0.0);
  detail::check_real("lr_decay", o.lr_decay, 0.0);
  detail::check_real("weight_decay", o.weight_decay, 0.0);
  detail::check_real("eps", o.eps, 0.0);
  check_list(params, count);
  std::vector<detail::OptimScalars<T>> sc;
  sc.reserve(static_cast<size_t>(count));
  for (int64_t i = 0; i < count; ++i) {
    const AdagradParam<T>& p = params[i];
    need_buffer(p.sum, p.n, i, "sum", "Adagrad's sum of squares");
    check_step(p.step, i);
    detail::OptimScalars<T> s = base_scalars<T>(o.lr, o.weight_decay, o.maximize);
    const double clr = o.lr / (1.0 + static_cast<double>(p.step - 1) * o.lr_decay);
    s.neg_lr = static_cast<T>(-clr);
    s.eps = static_cast<T>(o.eps);
    sc.push_back(s);
  }
  const detail::OpsTable<T>& tb = detail::table<T>(detail::active_ops());
  each_element<T>(params, count, sc, tb.adagrad);
}

#define RNNFAST_INSTANTIATE(T)                                                           \
  template void sgd_step<T>(const SgdParam<T>*, int64_t, const SgdOptions&);             \
  template void adam_step<T>(const AdamParam<T>*, int64_t, const AdamOptions&);          \
  template void rmsprop_step<T>(const RmspropParam<T>*, int64_t, const RmspropOptions&); \
  template void adagrad_step<T>(const AdagradParam<T>*, int64_t, const AdagradOptions&);
RNNFAST_INSTANTIATE(float)
RNNFAST_INSTANTIATE(double)
#undef RNNFAST_INSTANTIATE

}  // namespace ops
}  // namespace rnnfast
