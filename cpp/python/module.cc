// rnnfast._core: the thin pybind11 layer over the C++ API. It checks rank, shape and dtype
// at the boundary (ValueError / TypeError naming the argument), allocates outputs, releases
// the GIL around the kernel only, and returns tuples. No numerical code lives here.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <new>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "buffers.h"
#include "rnnfast/rnnfast.h"

namespace py = pybind11;

namespace rnnfast {
namespace python {
void register_ops(py::module_& m);  // ops_bind.cc
}  // namespace python
}  // namespace rnnfast

using rnnfast::Cell;
using rnnfast::Dims;
using rnnfast::python::BufferCache;
using rnnfast::python::output;

namespace {

std::string shape_str(const py::array& a) {
  std::ostringstream os;
  os << "(";
  for (py::ssize_t i = 0; i < a.ndim(); ++i) os << (i ? ", " : "") << a.shape(i);
  os << (a.ndim() == 1 ? ",)" : ")");
  return os.str();
}

std::string expected_str(const std::vector<int64_t>& s) {
  std::ostringstream os;
  os << "(";
  for (size_t i = 0; i < s.size(); ++i) os << (i ? ", " : "") << s[i];
  os << (s.size() == 1 ? ",)" : ")");
  return os.str();
}

// An optional array argument: None -> empty; else must be a C-contiguous array of dtype T.
template <typename T>
using Opt = std::optional<py::array_t<T>>;

template <typename T>
Opt<T> get(const char* name, const py::object& o, bool required) {
  if (o.is_none()) {
    if (required) throw py::value_error(std::string(name) + ": expected an array, got None");
    return std::nullopt;
  }
  if (!py::isinstance<py::array>(o))
    throw py::type_error(std::string(name) + ": expected a numpy array, got " +
                         std::string(py::str(o.get_type().attr("__name__"))));
  py::array a = py::reinterpret_borrow<py::array>(o);
  if (!a.dtype().equal(py::dtype::of<T>()))
    throw py::type_error(std::string(name) + ": expected dtype " +
                         std::string(py::str(py::dtype::of<T>())) + " (the dtype of w_ih), got " +
                         std::string(py::str(a.dtype())));
  if (!(a.flags() & py::array::c_style))
    throw py::value_error(std::string(name) + ": expected a C-contiguous array");
  return py::reinterpret_borrow<py::array_t<T>>(a);
}

void check_shape(const char* name, const py::array& a, const std::vector<int64_t>& want) {
  bool ok = a.ndim() == static_cast<py::ssize_t>(want.size());
  for (size_t i = 0; ok && i < want.size(); ++i) ok = a.shape(i) == want[i];
  if (!ok)
    throw py::value_error(std::string(name) + ": expected shape " + expected_str(want) + ", got " +
                          shape_str(a));
}

// std::bad_alloc from the kernels' own work buffers: MemoryError naming the call and its sizes
// (pybind11 alone would say only "std::bad_alloc"). Called with the GIL held.
[[noreturn]] void no_memory(const char* fn, Cell cell, const Dims& d) {
  std::ostringstream os;
  os << fn << ": cannot allocate the work buffers of " << rnnfast::cell_name(cell)
     << " with T=" << d.T << ", B=" << d.B << ", I=" << d.I << ", H=" << d.H
     << ", H_out=" << d.H_out << " (std::bad_alloc)";
  PyErr_SetString(PyExc_MemoryError, os.str().c_str());
  throw py::error_already_set();
}

Cell to_cell(const py::object& c) {
  if (!py::isinstance<Cell>(c))
    throw py::type_error("cell: expected an rnnfast._core.Cell, got " +
                         std::string(py::str(c.get_type().attr("__name__"))));
  return c.cast<Cell>();
}

// Derives and checks dims from x and the weights. A cell without a recurrent weight (the scan
// cells: MINGRU, MINLSTM) takes w_hh = None and one bias, b_ih; a diagonal cell (the INDRNNs)
// takes w_hh = u, (H,), and one bias, b_ih: which of w_hh, b_ih, b_hh a
// cell takes is the C++ API's check (validate: ValueError with its message, "b_ih, b_hh:
// expected both biases or neither" for the others), this one checks the shapes of what is
// given.
template <typename T>
Dims dims_of(Cell cell, const py::array_t<T>& x, const py::array_t<T>& w_ih, const Opt<T>& w_hh,
             const Opt<T>& b_ih, const Opt<T>& b_hh, const Opt<T>& w_hr, bool batch_first) {
  const int G = rnnfast::num_gates(cell);
  if (x.ndim() != 3)
    throw py::value_error(std::string("x: expected a 3-D array ") +
                          (batch_first ? "(B, T, I)" : "(T, B, I)") + ", got shape " +
                          shape_str(x));
  if (w_ih.ndim() != 2)
    throw py::value_error("w_ih: expected a 2-D array (G*H, I), got shape " + shape_str(w_ih));
  // A diagonal recurrence (IndRNN): w_hh is u, one weight per unit, (H,); one bias, b_ih.
  const bool diagonal = rnnfast::has_diagonal_recurrence(cell);
  if (w_hh && diagonal && w_hh->ndim() != 1)
    throw py::value_error(std::string("w_hh: expected a 1-D array (H,) (one recurrent weight per "
                                      "unit) for ") +
                          rnnfast::cell_name(cell) + ", got shape " + shape_str(*w_hh));
  if (w_hh && !diagonal && w_hh->ndim() != 2)
    throw py::value_error("w_hh: expected a 2-D array (G*H, H_out), got shape " + shape_str(*w_hh));
  Dims d;
  d.batch_first = batch_first;
  d.T = x.shape(batch_first ? 1 : 0);
  d.B = x.shape(batch_first ? 0 : 1);
  d.I = x.shape(2);
  if (w_ih.shape(0) % G != 0 || w_ih.shape(0) == 0)
    throw py::value_error("w_ih: expected " + std::to_string(G) +
                          "*H rows for this cell, got shape " + shape_str(w_ih));
  d.H = w_ih.shape(0) / G;
  check_shape("w_ih", w_ih, {G * d.H, d.I});
  if (diagonal) {
    d.H_out = d.H;
    if (w_hh) check_shape("w_hh", *w_hh, {d.H});
    if (b_hh)
      throw py::value_error(std::string("b_hh: expected None (") + rnnfast::cell_name(cell) +
                            " has one bias, b_ih), got an array");
    if (b_ih) check_shape("b_ih", *b_ih, {d.H});
    if (w_hr) throw py::value_error("w_hr: expected None (projection is LSTM only), got an array");
    return d;
  }
  d.H_out = w_hh ? w_hh->shape(1) : d.H;
  if (w_hh) check_shape("w_hh", *w_hh, {G * d.H, d.H_out});
  if (b_ih) check_shape("b_ih", *b_ih, {G * d.H});
  if (b_hh) check_shape("b_hh", *b_hh, {G * d.H});
  if (w_hr) {
    if (!rnnfast::has_projection(cell))
      throw py::value_error("w_hr: expected None (projection is LSTM only), got an array");
    if (d.H_out >= d.H)
      throw py::value_error("w_hh: expected shape " + expected_str({G * d.H, d.H_out}) +
                            " with H_out < H = " + std::to_string(d.H) + " for a projection, got " +
                            (w_hh ? shape_str(*w_hh) : std::string("None")));
    check_shape("w_hr", *w_hr, {d.H_out, d.H});
  } else if (d.H_out != d.H) {
    throw py::value_error("w_hh: expected shape " + expected_str({G * d.H, d.H}) +
                          " without a projection w_hr, got " + shape_str(*w_hh));
  }
  return d;
}

std::optional<py::array_t<int64_t>> get_lengths(const py::object& o, int64_t B) {
  if (o.is_none()) return std::nullopt;
  if (!py::isinstance<py::array>(o))
    throw py::type_error("lengths: expected a numpy int64 array, got " +
                         std::string(py::str(o.get_type().attr("__name__"))));
  py::array a = py::reinterpret_borrow<py::array>(o);
  if (!a.dtype().equal(py::dtype::of<int64_t>()))
    throw py::type_error("lengths: expected dtype int64, got " + std::string(py::str(a.dtype())));
  if (!(a.flags() & py::array::c_style))
    throw py::value_error("lengths: expected a C-contiguous array");
  check_shape("lengths", a, {B});
  return py::reinterpret_borrow<py::array_t<int64_t>>(a);
}

// x, the weights and the lengths of one layer call, checked; holds the arrays alive.
template <typename T>
struct Layer {
  py::array_t<T> x, w_ih;
  Opt<T> w_hh, b_ih, b_hh, w_hr;
  std::vector<py::array_t<T>> extras;  // the cell's own parameters, Weights::extra
  std::optional<py::array_t<int64_t>> lengths;
  Dims d;
  rnnfast::Weights<T> w;
  const int64_t* len = nullptr;

