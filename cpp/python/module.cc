// rnnfast._core: the thin pybind11 layer over the C++ API. It checks rank, shape and dtype
// at the boundary (ValueError / TypeError naming the argument), allocates outputs, releases
// the GIL around the kernel only, and returns tuples. No numerical code lives here.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <new>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "rnnfast/rnnfast.h"

namespace py = pybind11;
using rnnfast::Cell;
using rnnfast::Dims;

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
  if (!a.dtype().is(py::dtype::of<T>()))
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
    throw py::value_error(std::string(name) + ": expected shape " + expected_str(want) +
                          ", got " + shape_str(a));
}

// std::bad_alloc from the kernels' own work buffers: MemoryError naming the call and its sizes
// (pybind11 alone would say only "std::bad_alloc"). Called with the GIL held.
[[noreturn]] void no_memory(const char* fn, Cell cell, const Dims& d) {
  std::ostringstream os;
  os << fn << ": cannot allocate the work buffers of " << rnnfast::cell_name(cell) << " with T="
     << d.T << ", B=" << d.B << ", I=" << d.I << ", H=" << d.H << ", H_out=" << d.H_out
     << " (std::bad_alloc)";
  PyErr_SetString(PyExc_MemoryError, os.str().c_str());
  throw py::error_already_set();
}

Cell to_cell(int c) {
  if (c < 0 || c > 3)
    throw py::value_error("cell: expected 0 (rnn_tanh), 1 (rnn_relu), 2 (lstm) or 3 (gru), got " +
                          std::to_string(c));
  return static_cast<Cell>(c);
}

// Derives and checks dims from x and the weights.
template <typename T>
Dims dims_of(Cell cell, const py::array_t<T>& x, const py::array_t<T>& w_ih,
             const py::array_t<T>& w_hh, const Opt<T>& b_ih, const Opt<T>& b_hh,
             const Opt<T>& w_hr) {
  const int G = rnnfast::num_gates(cell);
  if (x.ndim() != 3)
    throw py::value_error("x: expected a 3-D array (T, B, I), got shape " + shape_str(x));
  if (w_ih.ndim() != 2)
    throw py::value_error("w_ih: expected a 2-D array (G*H, I), got shape " + shape_str(w_ih));
  if (w_hh.ndim() != 2)
    throw py::value_error("w_hh: expected a 2-D array (G*H, H_out), got shape " + shape_str(w_hh));
  Dims d;
  d.T = x.shape(0);
  d.B = x.shape(1);
  d.I = x.shape(2);
  if (w_ih.shape(0) % G != 0 || w_ih.shape(0) == 0)
    throw py::value_error("w_ih: expected " + std::to_string(G) +
                          "*H rows for this cell, got shape " + shape_str(w_ih));
  d.H = w_ih.shape(0) / G;
  check_shape("w_ih", w_ih, {G * d.H, d.I});
  d.H_out = w_hh.shape(1);
  check_shape("w_hh", w_hh, {G * d.H, d.H_out});
  if (b_ih) check_shape("b_ih", *b_ih, {G * d.H});
  if (b_hh) check_shape("b_hh", *b_hh, {G * d.H});
  if (b_ih.has_value() != b_hh.has_value())
    throw py::value_error(std::string("b_ih, b_hh: expected both biases or neither, got ") +
                          (b_ih ? "b_ih without b_hh" : "b_hh without b_ih"));
  if (w_hr) {
    if (cell != Cell::LSTM)
      throw py::value_error("w_hr: expected None (projection is LSTM only), got an array");
    if (d.H_out >= d.H)
      throw py::value_error("w_hh: expected shape " + expected_str({G * d.H, d.H_out}) +
                            " with H_out < H = " + std::to_string(d.H) +
                            " for a projection, got " + shape_str(w_hh));
    check_shape("w_hr", *w_hr, {d.H_out, d.H});
  } else if (d.H_out != d.H) {
    throw py::value_error("w_hh: expected shape " + expected_str({G * d.H, d.H}) +
                          " without a projection w_hr, got " + shape_str(w_hh));
  }
  return d;
}

