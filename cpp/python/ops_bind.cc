// rnnfast._core bindings of the ops (rnnfast/ops.h): Linear, Embedding, the losses and the
// optimizer steps. Thin like module.cc: rank, shape and dtype checked at the boundary
// (ValueError / TypeError naming the argument), outputs allocated from the shared buffer cache,
// the GIL released around the kernel only. The C++ API's own checks raise ValueError
// (std::invalid_argument) or IndexError (std::out_of_range, an index or class out of range).
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "buffers.h"
#include "rnnfast/ops.h"

namespace py = pybind11;
namespace ops = rnnfast::ops;
using rnnfast::python::output;

namespace {

std::string shape_of(const py::array& a) {
  std::ostringstream os;
  os << "(";
  for (py::ssize_t i = 0; i < a.ndim(); ++i) os << (i ? ", " : "") << a.shape(i);
  os << (a.ndim() == 1 ? ",)" : ")");
  return os.str();
}

std::string type_name(const py::handle& o) { return py::str(o.get_type().attr("__name__")); }

// The float type of the call, from its first array: true for float64, false for float32.
bool is_f64(const char* name, const py::handle& o) {
  if (!py::isinstance<py::array>(o))
    throw py::type_error(std::string(name) + ": expected a numpy array, got " + type_name(o));
  const py::dtype dt = py::reinterpret_borrow<py::array>(o).dtype();
  if (dt.equal(py::dtype::of<double>())) return true;
  if (dt.equal(py::dtype::of<float>())) return false;
  throw py::type_error(std::string(name) + ": expected dtype float32 or float64, got " +
                       std::string(py::str(dt)));
}

// A C-contiguous array of dtype T (that of `like`) with `ndim` dims (-1: any), writeable if
// asked.
template <typename T>
py::array_t<T> arr(const char* name, const py::handle& o, int ndim, const char* like,
                   bool writeable = false) {
  if (!py::isinstance<py::array>(o))
    throw py::type_error(std::string(name) + ": expected a numpy array, got " + type_name(o));
  py::array a = py::reinterpret_borrow<py::array>(o);
  if (!a.dtype().equal(py::dtype::of<T>()))
    throw py::type_error(std::string(name) + ": expected dtype " +
                         std::string(py::str(py::dtype::of<T>())) + " (the dtype of " + like +
                         "), got " + std::string(py::str(a.dtype())));
  if (!(a.flags() & py::array::c_style))
    throw py::value_error(std::string(name) + ": expected a C-contiguous array");
  if (ndim >= 0 && a.ndim() != ndim)
    throw py::value_error(std::string(name) + ": expected " + std::to_string(ndim) +
                          " dims, got shape " + shape_of(a));
  if (writeable && !a.writeable())
    throw py::value_error(std::string(name) + ": expected a writeable array");
  return py::reinterpret_borrow<py::array_t<T>>(a);
}

template <typename T>
std::optional<py::array_t<T>> opt_arr(const char* name, const py::handle& o, int ndim,
                                      const char* like) {
  if (o.is_none()) return std::nullopt;
  return arr<T>(name, o, ndim, like);
}

py::array_t<int64_t> index_arr(const char* name, const py::handle& o, int ndim) {
  if (!py::isinstance<py::array>(o))
    throw py::type_error(std::string(name) + ": expected a numpy int64 array, got " + type_name(o));
  py::array a = py::reinterpret_borrow<py::array>(o);
  if (!a.dtype().equal(py::dtype::of<int64_t>()))
    throw py::type_error(std::string(name) + ": expected dtype int64, got " +
                         std::string(py::str(a.dtype())));
  if (!(a.flags() & py::array::c_style))
    throw py::value_error(std::string(name) + ": expected a C-contiguous array");
  if (a.ndim() != ndim)
    throw py::value_error(std::string(name) + ": expected " + std::to_string(ndim) +
                          " dims, got shape " + shape_of(a));
  return py::reinterpret_borrow<py::array_t<int64_t>>(a);
}

void check_dim(const char* name, const py::array& a, py::ssize_t axis, int64_t want,
               const char* what) {
  if (a.shape(axis) != want)
    throw py::value_error(std::string(name) + ": expected " + what + " = " + std::to_string(want) +
                          " along dim " + std::to_string(axis) + ", got shape " + shape_of(a));
}

ops::Reduction reduction_of(const std::string& r) {
  if (r == "none") return ops::Reduction::None;
  if (r == "mean") return ops::Reduction::Mean;
  if (r == "sum") return ops::Reduction::Sum;
  throw py::value_error("reduction: expected 'mean', 'sum' or 'none', got '" + r + "'");
}

// A loss output: [P] for 'none', a 0-d array otherwise.
template <typename T>
py::array_t<T> loss_output(ops::Reduction r, int64_t P) {
  return r == ops::Reduction::None ? output<T>({P}) : output<T>({});
}

// dloss: [P] for 'none', one element otherwise.
template <typename T>
py::array_t<T> dloss_arr(const py::handle& o, ops::Reduction r, int64_t P, const char* like) {
  py::array_t<T> g = arr<T>("dloss", o, -1, like);
  const int64_t want = r == ops::Reduction::None ? P : 1;
  if (g.size() != want)
    throw py::value_error("dloss: expected " + std::to_string(want) + " element(s), got shape " +
                          shape_of(g));
  return g;
}

py::object none_or(bool have, const py::object& a) { return have ? a : py::none(); }

// ---- Linear, Embedding --------------------------------------------------------------------

template <typename T>
py::array linear_forward(const py::handle& xo, const py::handle& wo, const py::handle& bo) {
  auto x = arr<T>("input", xo, 2, "input");
  auto w = arr<T>("weight", wo, 2, "input");
  auto b = opt_arr<T>("bias", bo, 1, "input");
  const int64_t M = x.shape(0), K = x.shape(1), N = w.shape(0);
  check_dim("weight", w, 1, K, "in_features (the input's last dim)");
  if (b) check_dim("bias", *b, 0, N, "out_features");
  auto y = output<T>({M, N});
  T* py_ = y.mutable_data();
  const T* px = x.data();
  const T* pw = w.data();
  const T* pb = b ? b->data() : nullptr;
  {
    py::gil_scoped_release nogil;
    ops::linear_forward<T>(py_, px, pw, pb, M, K, N);
  }
  return y;
}

template <typename T>
py::tuple linear_backward(const py::handle& dyo, const py::handle& xo, const py::handle& wo,
                          bool need_dx, bool need_dw, bool need_db) {
  auto dy = arr<T>("dy", dyo, 2, "dy");
  auto x = arr<T>("input", xo, 2, "dy");
  auto w = arr<T>("weight", wo, 2, "dy");
  const int64_t M = dy.shape(0), N = dy.shape(1), K = x.shape(1);
  check_dim("input", x, 0, M, "rows (dy's rows)");
  check_dim("weight", w, 0, N, "out_features (dy's last dim)");
  check_dim("weight", w, 1, K, "in_features (the input's last dim)");
  py::array_t<T> dx, dw, db;
  if (need_dx) dx = output<T>({M, K});
  if (need_dw) dw = output<T>({N, K}, true);
  if (need_db) db = output<T>({N}, true);
  T* pdx = need_dx ? dx.mutable_data() : nullptr;
  T* pdw = need_dw ? dw.mutable_data() : nullptr;
  T* pdb = need_db ? db.mutable_data() : nullptr;
  const T* pdy = dy.data();
  const T* px = x.data();
  const T* pw = w.data();
  {
    py::gil_scoped_release nogil;
    ops::linear_backward<T>(pdx, pdw, pdb, pdy, px, pw, M, K, N);
  }
  return py::make_tuple(none_or(need_dx, dx), none_or(need_dw, dw), none_or(need_db, db));
}

template <typename T>
py::array embedding_forward(const py::handle& io, const py::handle& wo) {
  auto idx = index_arr("indices", io, 1);
  auto w = arr<T>("weight", wo, 2, "weight");
  const int64_t n = idx.shape(0), V = w.shape(0), D = w.shape(1);
  auto y = output<T>({n, D});
  T* py_ = y.mutable_data();
  const int64_t* pi = idx.data();
  const T* pw = w.data();
  {
    py::gil_scoped_release nogil;
    ops::embedding_forward<T>(py_, pi, pw, n, V, D);
  }
  return y;
}

template <typename T>
py::array embedding_backward(const py::handle& dyo, const py::handle& io, int64_t V,
                             int64_t padding_idx) {
  auto dy = arr<T>("dy", dyo, 2, "dy");
  auto idx = index_arr("indices", io, 1);
  const int64_t n = dy.shape(0), D = dy.shape(1);
  check_dim("indices", idx, 0, n, "one index per row of dy");
  if (V < 0)
    throw py::value_error("num_embeddings: expected a value >= 0, got " + std::to_string(V));
  auto dw = output<T>({V, D}, true);
  T* pdw = dw.mutable_data();
  const T* pdy = dy.data();
  const int64_t* pi = idx.data();
  {
    py::gil_scoped_release nogil;
    ops::embedding_backward<T>(pdw, pdy, pi, n, V, D, padding_idx);
  }
  return dw;
}

// ---- cross entropy ------------------------------------------------------------------------

// logits [R,C,S], class-index targets [R,S], weight [C] or None
template <typename T>
struct ClassIndexCall {
  py::array_t<T> x;
  py::array_t<int64_t> t;
  std::optional<py::array_t<T>> w;
  int64_t R, C, S;
  ops::CrossEntropyOptions o;
  ClassIndexCall(const py::handle& xo, const py::handle& to, const py::handle& wo,
                 int64_t ignore_index, double label_smoothing, const std::string& reduction)
      : x(arr<T>("input", xo, 3, "input")),
        t(index_arr("target", to, 2)),
        w(opt_arr<T>("weight", wo, 1, "input")),
        R(x.shape(0)),
        C(x.shape(1)),
        S(x.shape(2)) {
    check_dim("target", t, 0, R, "rows (the input's dim 0)");
    check_dim("target", t, 1, S, "positions (the input's dim 2)");
    if (w) check_dim("weight", *w, 0, C, "classes (the input's dim 1)");
    o.reduction = reduction_of(reduction);
    o.ignore_index = ignore_index;
    o.label_smoothing = label_smoothing;
  }
  const T* wp() const { return w ? w->data() : nullptr; }
};

template <typename T>
py::tuple cross_entropy_forward(const py::handle& xo, const py::handle& to, const py::handle& wo,
                                int64_t ignore_index, double label_smoothing,
                                const std::string& reduction) {
  ClassIndexCall<T> c(xo, to, wo, ignore_index, label_smoothing, reduction);
  auto loss = loss_output<T>(c.o.reduction, c.R * c.S);
  auto lse = output<T>({c.R * c.S});
  T* pl = loss.mutable_data();
  T* pe = lse.mutable_data();
  {
    py::gil_scoped_release nogil;
    ops::cross_entropy_forward<T>(pl, pe, c.x.data(), c.t.data(), c.wp(), c.R, c.C, c.S, c.o);
  }
  return py::make_tuple(loss, lse);
}

template <typename T>
py::array cross_entropy_backward(const py::handle& go, const py::handle& lo, const py::handle& xo,
                                 const py::handle& to, const py::handle& wo, int64_t ignore_index,
                                 double label_smoothing, const std::string& reduction) {
  ClassIndexCall<T> c(xo, to, wo, ignore_index, label_smoothing, reduction);
  auto g = dloss_arr<T>(go, c.o.reduction, c.R * c.S, "input");
  auto lse = arr<T>("lse", lo, 1, "input");
  check_dim("lse", lse, 0, c.R * c.S, "one value per position");
  auto dx = output<T>({c.R, c.C, c.S});
  T* pd = dx.mutable_data();
  {
    py::gil_scoped_release nogil;
    ops::cross_entropy_backward<T>(pd, g.data(), lse.data(), c.x.data(), c.t.data(), c.wp(), c.R,
                                   c.C, c.S, c.o);
  }
  return dx;
}

// logits and probability targets [R,C,S], weight [C] or None
template <typename T>
struct ProbCall {
  py::array_t<T> x, q;
  std::optional<py::array_t<T>> w;
  int64_t R, C, S;
  ops::CrossEntropyOptions o;
  ProbCall(const py::handle& xo, const py::handle& qo, const py::handle& wo, double label_smoothing,
           const std::string& reduction)
      : x(arr<T>("input", xo, 3, "input")),
        q(arr<T>("target", qo, 3, "input")),
        w(opt_arr<T>("weight", wo, 1, "input")),
        R(x.shape(0)),
        C(x.shape(1)),
        S(x.shape(2)) {
    for (py::ssize_t a = 0; a < 3; ++a) check_dim("target", q, a, x.shape(a), "the input's size");
    if (w) check_dim("weight", *w, 0, C, "classes (the input's dim 1)");
    o.reduction = reduction_of(reduction);
    o.label_smoothing = label_smoothing;
  }
  const T* wp() const { return w ? w->data() : nullptr; }
};

template <typename T>
py::tuple cross_entropy_prob_forward(const py::handle& xo, const py::handle& qo,
                                     const py::handle& wo, double label_smoothing,
                                     const std::string& reduction) {
  ProbCall<T> c(xo, qo, wo, label_smoothing, reduction);
  auto loss = loss_output<T>(c.o.reduction, c.R * c.S);
  auto lse = output<T>({c.R * c.S});
  T* pl = loss.mutable_data();
  T* pe = lse.mutable_data();
  {
    py::gil_scoped_release nogil;
    ops::cross_entropy_prob_forward<T>(pl, pe, c.x.data(), c.q.data(), c.wp(), c.R, c.C, c.S, c.o);
  }
  return py::make_tuple(loss, lse);
}

template <typename T>
py::tuple cross_entropy_prob_backward(const py::handle& go, const py::handle& lo,
                                      const py::handle& xo, const py::handle& qo,
                                      const py::handle& wo, double label_smoothing,
                                      const std::string& reduction, bool need_dx, bool need_dq) {
  ProbCall<T> c(xo, qo, wo, label_smoothing, reduction);
  auto g = dloss_arr<T>(go, c.o.reduction, c.R * c.S, "input");
  auto lse = arr<T>("lse", lo, 1, "input");
  check_dim("lse", lse, 0, c.R * c.S, "one value per position");
  py::array_t<T> dx, dq;
  if (need_dx) dx = output<T>({c.R, c.C, c.S});
  if (need_dq) dq = output<T>({c.R, c.C, c.S});
  T* pdx = need_dx ? dx.mutable_data() : nullptr;
  T* pdq = need_dq ? dq.mutable_data() : nullptr;
  {
    py::gil_scoped_release nogil;
    ops::cross_entropy_prob_backward<T>(pdx, pdq, g.data(), lse.data(), c.x.data(), c.q.data(),
                                        c.wp(), c.R, c.C, c.S, c.o);
  }
  return py::make_tuple(none_or(need_dx, dx), none_or(need_dq, dq));
}

// ---- elementwise losses -------------------------------------------------------------------

// input and target [n]; weight / pos_weight None or [p] with p dividing n (element i uses
// entry i % p).
template <typename T>
struct ElementwiseCall {
  py::array_t<T> x, y;
  std::optional<py::array_t<T>> w, pw;
  int64_t n;
  ops::Reduction r;
  ElementwiseCall(const py::handle& xo, const py::handle& yo, const py::handle& wo,
                  const py::handle& pwo, const std::string& reduction)
      : x(arr<T>("input", xo, 1, "input")),
        y(arr<T>("target", yo, 1, "input")),
        w(opt_arr<T>("weight", wo, 1, "input")),
        pw(opt_arr<T>("pos_weight", pwo, 1, "input")),
        n(x.shape(0)),
        r(reduction_of(reduction)) {
    check_dim("target", y, 0, n, "the input's size");
  }
  static ops::Periodic<T> periodic(const std::optional<py::array_t<T>>& a) {
    ops::Periodic<T> p;
    if (a) {
      p.data = a->data();
      p.period = a->shape(0);
    }
    return p;
  }
};

template <typename T>
py::array bce_forward(const py::handle& xo, const py::handle& yo, const py::handle& wo,
                      const py::handle& pwo, const std::string& reduction) {
  ElementwiseCall<T> c(xo, yo, wo, pwo, reduction);
  auto loss = loss_output<T>(c.r, c.n);
  T* pl = loss.mutable_data();
  {
    py::gil_scoped_release nogil;
    ops::bce_with_logits_forward<T>(pl, c.x.data(), c.y.data(), c.periodic(c.w), c.periodic(c.pw),
                                    c.n, c.r);
  }
  return loss;
}

template <typename T>
py::tuple bce_backward(const py::handle& go, const py::handle& xo, const py::handle& yo,
                       const py::handle& wo, const py::handle& pwo, const std::string& reduction,
                       bool need_dx, bool need_dy) {
  ElementwiseCall<T> c(xo, yo, wo, pwo, reduction);
  auto g = dloss_arr<T>(go, c.r, c.n, "input");
  py::array_t<T> dx, dy;
  if (need_dx) dx = output<T>({c.n});
  if (need_dy) dy = output<T>({c.n});
  T* pdx = need_dx ? dx.mutable_data() : nullptr;
  T* pdy = need_dy ? dy.mutable_data() : nullptr;
  {
    py::gil_scoped_release nogil;
    ops::bce_with_logits_backward<T>(pdx, pdy, g.data(), c.x.data(), c.y.data(), c.periodic(c.w),
                                     c.periodic(c.pw), c.n, c.r);
  }
  return py::make_tuple(none_or(need_dx, dx), none_or(need_dy, dy));
}

template <typename T>
py::array mse_forward(const py::handle& xo, const py::handle& yo, const std::string& reduction) {
  ElementwiseCall<T> c(xo, yo, py::none(), py::none(), reduction);
  auto loss = loss_output<T>(c.r, c.n);
  T* pl = loss.mutable_data();
  {
    py::gil_scoped_release nogil;
    ops::mse_forward<T>(pl, c.x.data(), c.y.data(), c.n, c.r);
  }
  return loss;
}

template <typename T>
py::tuple mse_backward(const py::handle& go, const py::handle& xo, const py::handle& yo,
                       const std::string& reduction, bool need_dx, bool need_dy) {
  ElementwiseCall<T> c(xo, yo, py::none(), py::none(), reduction);
  auto g = dloss_arr<T>(go, c.r, c.n, "input");
  py::array_t<T> dx, dy;
  if (need_dx) dx = output<T>({c.n});
  if (need_dy) dy = output<T>({c.n});
  T* pdx = need_dx ? dx.mutable_data() : nullptr;
  T* pdy = need_dy ? dy.mutable_data() : nullptr;
  {
    py::gil_scoped_release nogil;
    ops::mse_backward<T>(pdx, pdy, g.data(), c.x.data(), c.y.data(), c.n, c.r);
  }
  return py::make_tuple(none_or(need_dx, dx), none_or(need_dy, dy));
}

// ---- optimizers ---------------------------------------------------------------------------

// The arrays of one list argument (each the size of params[i]; None entries or a None list
// when optional), held alive for the call.
template <typename T>
struct ArrayList {
  std::vector<py::array_t<T>> a;
  std::vector<bool> given;
  T* ptr(size_t i) { return given[i] ? a[i].mutable_data() : nullptr; }
};

template <typename T>
ArrayList<T> array_list(const char* name, const py::handle& o, size_t count,
                        const std::vector<py::ssize_t>* sizes, bool writeable, bool optional) {
  ArrayList<T> L;
  L.a.resize(count);
  L.given.assign(count, false);
  if (o.is_none()) {
    if (!optional) throw py::value_error(std::string(name) + ": expected a list, got None");
    return L;
  }
  if (!py::isinstance<py::list>(o) && !py::isinstance<py::tuple>(o))
    throw py::type_error(std::string(name) + ": expected a list of arrays, got " + type_name(o));
  py::sequence s = py::reinterpret_borrow<py::sequence>(o);
  if (static_cast<size_t>(py::len(s)) != count)
    throw py::value_error(std::string(name) + ": expected " + std::to_string(count) +
                          " entries (one per parameter), got " + std::to_string(py::len(s)));
  for (size_t i = 0; i < count; ++i) {
    const std::string nm = std::string(name) + "[" + std::to_string(i) + "]";
    py::handle h = s[i];
    if (h.is_none()) {
      if (!optional) throw py::value_error(nm + ": expected an array, got None");
      continue;
    }
    L.a[i] = arr<T>(nm.c_str(), h, -1, "params[0]", writeable);
    if (sizes && L.a[i].size() != (*sizes)[i])
      throw py::value_error(nm + ": expected " + std::to_string((*sizes)[i]) +
                            " elements (the size of params[" + std::to_string(i) +
                            "]), got shape " + shape_of(L.a[i]));
    L.given[i] = true;
  }
  return L;
}

// params (writeable) and grads of a group; sizes: each param's element count.
template <typename T>
struct Group {
  ArrayList<T> p, g;
  std::vector<py::ssize_t> sizes;
  size_t count;
  Group(const py::handle& po, const py::handle& go) {
    if (!py::isinstance<py::list>(po) && !py::isinstance<py::tuple>(po))
      throw py::type_error("params: expected a list of arrays, got " + type_name(po));
    count = static_cast<size_t>(py::len(po));
    p = array_list<T>("params", po, count, nullptr, true, false);
    for (auto& a : p.a) sizes.push_back(a.size());
    g = array_list<T>("grads", go, count, &sizes, false, false);
  }
};

std::vector<int64_t> int_list(const char* name, const py::handle& o, size_t count) {
  if (!py::isinstance<py::list>(o) && !py::isinstance<py::tuple>(o))
    throw py::type_error(std::string(name) + ": expected a list of ints, got " + type_name(o));
  py::sequence s = py::reinterpret_borrow<py::sequence>(o);
  if (static_cast<size_t>(py::len(s)) != count)
    throw py::value_error(std::string(name) + ": expected " + std::to_string(count) +
                          " entries (one per parameter), got " + std::to_string(py::len(s)));
  std::vector<int64_t> v;
  for (size_t i = 0; i < count; ++i) v.push_back(s[i].cast<int64_t>());
  return v;
}

bool params_f64(const py::handle& po) {
  if ((!py::isinstance<py::list>(po) && !py::isinstance<py::tuple>(po)) || py::len(po) == 0)
    return false;  // Group's checks report it; an empty group does nothing in either type
  return is_f64("params[0]", py::reinterpret_borrow<py::sequence>(po)[0]);
}

template <typename T>
void sgd_step(const py::handle& po, const py::handle& go, const py::handle& bo,
              const py::handle& fo, const ops::SgdOptions& o) {
  Group<T> G(po, go);
  auto b = array_list<T>("momentum_buffers", bo, G.count, &G.sizes, true, true);
  std::vector<int64_t> first = int_list("first", fo, G.count);
  std::vector<ops::SgdParam<T>> v(G.count);
  for (size_t i = 0; i < G.count; ++i) {
    v[i].n = G.sizes[i];
    v[i].param = G.p.ptr(i);
    v[i].grad = G.g.ptr(i);
    v[i].momentum_buffer = b.ptr(i);
    v[i].first = first[i] != 0;
  }
  py::gil_scoped_release nogil;
  ops::sgd_step<T>(v.data(), static_cast<int64_t>(v.size()), o);
}

template <typename T>
void adam_step(const py::handle& po, const py::handle& go, const py::handle& mo,
               const py::handle& vo, const py::handle& vmo, const py::handle& so,
               const ops::AdamOptions& o) {
  Group<T> G(po, go);
  auto m = array_list<T>("exp_avgs", mo, G.count, &G.sizes, true, false);
  auto v2 = array_list<T>("exp_avg_sqs", vo, G.count, &G.sizes, true, false);
  auto vm = array_list<T>("max_exp_avg_sqs", vmo, G.count, &G.sizes, true, true);
  std::vector<int64_t> steps = int_list("steps", so, G.count);
  std::vector<ops::AdamParam<T>> v(G.count);
  for (size_t i = 0; i < G.count; ++i) {
    v[i].n = G.sizes[i];
    v[i].param = G.p.ptr(i);
    v[i].grad = G.g.ptr(i);
    v[i].exp_avg = m.ptr(i);
    v[i].exp_avg_sq = v2.ptr(i);
    v[i].max_exp_avg_sq = vm.ptr(i);
    v[i].step = steps[i];
  }
  py::gil_scoped_release nogil;
  ops::adam_step<T>(v.data(), static_cast<int64_t>(v.size()), o);
}

template <typename T>
void rmsprop_step(const py::handle& po, const py::handle& go, const py::handle& so,
                  const py::handle& bo, const py::handle& gao, const ops::RmspropOptions& o) {
  Group<T> G(po, go);
  auto sq = array_list<T>("square_avgs", so, G.count, &G.sizes, true, false);
  auto b = array_list<T>("momentum_buffers", bo, G.count, &G.sizes, true, true);
  auto ga = array_list<T>("grad_avgs", gao, G.count, &G.sizes, true, true);
  std::vector<ops::RmspropParam<T>> v(G.count);
  for (size_t i = 0; i < G.count; ++i) {
    v[i].n = G.sizes[i];
    v[i].param = G.p.ptr(i);
    v[i].grad = G.g.ptr(i);
    v[i].square_avg = sq.ptr(i);
    v[i].momentum_buffer = b.ptr(i);
    v[i].grad_avg = ga.ptr(i);
  }
  py::gil_scoped_release nogil;
  ops::rmsprop_step<T>(v.data(), static_cast<int64_t>(v.size()), o);
}

template <typename T>
void adagrad_step(const py::handle& po, const py::handle& go, const py::handle& so,
                  const py::handle& sto, const ops::AdagradOptions& o) {
  Group<T> G(po, go);
  auto s = array_list<T>("sums", so, G.count, &G.sizes, true, false);
  std::vector<int64_t> steps = int_list("steps", sto, G.count);
  std::vector<ops::AdagradParam<T>> v(G.count);
  for (size_t i = 0; i < G.count; ++i) {
    v[i].n = G.sizes[i];
    v[i].param = G.p.ptr(i);
    v[i].grad = G.g.ptr(i);
    v[i].sum = s.ptr(i);
    v[i].step = steps[i];
  }
  py::gil_scoped_release nogil;
  ops::adagrad_step<T>(v.data(), static_cast<int64_t>(v.size()), o);
}

}  // namespace