  Layer(Cell cell, const py::object& xo, const py::object& w_iho, const py::object& w_hho,
        const py::object& b_iho, const py::object& b_hho, const py::object& w_hro,
        const py::object& lengthso, bool batch_first, const py::object& extraso)
      : x(*get<T>("x", xo, true)),
        w_ih(*get<T>("w_ih", w_iho, true)),
        w_hh(get<T>("w_hh", w_hho, false)),
        b_ih(get<T>("b_ih", b_iho, false)),
        b_hh(get<T>("b_hh", b_hho, false)),
        w_hr(get<T>("w_hr", w_hro, false)) {
    d = dims_of<T>(cell, x, w_ih, w_hh, b_ih, b_hh, w_hr, batch_first);
    lengths = get_lengths(lengthso, d.B);
    len = lengths ? lengths->data() : nullptr;
    w.w_ih = w_ih.data();
    w.w_hh = w_hh ? w_hh->data() : nullptr;
    w.b_ih = b_ih ? b_ih->data() : nullptr;
    w.b_hh = b_hh ? b_hh->data() : nullptr;
    w.w_hr = w_hr ? w_hr->data() : nullptr;
    // extras: None (no extra parameters) or a sequence of exactly the cell's.
    const int ne = rnnfast::num_extras(cell);
    if (extraso.is_none() && ne == 0) return;
    if (!extraso.is_none() &&
        !(py::isinstance<py::tuple>(extraso) || py::isinstance<py::list>(extraso)))
      throw py::type_error("extras: expected a tuple of arrays, got " +
                           std::string(py::str(extraso.get_type().attr("__name__"))));
    const py::sequence seq = extraso.is_none() ? py::sequence(py::tuple())
                                               : py::reinterpret_borrow<py::sequence>(extraso);
    if (static_cast<int>(seq.size()) != ne)
      throw py::value_error(std::string("extras: expected ") + std::to_string(ne) +
                            " extra parameter(s) for " + rnnfast::cell_name(cell) + ", got " +
                            std::to_string(seq.size()));
    for (int k = 0; k < ne; ++k) {
      const std::string name = "extras[" + std::to_string(k) + "]";
      extras.push_back(*get<T>(name.c_str(), seq[k], true));
      check_shape(name.c_str(), extras.back(), {rnnfast::extra_size(cell, d.H, k)});
      w.extra[k] = extras.back().data();
    }
  }
  // The shape of a per-position array with n features: (T, B, n), or (B, T, n).
  std::vector<int64_t> steps(int64_t n) const {
    return d.batch_first ? std::vector<int64_t>{d.B, d.T, n} : std::vector<int64_t>{d.T, d.B, n};
  }
};

// A call's zoneout (rnnfast::Zoneout): zoneout_h and zoneout_c each None (none), a float (the
// constant keep probability) or an array of keep masks ([T,B,H_out] for h, as y, and [T,B,H]
// for c; [B,T,..] with batch_first);
// which cells, dims and probabilities take it is the C++ API's check (validate_zoneout).
template <typename T>
struct ZoneoutArg {
  Opt<T> h, c;
  rnnfast::Zoneout<T> z;
  void parse(const Layer<T>& L, const py::object& ho, const py::object& co) {
    parse_one("zoneout_h", L.steps(L.d.H_out), ho, h, z.h, z.h_prob);
    parse_one("zoneout_c", L.steps(L.d.H), co, c, z.c, z.c_prob);
  }