std::optional<py::array_t<int64_t>> get_lengths(const py::object& o, int64_t B) {
  if (o.is_none()) return std::nullopt;
  if (!py::isinstance<py::array>(o))
    throw py::type_error("lengths: expected a numpy int64 array, got " +
                         std::string(py::str(o.get_type().attr("__name__"))));
  py::array a = py::reinterpret_borrow<py::array>(o);
  if (!a.dtype().is(py::dtype::of<int64_t>()))
    throw py::type_error("lengths: expected dtype int64, got " + std::string(py::str(a.dtype())));
  if (!(a.flags() & py::array::c_style))
    throw py::value_error("lengths: expected a C-contiguous array");
  check_shape("lengths", a, {B});
  return py::reinterpret_borrow<py::array_t<int64_t>>(a);
}

// x, the weights and the lengths of one layer call, checked; holds the arrays alive.
template <typename T>
struct Layer {
  py::array_t<T> x, w_ih, w_hh;
  Opt<T> b_ih, b_hh, w_hr;
  std::optional<py::array_t<int64_t>> lengths;
  Dims d;
  rnnfast::Weights<T> w;
  const int64_t* len = nullptr;

  Layer(Cell cell, const py::object& xo, const py::object& w_iho, const py::object& w_hho,
        const py::object& b_iho, const py::object& b_hho, const py::object& w_hro,
        const py::object& lengthso)
      : x(*get<T>("x", xo, true)),
        w_ih(*get<T>("w_ih", w_iho, true)),
        w_hh(*get<T>("w_hh", w_hho, true)),
        b_ih(get<T>("b_ih", b_iho, false)),
        b_hh(get<T>("b_hh", b_hho, false)),
        w_hr(get<T>("w_hr", w_hro, false)) {
    d = dims_of<T>(cell, x, w_ih, w_hh, b_ih, b_hh, w_hr);
    lengths = get_lengths(lengthso, d.B);
    len = lengths ? lengths->data() : nullptr;
    w.w_ih = w_ih.data();
    w.w_hh = w_hh.data();
    w.b_ih = b_ih ? b_ih->data() : nullptr;
    w.b_hh = b_hh ? b_hh->data() : nullptr;
    w.w_hr = w_hr ? w_hr->data() : nullptr;
  }
};

template <typename T>
py::tuple forward_t(Cell cell, const py::object& xo, const py::object& w_iho,
                    const py::object& w_hho, const py::object& b_iho, const py::object& b_hho,
                    const py::object& w_hro, const py::object& h0o, const py::object& c0o,
                    const py::object& lengthso, const py::object& h_masko, bool reverse,
                    bool training) {
  const Layer<T> L(cell, xo, w_iho, w_hho, b_iho, b_hho, w_hro, lengthso);
  const Dims& d = L.d;
  auto h0 = get<T>("h0", h0o, false);
  auto c0 = get<T>("c0", c0o, false);
  if (h0) check_shape("h0", *h0, {d.B, d.H_out});
  if (c0) {
    if (cell != Cell::LSTM)
      throw py::value_error("c0: expected None (a cell state is LSTM only), got an array");
    check_shape("c0", *c0, {d.B, d.H});
  }
  auto h_mask = get<T>("h_mask", h_masko, false);
  if (h_mask) check_shape("h_mask", *h_mask, {d.B, d.H_out});
  const T* hmp = h_mask ? h_mask->data() : nullptr;
  const int64_t rsize = training ? rnnfast::reserve_size(cell, d) : 0;

  py::array_t<T> y({d.T, d.B, d.H_out});
  py::array_t<T> h_n({d.B, d.H_out});
  py::object c_n_obj = py::none(), reserve_obj = py::none();
  T* c_n = nullptr;
  T* res = nullptr;
  if (cell == Cell::LSTM) {
    py::array_t<T> c_n_arr({d.B, d.H});
    c_n = c_n_arr.mutable_data();
    c_n_obj = c_n_arr;
  }
  if (training) {
    py::array_t<T> r(rsize);
    res = r.mutable_data();
    reserve_obj = r;
  }
  T* yp = y.mutable_data();
  T* hnp = h_n.mutable_data();
  const T* xp = L.x.data();
  const T* h0p = h0 ? h0->data() : nullptr;
  const T* c0p = c0 ? c0->data() : nullptr;
  try {
    py::gil_scoped_release nogil;
    rnnfast::forward<T>(cell, yp, hnp, c_n, res, xp, h0p, c0p, L.len, hmp, L.w, d, reverse);
  } catch (const std::bad_alloc&) {
    no_memory("forward", cell, d);
  }
  return py::make_tuple(y, h_n, c_n_obj, reserve_obj);
}