// Dispatch on the first array's dtype: F<float> or F<double>.
#define RNNFAST_DISPATCH(name, first, call) (is_f64(name, first) ? call<double> : call<float>)

namespace rnnfast {
namespace python {

void register_ops(py::module_& m) {
  using py::arg;
  m.def(
      "linear_forward",
      [](py::handle x, py::handle w, py::handle b) {
        return RNNFAST_DISPATCH("input", x, linear_forward)(x, w, b);
      },
      arg("input"), arg("weight"), arg("bias"), "input [M,K] @ weight[N,K]^T + bias[N] -> [M,N]");
  m.def(
      "linear_backward",
      [](py::handle dy, py::handle x, py::handle w, bool need_dx, bool need_dw, bool need_db) {
        return RNNFAST_DISPATCH("dy", dy, linear_backward)(dy, x, w, need_dx, need_dw, need_db);
      },
      arg("dy"), arg("input"), arg("weight"), arg("need_dx"), arg("need_dw"), arg("need_db"),
      "-> (dx [M,K] or None, dw [N,K] or None, db [N] or None)");
  m.def(
      "embedding_forward",
      [](py::handle idx, py::handle w) {
        return RNNFAST_DISPATCH("weight", w, embedding_forward)(idx, w);
      },
      arg("indices"), arg("weight"), "weight[indices] -> [n, D] (indices: int64 [n])");
  m.def(
      "embedding_backward",
      [](py::handle dy, py::handle idx, int64_t V, int64_t padding_idx) {
        return RNNFAST_DISPATCH("dy", dy, embedding_backward)(dy, idx, V, padding_idx);
      },
      arg("dy"), arg("indices"), arg("num_embeddings"), arg("padding_idx"),
      "The weight's gradient [V, D]: dy's rows added at their indices (padding_idx -1: none)");
  m.def(
      "cross_entropy_forward",
      [](py::handle x, py::handle t, py::handle w, int64_t ignore_index, double eps,
         const std::string& reduction) {
        return RNNFAST_DISPATCH("input", x, cross_entropy_forward)(x, t, w, ignore_index, eps,
                                                                   reduction);
      },
      arg("input"), arg("target"), arg("weight"), arg("ignore_index"), arg("label_smoothing"),
      arg("reduction"),
      "Class-index cross entropy of logits [R,C,S], targets int64 [R,S] -> (loss, lse [R*S])");
  m.def(
      "cross_entropy_backward",
      [](py::handle g, py::handle lse, py::handle x, py::handle t, py::handle w,
         int64_t ignore_index, double eps, const std::string& reduction) {
        return RNNFAST_DISPATCH("input", x, cross_entropy_backward)(g, lse, x, t, w, ignore_index,
                                                                    eps, reduction);
      },
      arg("dloss"), arg("lse"), arg("input"), arg("target"), arg("weight"), arg("ignore_index"),
      arg("label_smoothing"), arg("reduction"), "-> dlogits [R,C,S]");
  m.def(
      "cross_entropy_prob_forward",
      [](py::handle x, py::handle q, py::handle w, double eps, const std::string& reduction) {
        return RNNFAST_DISPATCH("input", x, cross_entropy_prob_forward)(x, q, w, eps, reduction);
      },
      arg("input"), arg("target"), arg("weight"), arg("label_smoothing"), arg("reduction"),
      "Cross entropy with probability targets [R,C,S] -> (loss, lse [R*S])");
  m.def(
      "cross_entropy_prob_backward",
      [](py::handle g, py::handle lse, py::handle x, py::handle q, py::handle w, double eps,
         const std::string& reduction, bool need_dx, bool need_dq) {
        return RNNFAST_DISPATCH("input", x, cross_entropy_prob_backward)(
            g, lse, x, q, w, eps, reduction, need_dx, need_dq);
      },
      arg("dloss"), arg("lse"), arg("input"), arg("target"), arg("weight"), arg("label_smoothing"),
      arg("reduction"), arg("need_dinput"), arg("need_dtarget"),
      "-> (dinput or None, dtarget or None)");
  m.def(
      "bce_with_logits_forward",
      [](py::handle x, py::handle y, py::handle w, py::handle pw, const std::string& reduction) {
        return RNNFAST_DISPATCH("input", x, bce_forward)(x, y, w, pw, reduction);
      },
      arg("input"), arg("target"), arg("weight"), arg("pos_weight"), arg("reduction"),
      "BCE of sigmoid(input) [n]; weight / pos_weight [p], p dividing n, element i using i % p");
  m.def(
      "bce_with_logits_backward",
      [](py::handle g, py::handle x, py::handle y, py::handle w, py::handle pw,
         const std::string& reduction, bool need_dx, bool need_dy) {
        return RNNFAST_DISPATCH("input", x, bce_backward)(g, x, y, w, pw, reduction, need_dx,
                                                          need_dy);
      },
      arg("dloss"), arg("input"), arg("target"), arg("weight"), arg("pos_weight"), arg("reduction"),
      arg("need_dinput"), arg("need_dtarget"), "-> (dinput or None, dtarget or None)");
  m.def(
      "mse_forward",
      [](py::handle x, py::handle y, const std::string& reduction) {
        return RNNFAST_DISPATCH("input", x, mse_forward)(x, y, reduction);
      },
      arg("input"), arg("target"), arg("reduction"), "Squared error of [n] arrays");
  m.def(
      "mse_backward",
      [](py::handle g, py::handle x, py::handle y, const std::string& reduction, bool need_dx,
         bool need_dy) {
        return RNNFAST_DISPATCH("input", x, mse_backward)(g, x, y, reduction, need_dx, need_dy);
      },
      arg("dloss"), arg("input"), arg("target"), arg("reduction"), arg("need_dinput"),
      arg("need_dtarget"), "-> (dinput or None, dtarget or None)");
  m.def(
      "sgd_step",
      [](py::handle p, py::handle g, py::handle b, py::handle first, double lr, double momentum,
         double dampening, double weight_decay, bool nesterov, bool maximize) {
        ops::SgdOptions o;
        o.lr = lr;
        o.momentum = momentum;
        o.dampening = dampening;
        o.weight_decay = weight_decay;
        o.nesterov = nesterov;
        o.maximize = maximize;
        (params_f64(p) ? sgd_step<double> : sgd_step<float>)(p, g, b, first, o);
      },
      arg("params"), arg("grads"), arg("momentum_buffers"), arg("first"), arg("lr"),
      arg("momentum"), arg("dampening"), arg("weight_decay"), arg("nesterov"), arg("maximize"),
      "One torch.optim.SGD step over a group, in place");
  m.def(
      "adam_step",
      [](py::handle p, py::handle g, py::handle m1, py::handle v, py::handle vmax, py::handle steps,
         double lr, double beta1, double beta2, double eps, double weight_decay, bool amsgrad,
         bool maximize, bool decoupled) {
        ops::AdamOptions o;
        o.lr = lr;
        o.beta1 = beta1;
        o.beta2 = beta2;
        o.eps = eps;
        o.weight_decay = weight_decay;
        o.amsgrad = amsgrad;
        o.maximize = maximize;
        o.decoupled_weight_decay = decoupled;
        (params_f64(p) ? adam_step<double> : adam_step<float>)(p, g, m1, v, vmax, steps, o);
      },
      arg("params"), arg("grads"), arg("exp_avgs"), arg("exp_avg_sqs"), arg("max_exp_avg_sqs"),
      arg("steps"), arg("lr"), arg("beta1"), arg("beta2"), arg("eps"), arg("weight_decay"),
      arg("amsgrad"), arg("maximize"), arg("decoupled_weight_decay"),
      "One torch.optim.Adam / AdamW step over a group, in place");
  m.def(
      "rmsprop_step",
      [](py::handle p, py::handle g, py::handle sq, py::handle b, py::handle ga, double lr,
         double alpha, double eps, double weight_decay, double momentum, bool centered,
         bool maximize) {
        ops::RmspropOptions o;
        o.lr = lr;
        o.alpha = alpha;
        o.eps = eps;
        o.weight_decay = weight_decay;
        o.momentum = momentum;
        o.centered = centered;
        o.maximize = maximize;
        (params_f64(p) ? rmsprop_step<double> : rmsprop_step<float>)(p, g, sq, b, ga, o);
      },
      arg("params"), arg("grads"), arg("square_avgs"), arg("momentum_buffers"), arg("grad_avgs"),
      arg("lr"), arg("alpha"), arg("eps"), arg("weight_decay"), arg("momentum"), arg("centered"),
      arg("maximize"), "One torch.optim.RMSprop step over a group, in place");
  m.def(
      "adagrad_step",
      [](py::handle p, py::handle g, py::handle s, py::handle steps, double lr, double lr_decay,
         double weight_decay, double eps, bool maximize) {
        ops::AdagradOptions o;
        o.lr = lr;
        o.lr_decay = lr_decay;
        o.weight_decay = weight_decay;
        o.eps = eps;
        o.maximize = maximize;
        (params_f64(p) ? adagrad_step<double> : adagrad_step<float>)(p, g, s, steps, o);
      },
      arg("params"), arg("grads"), arg("sums"), arg("steps"), arg("lr"), arg("lr_decay"),
      arg("weight_decay"), arg("eps"), arg("maximize"),
      "One torch.optim.Adagrad step over a group, in place");
}

}  // namespace python
}  // namespace rnnfast