 private:
  static void parse_one(const char* name, const std::vector<int64_t>& shape, const py::object& o,
                        Opt<T>& keep, const T*& mask, T& prob) {
    if (o.is_none()) return;
    if (py::isinstance<py::array>(o)) {
      keep = get<T>(name, o, true);
      check_shape(name, *keep, shape);
      mask = keep->data();
      return;
    }
    if (!py::isinstance<py::float_>(o) && !py::isinstance<py::int_>(o))
      throw py::type_error(std::string(name) +
                           ": expected None, a probability or a numpy array of masks, got " +
                           std::string(py::str(o.get_type().attr("__name__"))));
    prob = static_cast<T>(o.cast<double>());
  }
};

// The flops of one step of a layer call (run_pair's measure): its recurrent product, or, for a
// diagonal recurrence, which has none, its share of the input product.
inline double layer_step_flops(Cell cell, const Dims& d) {
  if (rnnfast::has_diagonal_recurrence(cell)) return 2.0 * d.B * d.H * (d.I + 2);
  return 2.0 * d.B * rnnfast::num_gates(cell) * d.H * d.H_out;
}

// One forward call: arguments checked and outputs allocated with the GIL held; run() is
// called without it; result() builds the returned tuple.
template <typename T>
struct ForwardCall {
  Cell cell;
  Layer<T> L;
  Opt<T> h0, c0, h_mask;
  ZoneoutArg<T> zo;
  bool reverse, training;
  py::array_t<T> y, h_n;
  py::object c_n_obj = py::none(), reserve_obj = py::none();
  T* c_n = nullptr;
  T* res = nullptr;