template <typename T>
py::tuple backward_t(Cell cell, const py::object& reserveo, const py::object& xo,
                     const py::object& w_iho, const py::object& w_hho, const py::object& b_iho,
                     const py::object& b_hho, const py::object& w_hro, const py::object& lengthso,
                     const py::object& h_masko, bool reverse, const py::object& dyo,
                     const py::object& dh_no, const py::object& dc_no) {
  const Layer<T> L(cell, xo, w_iho, w_hho, b_iho, b_hho, w_hro, lengthso);
  const Dims& d = L.d;
  const rnnfast::Weights<T>& w = L.w;
  auto reserve = *get<T>("reserve", reserveo, true);
  auto dy = get<T>("dy", dyo, false);
  auto dh_n = get<T>("dh_n", dh_no, false);
  auto dc_n = get<T>("dc_n", dc_no, false);
  const int64_t rsize = rnnfast::reserve_size(cell, d);
  check_shape("reserve", reserve, {rsize});
  if (dy) check_shape("dy", *dy, {d.T, d.B, d.H_out});
  if (dh_n) check_shape("dh_n", *dh_n, {d.B, d.H_out});
  if (dc_n) {
    if (cell != Cell::LSTM)
      throw py::value_error("dc_n: expected None (a cell state is LSTM only), got an array");
    check_shape("dc_n", *dc_n, {d.B, d.H});
  }
  auto h_mask = get<T>("h_mask", h_masko, false);
  if (h_mask) check_shape("h_mask", *h_mask, {d.B, d.H_out});
  const T* hmp = h_mask ? h_mask->data() : nullptr;
  const int64_t G = rnnfast::num_gates(cell);

  auto zeros = [](std::vector<py::ssize_t> shape) {
    py::array_t<T> a(shape);
    std::fill_n(a.mutable_data(), a.size(), T(0));
    return a;
  };
  py::array_t<T> dx({d.T, d.B, d.I});
  py::array_t<T> dh0({d.B, d.H_out});
  py::object dc0_obj = py::none(), db_ih_obj = py::none(), db_hh_obj = py::none(),
             dw_hr_obj = py::none();
  T* dc0 = nullptr;
  if (cell == Cell::LSTM) {
    py::array_t<T> a({d.B, d.H});
    dc0 = a.mutable_data();
    dc0_obj = a;
  }
  auto dw_ih = zeros({G * d.H, d.I});
  auto dw_hh = zeros({G * d.H, d.H_out});
  rnnfast::WeightGrads<T> g;
  g.dw_ih = dw_ih.mutable_data();
  g.dw_hh = dw_hh.mutable_data();
  if (w.b_ih) {
    auto a = zeros({G * d.H}), b = zeros({G * d.H});
    g.db_ih = a.mutable_data();
    g.db_hh = b.mutable_data();
    db_ih_obj = a;
    db_hh_obj = b;
  }
  if (w.w_hr) {
    auto a = zeros({d.H_out, d.H});
    g.dw_hr = a.mutable_data();
    dw_hr_obj = a;
  }
  T* dxp = dx.mutable_data();
  T* dh0p = dh0.mutable_data();
  const T* rp = reserve.data();
  const T* dyp = dy ? dy->data() : nullptr;
  const T* dhnp = dh_n ? dh_n->data() : nullptr;
  const T* dcnp = dc_n ? dc_n->data() : nullptr;
  const T* xp = L.x.data();
  try {
    py::gil_scoped_release nogil;
    rnnfast::backward<T>(cell, dxp, dh0p, dc0, g, rp, dyp, dhnp, dcnp, xp, L.len, hmp, w, d,
                         reverse);
  } catch (const std::bad_alloc&) {
    no_memory("backward", cell, d);
  }
  return py::make_tuple(dx, dh0, dc0_obj, dw_ih, dw_hh, db_ih_obj, db_hh_obj, dw_hr_obj);
}