  ForwardCall(Cell cell_, const py::object& xo, const py::object& w_iho, const py::object& w_hho,
              const py::object& b_iho, const py::object& b_hho, const py::object& w_hro,
              const py::object& h0o, const py::object& c0o, const py::object& lengthso,
              const py::object& h_masko, bool reverse_, bool training_, bool batch_first,
              const py::object& extraso, const py::object& zoh, const py::object& zoc)
      : cell(cell_),
        L(cell_, xo, w_iho, w_hho, b_iho, b_hho, w_hro, lengthso, batch_first, extraso),
        reverse(reverse_),
        training(training_) {
    const Dims& d = L.d;
    h0 = get<T>("h0", h0o, false);
    c0 = get<T>("c0", c0o, false);
    if (h0) check_shape("h0", *h0, {d.B, d.H_out});
    if (c0) {
      if (!rnnfast::has_cell_state(cell))
        throw py::value_error("c0: expected None (a cell state is LSTM only), got an array");
      check_shape("c0", *c0, {d.B, d.H});
    }
    h_mask = get<T>("h_mask", h_masko, false);
    if (h_mask) check_shape("h_mask", *h_mask, {d.B, d.H_out});
    zo.parse(L, zoh, zoc);
    const int64_t rsize = training ? rnnfast::reserve_size(cell, d, zo.z.on()) : 0;
    const std::vector<int64_t> ys = L.steps(d.H_out);
    y = output<T>({ys[0], ys[1], ys[2]});
    h_n = output<T>({d.B, d.H_out});
    if (rnnfast::has_cell_state(cell)) {
      py::array_t<T> a = output<T>({d.B, d.H});
      c_n = a.mutable_data();
      c_n_obj = a;
    }
    if (training) {
      py::array_t<T> r = output<T>({rsize});
      res = r.mutable_data();
      reserve_obj = r;
    }
  }
  double step_flops() const { return layer_step_flops(cell, L.d); }
  void run() {  // without the GIL
    rnnfast::forward<T>(cell, y.mutable_data(), h_n.mutable_data(), c_n, res, L.x.data(),
                        h0 ? h0->data() : nullptr, c0 ? c0->data() : nullptr, L.len,
                        h_mask ? h_mask->data() : nullptr, L.w, L.d, reverse, zo.z);
  }
  py::tuple result() const { return py::make_tuple(y, h_n, c_n_obj, reserve_obj); }
};

template <typename T>
struct BackwardCall {
  Cell cell;
  Layer<T> L;
  py::array_t<T> reserve, y;
  Opt<T> dy, dh_n, dc_n, h_mask;
  ZoneoutArg<T> zo;
  bool reverse;
  py::array_t<T> dx, dh0, dw_ih;
  py::object dw_hh_obj = py::none(), dc0_obj = py::none(), db_ih_obj = py::none(),
             db_hh_obj = py::none(), dw_hr_obj = py::none();
  py::tuple dextras;
  T* dc0 = nullptr;
  rnnfast::WeightGrads<T> g;

  static py::array_t<T> zeros(std::vector<py::ssize_t> shape) { return output<T>(shape, true); }

  BackwardCall(Cell cell_, const py::object& reserveo, const py::object& xo,
               const py::object& w_iho, const py::object& w_hho, const py::object& b_iho,
               const py::object& b_hho, const py::object& w_hro, const py::object& lengthso,
               const py::object& h_masko, bool reverse_, const py::object& dyo,
               const py::object& dh_no, const py::object& dc_no, const py::object& yo,
               bool batch_first, const py::object& extraso, const py::object& zoh,
               const py::object& zoc)
      : cell(cell_),
        L(cell_, xo, w_iho, w_hho, b_iho, b_hho, w_hro, lengthso, batch_first, extraso),
        reserve(*get<T>("reserve", reserveo, true)),
        y(*get<T>("y", yo, true)),
        reverse(reverse_) {
    const Dims& d = L.d;
    check_shape("y", y, L.steps(d.H_out));
    dy = get<T>("dy", dyo, false);
    dh_n = get<T>("dh_n", dh_no, false);
    dc_n = get<T>("dc_n", dc_no, false);
    zo.parse(L, zoh, zoc);
    check_shape("reserve", reserve, {rnnfast::reserve_size(cell, d, zo.z.on())});
    if (dy) check_shape("dy", *dy, L.steps(d.H_out));
    if (dh_n) check_shape("dh_n", *dh_n, {d.B, d.H_out});
    if (dc_n) {
      if (!rnnfast::has_cell_state(cell))
        throw py::value_error("dc_n: expected None (a cell state is LSTM only), got an array");
      check_shape("dc_n", *dc_n, {d.B, d.H});
    }
    h_mask = get<T>("h_mask", h_masko, false);
    if (h_mask) check_shape("h_mask", *h_mask, {d.B, d.H_out});
    const int64_t G = rnnfast::num_gates(cell);
    const std::vector<int64_t> xs = L.steps(d.I);
    dx = output<T>({xs[0], xs[1], xs[2]});
    dh0 = output<T>({d.B, d.H_out});
    if (rnnfast::has_cell_state(cell)) {
      py::array_t<T> a = output<T>({d.B, d.H});
      dc0 = a.mutable_data();
      dc0_obj = a;
    }
    dw_ih = zeros({G * d.H, d.I});
    g.dw_ih = dw_ih.mutable_data();
    // Gradients of the weights given (no w_hh, b_hh for the scan cells: None; a diagonal
    // cell's w_hh is u, (H,), and it has no b_hh).
    if (L.w.w_hh) {
      auto a = rnnfast::has_diagonal_recurrence(cell) ? zeros({d.H}) : zeros({G * d.H, d.H_out});
      g.dw_hh = a.mutable_data();
      dw_hh_obj = a;
    }
    if (L.w.b_ih) {
      auto a = zeros({G * d.H});
      g.db_ih = a.mutable_data();
      db_ih_obj = a;
    }
    if (L.w.b_hh) {
      auto b = zeros({G * d.H});
      g.db_hh = b.mutable_data();
      db_hh_obj = b;
    }
    if (L.w.w_hr) {
      auto a = zeros({d.H_out, d.H});
      g.dw_hr = a.mutable_data();
      dw_hr_obj = a;
    }
    dextras = py::tuple(L.extras.size());
    for (size_t k = 0; k < L.extras.size(); ++k) {
      auto a = zeros({rnnfast::extra_size(cell, d.H, static_cast<int>(k))});
      g.dextra[k] = a.mutable_data();
      dextras[k] = a;
    }
  }
  double step_flops() const { return layer_step_flops(cell, L.d); }
  void run() {  // without the GIL
    rnnfast::backward<T>(cell, dx.mutable_data(), dh0.mutable_data(), dc0, g, reserve.data(),
                         dy ? dy->data() : nullptr, dh_n ? dh_n->data() : nullptr,
                         dc_n ? dc_n->data() : nullptr, L.x.data(), y.data(), L.len,
                         h_mask ? h_mask->data() : nullptr, L.w, L.d, reverse, zo.z);
  }
  py::tuple result() const {
    return py::make_tuple(dx, dh0, dc0_obj, dw_ih, dw_hh_obj, db_ih_obj, db_hh_obj, dw_hr_obj,
                          dextras);
  }
};

template <typename Call>
py::tuple run_one(Call& c, const char* fn) {
  try {
    py::gil_scoped_release nogil;
    c.run();
  } catch (const std::bad_alloc&) {
    no_memory(fn, c.cell, c.L.d);
  }
  return c.result();
}

template <typename Call>
py::tuple run_two(Call& a, Call& b, const char* fn) {
  try {
    py::gil_scoped_release nogil;
    rnnfast::run_pair([&] { a.run(); }, [&] { b.run(); }, a.step_flops());
  } catch (const std::bad_alloc&) {
    no_memory(fn, a.cell, a.L.d);
  }
  return py::make_tuple(a.result(), b.result());
}

template <typename T>
py::tuple forward_t(Cell cell, const py::object& xo, const py::object& w_iho,
                    const py::object& w_hho, const py::object& b_iho, const py::object& b_hho,
                    const py::object& w_hro, const py::object& h0o, const py::object& c0o,
                    const py::object& lengthso, const py::object& h_masko, bool reverse,
                    bool training, bool batch_first, const py::object& extraso,
                    const py::object& zoh, const py::object& zoc) {
  ForwardCall<T> c(cell, xo, w_iho, w_hho, b_iho, b_hho, w_hro, h0o, c0o, lengthso, h_masko,
                   reverse, training, batch_first, extraso, zoh, zoc);
  return run_one(c, "forward");
}

template <typename T>
py::tuple backward_t(Cell cell, const py::object& reserveo, const py::object& xo,
                     const py::object& w_iho, const py::object& w_hho, const py::object& b_iho,
                     const py::object& b_hho, const py::object& w_hro, const py::object& lengthso,
                     const py::object& h_masko, bool reverse, const py::object& dyo,
                     const py::object& dh_no, const py::object& dc_no, const py::object& yo,
                     bool batch_first, const py::object& extraso, const py::object& zoh,
                     const py::object& zoc) {
  BackwardCall<T> c(cell, reserveo, xo, w_iho, w_hho, b_iho, b_hho, w_hro, lengthso, h_masko,
                    reverse, dyo, dh_no, dc_no, yo, batch_first, extraso, zoh, zoc);
  return run_one(c, "backward");
}

// One call of forward_pair / backward_pair: a dict of forward's (backward's) arguments after
// `cell`, by name. Absent optional arguments take forward's defaults; an unknown name is an
// error (a misspelt one would otherwise be ignored).
class Args {
 public:
  Args(const py::object& o, const char* fn, std::initializer_list<const char*> names) : fn_(fn) {
    if (!py::isinstance<py::dict>(o))
      throw py::type_error(std::string(fn) + ": expected a dict of arguments per call, got " +
                           std::string(py::str(o.get_type().attr("__name__"))));
    d_ = py::reinterpret_borrow<py::dict>(o);
    for (auto item : d_) {
      const std::string k = py::str(item.first);
      bool known = false;
      for (const char* n : names) known = known || k == n;
      if (!known) throw py::type_error(std::string(fn) + ": unexpected argument '" + k + "'");
    }
  }
  py::object operator()(const char* name) const {
    return d_.contains(name) ? py::reinterpret_borrow<py::object>(d_[name]) : py::none();
  }
  bool flag(const char* name, bool dflt = false) const {
    return d_.contains(name) ? py::bool_(d_[name]).cast<bool>() : dflt;
  }