bool is_float64(const py::object& w_ih) {
  if (!py::isinstance<py::array>(w_ih))
    throw py::type_error("w_ih: expected a numpy array, got " +
                         std::string(py::str(w_ih.get_type().attr("__name__"))));
  py::array a = py::reinterpret_borrow<py::array>(w_ih);
  if (a.dtype().is(py::dtype::of<double>())) return true;
  if (a.dtype().is(py::dtype::of<float>())) return false;
  throw py::type_error("w_ih: expected dtype float32 or float64, got " +
                       std::string(py::str(a.dtype())));
}

}  // namespace

PYBIND11_MODULE(_core, m) {
  m.doc() = "rnnfast C++ kernels (private: use the rnnfast package)";
  m.def(
      "forward",
      [](int cell, py::object x, py::object w_ih, py::object w_hh, py::object b_ih,
         py::object b_hh, py::object w_hr, py::object h0, py::object c0, py::object lengths,
         py::object h_mask, bool reverse, bool training) {
        const Cell c = to_cell(cell);
        if (is_float64(w_ih))
          return forward_t<double>(c, x, w_ih, w_hh, b_ih, b_hh, w_hr, h0, c0, lengths, h_mask,
                                   reverse, training);
        return forward_t<float>(c, x, w_ih, w_hh, b_ih, b_hh, w_hr, h0, c0, lengths, h_mask,
                                reverse, training);
      },
      py::arg("cell"), py::arg("x"), py::arg("w_ih"), py::arg("w_hh"), py::arg("b_ih"),
      py::arg("b_hh"), py::arg("w_hr"), py::arg("h0"), py::arg("c0"), py::arg("lengths"),
      py::arg("h_mask"), py::arg("reverse"), py::arg("training"),
      "One layer, one direction -> (y, h_n, c_n or None, reserve or None)");
  m.def(
      "backward",
      [](int cell, py::object reserve, py::object x, py::object w_ih, py::object w_hh,
         py::object b_ih, py::object b_hh, py::object w_hr, py::object lengths,
         py::object h_mask, bool reverse, py::object dy, py::object dh_n, py::object dc_n) {
        const Cell c = to_cell(cell);
        if (is_float64(w_ih))
          return backward_t<double>(c, reserve, x, w_ih, w_hh, b_ih, b_hh, w_hr, lengths,
                                    h_mask, reverse, dy, dh_n, dc_n);
        return backward_t<float>(c, reserve, x, w_ih, w_hh, b_ih, b_hh, w_hr, lengths, h_mask,
                                 reverse, dy, dh_n, dc_n);
      },
      py::arg("cell"), py::arg("reserve"), py::arg("x"), py::arg("w_ih"), py::arg("w_hh"),
      py::arg("b_ih"), py::arg("b_hh"), py::arg("w_hr"), py::arg("lengths"), py::arg("h_mask"),
      py::arg("reverse"),
      py::arg("dy"), py::arg("dh_n"), py::arg("dc_n"),
      "BPTT -> (dx, dh0, dc0 or None, dw_ih, dw_hh, db_ih, db_hh, dw_hr)");
  m.def(
      "set_num_threads", [](int n) { rnnfast::set_num_threads(n); }, py::arg("n"));
  m.def("get_num_threads", &rnnfast::get_num_threads);
  m.def("has_openmp", &rnnfast::has_openmp);
  m.def("version", &rnnfast::version);
  m.def("isa", &rnnfast::isa, "The instruction set of the GEMM micro-kernels in use");
  m.def("available_isas", &rnnfast::available_isas, "Usable instruction sets, newest first");
  m.def(
      "set_isa", [](const std::string& name) { rnnfast::set_isa(name); }, py::arg("name"),
      "Switch the GEMM micro-kernels (ValueError if the CPU lacks that instruction set)");
}