 private:
  const char* fn_;
  py::dict d_;
};

template <typename T>
ForwardCall<T> forward_call(Cell cell, const py::object& o) {
  const Args a(o, "forward_pair",
               {"x", "w_ih", "w_hh", "b_ih", "b_hh", "w_hr", "h0", "c0", "lengths", "h_mask",
                "reverse", "training", "batch_first", "extras", "zoneout_h", "zoneout_c"});
  return ForwardCall<T>(cell, a("x"), a("w_ih"), a("w_hh"), a("b_ih"), a("b_hh"), a("w_hr"),
                        a("h0"), a("c0"), a("lengths"), a("h_mask"), a.flag("reverse"),
                        a.flag("training", true), a.flag("batch_first"), a("extras"),
                        a("zoneout_h"), a("zoneout_c"));
}

template <typename T>
BackwardCall<T> backward_call(Cell cell, const py::object& o) {
  const Args a(
      o, "backward_pair",
      {"reserve", "x", "w_ih", "w_hh", "b_ih", "b_hh", "w_hr", "lengths", "h_mask", "reverse", "dy",
       "dh_n", "dc_n", "y", "batch_first", "extras", "zoneout_h", "zoneout_c"});
  return BackwardCall<T>(cell, a("reserve"), a("x"), a("w_ih"), a("w_hh"), a("b_ih"), a("b_hh"),
                         a("w_hr"), a("lengths"), a("h_mask"), a.flag("reverse"), a("dy"),
                         a("dh_n"), a("dc_n"), a("y"), a.flag("batch_first"), a("extras"),
                         a("zoneout_h"), a("zoneout_c"));
}

// The dtype of a call: w_ih's (the argument dicts' "w_ih" for the pairs).
bool is_float64(const py::object& w_ih) {
  if (!py::isinstance<py::array>(w_ih))
    throw py::type_error("w_ih: expected a numpy array, got " +
                         std::string(py::str(w_ih.get_type().attr("__name__"))));
  py::array a = py::reinterpret_borrow<py::array>(w_ih);
  if (a.dtype().equal(py::dtype::of<double>())) return true;
  if (a.dtype().equal(py::dtype::of<float>())) return false;
  throw py::type_error("w_ih: expected dtype float32 or float64, got " +
                       std::string(py::str(a.dtype())));
}

}  // namespace

PYBIND11_MODULE(_core, m) {
  m.doc() = "rnnfast C++ kernels (private: use the rnnfast package)";
  // The cell kinds (rnnfast::Cell); rnnfast._cells names them for the Python side.
  py::enum_<Cell>(m, "Cell")
      .value("RNN_TANH", Cell::RNN_TANH)
      .value("RNN_RELU", Cell::RNN_RELU)
      .value("LSTM", Cell::LSTM)
      .value("GRU", Cell::GRU)
      .value("GRU_RESET_BEFORE", Cell::GRU_RESET_BEFORE)
      .value("LSTM_PEEPHOLE", Cell::LSTM_PEEPHOLE)
      .value("INDRNN_RELU", Cell::INDRNN_RELU)
      .value("INDRNN_TANH", Cell::INDRNN_TANH)
      .value("MINGRU", Cell::MINGRU)
      .value("MINLSTM", Cell::MINLSTM)
      .value("LAYERNORM_LSTM", Cell::LAYERNORM_LSTM)
      .value("LAYERNORM_GRU", Cell::LAYERNORM_GRU);
  m.def(
      "num_gates", [](const py::object& c) { return rnnfast::num_gates(to_cell(c)); },
      py::arg("cell"));
  m.def(
      "cell_name", [](const py::object& c) { return rnnfast::cell_name(to_cell(c)); },
      py::arg("cell"));
  m.def(
      "has_cell_state", [](const py::object& c) { return rnnfast::has_cell_state(to_cell(c)); },
      py::arg("cell"));
  m.def(
      "extra_sizes",
      [](const py::object& co, int64_t H) {
        const Cell c = to_cell(co);
        std::vector<int64_t> v;
        for (int k = 0; k < rnnfast::num_extras(c); ++k) v.push_back(rnnfast::extra_size(c, H, k));
        return v;
      },
      py::arg("cell"), py::arg("H"), "The lengths of the cell's extra parameters for H units");
  m.def(
      "forward",
      [](const py::object& cell, py::object x, py::object w_ih, py::object w_hh, py::object b_ih,
         py::object b_hh, py::object w_hr, py::object h0, py::object c0, py::object lengths,
         py::object h_mask, bool reverse, bool training, bool batch_first, py::object extras,
         py::object zoneout_h, py::object zoneout_c) {
        const Cell c = to_cell(cell);
        if (is_float64(w_ih))
          return forward_t<double>(c, x, w_ih, w_hh, b_ih, b_hh, w_hr, h0, c0, lengths, h_mask,
                                   reverse, training, batch_first, extras, zoneout_h, zoneout_c);
        return forward_t<float>(c, x, w_ih, w_hh, b_ih, b_hh, w_hr, h0, c0, lengths, h_mask,
                                reverse, training, batch_first, extras, zoneout_h, zoneout_c);
      },
      py::arg("cell"), py::arg("x"), py::arg("w_ih"), py::arg("w_hh"), py::arg("b_ih") = py::none(),
      py::arg("b_hh") = py::none(), py::arg("w_hr") = py::none(), py::arg("h0") = py::none(),
      py::arg("c0") = py::none(), py::arg("lengths") = py::none(), py::arg("h_mask") = py::none(),
      py::arg("reverse") = false, py::arg("training") = true, py::arg("batch_first") = false,
      py::arg("extras") = py::none(), py::arg("zoneout_h") = py::none(),
      py::arg("zoneout_c") = py::none(),
      "One layer, one direction -> (y, h_n, c_n or None, reserve or None)");
  m.def(
      "backward",
      [](const py::object& cell, py::object reserve, py::object x, py::object w_ih, py::object w_hh,
         py::object b_ih, py::object b_hh, py::object w_hr, py::object lengths, py::object h_mask,
         bool reverse, py::object dy, py::object dh_n, py::object dc_n, py::object y,
         bool batch_first, py::object extras, py::object zoneout_h, py::object zoneout_c) {
        const Cell c = to_cell(cell);
        if (is_float64(w_ih))
          return backward_t<double>(c, reserve, x, w_ih, w_hh, b_ih, b_hh, w_hr, lengths, h_mask,
                                    reverse, dy, dh_n, dc_n, y, batch_first, extras, zoneout_h,
                                    zoneout_c);
        return backward_t<float>(c, reserve, x, w_ih, w_hh, b_ih, b_hh, w_hr, lengths, h_mask,
                                 reverse, dy, dh_n, dc_n, y, batch_first, extras, zoneout_h,
                                 zoneout_c);
      },
      py::arg("cell"), py::arg("reserve"), py::arg("x"), py::arg("w_ih"), py::arg("w_hh"),
      py::arg("b_ih") = py::none(), py::arg("b_hh") = py::none(), py::arg("w_hr") = py::none(),
      py::arg("lengths") = py::none(), py::arg("h_mask") = py::none(), py::arg("reverse") = false,
      py::arg("dy") = py::none(), py::arg("dh_n") = py::none(), py::arg("dc_n") = py::none(),
      py::arg("y") = py::none(), py::arg("batch_first") = false, py::arg("extras") = py::none(),
      py::arg("zoneout_h") = py::none(), py::arg("zoneout_c") = py::none(),
      "BPTT -> (dx, dh0, dc0 or None, dw_ih, dw_hh, db_ih, db_hh, dw_hr, dextras)");
  m.def(
      "forward_pair",
      [](const py::object& cell, py::object a, py::object b) {
        const Cell c = to_cell(cell);
        if (py::isinstance<py::dict>(a) && is_float64(py::dict(a).attr("get")("w_ih"))) {
          auto ca = forward_call<double>(c, a);
          auto cb = forward_call<double>(c, b);
          return run_two(ca, cb, "forward");
        }
        auto ca = forward_call<float>(c, a);
        auto cb = forward_call<float>(c, b);
        return run_two(ca, cb, "forward");
      },
      py::arg("cell"), py::arg("a"), py::arg("b"),
      "Two forward calls at once, dicts of forward's arguments -> (result_a, result_b)");
  m.def(
      "backward_pair",
      [](const py::object& cell, py::object a, py::object b) {
        const Cell c = to_cell(cell);
        if (py::isinstance<py::dict>(a) && is_float64(py::dict(a).attr("get")("w_ih"))) {
          auto ca = backward_call<double>(c, a);
          auto cb = backward_call<double>(c, b);
          return run_two(ca, cb, "backward");
        }
        auto ca = backward_call<float>(c, a);
        auto cb = backward_call<float>(c, b);
        return run_two(ca, cb, "backward");
      },
      py::arg("cell"), py::arg("a"), py::arg("b"),
      "Two backward calls at once, dicts of backward's arguments -> (result_a, result_b)");
  m.def(
      "matmul",
      [](py::array a, py::array b, py::array out) {
        auto run = [&](auto tag) {
          using T = decltype(tag);
          using Arr = py::array_t<T, py::array::c_style>;
          if (!py::isinstance<Arr>(a) || !py::isinstance<Arr>(b) || !py::isinstance<Arr>(out))
            throw py::type_error("a, b, out: expected C-contiguous arrays of one float dtype");
          auto A = a.cast<Arr>();
          auto Bm = b.cast<Arr>();
          auto C = out.cast<Arr>();
          if (A.ndim() != 2 || Bm.ndim() != 2 || C.ndim() != 2 || Bm.shape(0) != A.shape(1) ||
              C.shape(0) != A.shape(0) || C.shape(1) != Bm.shape(1))
            throw py::value_error("a, b, out: expected shapes [M,K], [K,N], [M,N]");
          if (!C.writeable()) throw py::value_error("out: expected a writeable array");
          const int64_t M = A.shape(0), K = A.shape(1), N = Bm.shape(1);
          const T* pa = A.data();
          const T* pb = Bm.data();
          T* pc = C.mutable_data();
          py::gil_scoped_release release;
          rnnfast::matmul<T>(M, N, K, pa, K > 0 ? K : 1, pb, N > 0 ? N : 1, pc, N > 0 ? N : 1);
        };
        if (py::isinstance<py::array_t<double, py::array::c_style>>(a))
          run(double());
        else
          run(float());
      },
      py::arg("a"), py::arg("b"), py::arg("out"),
      "out = a @ b with rnnfast's own GEMM (float32 or float64, C-contiguous, 2-D)");
  m.def(
      "cached_bytes", [] { return BufferCache::instance().cached_bytes(); },
      "Bytes held by the cache of freed output buffers (at most 1 GiB)");
  m.def(
      "empty_cache", [] { BufferCache::instance().clear(); },
      "Free the cached buffers of freed outputs");
  m.def("set_num_threads", [](int n) { rnnfast::set_num_threads(n); }, py::arg("n"));
  m.def("get_num_threads", &rnnfast::get_num_threads);
  m.def("_reset_thread_backoff", &rnnfast::reset_thread_backoff,
        "Forget the contention seen so far (the benchmark suite, after other pools went idle)");
  m.def("has_openmp", &rnnfast::has_openmp);
  m.def("version", &rnnfast::version);
  m.def("isa", &rnnfast::isa, "The instruction set of the GEMM micro-kernels in use");
  m.def("available_isas", &rnnfast::available_isas, "Usable instruction sets, newest first");
  m.def(
      "set_isa", [](const std::string& name) { rnnfast::set_isa(name); }, py::arg("name"),
      "Switch the GEMM micro-kernels (ValueError if the CPU lacks that instruction set)");
  rnnfast::python::register_ops(m);
}
