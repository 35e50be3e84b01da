"""Bad arguments raise clear Python exceptions naming the argument; nothing crashes.

Checked both through rnnfast.functional and directly against the binding (which validates on
its own, as does the C++ API beneath it: the lengths check below is the C++ one).
"""

import pickle

import numpy as np
import pytest

import rnnfast
from rnnfast import _core, functional as F

from _problems import make_problem


def _p(mode="lstm", T=4, B=3, I=5, H=6, proj=0, dtype=np.float32):
    return make_problem(mode, T, B, I, H, proj=proj, dtype=dtype, seed=0)


def _fwd(p, mode="lstm", **kw):
    args = dict(w_ih=p["w_ih"], w_hh=p["w_hh"], b_ih=p["b_ih"], b_hh=p["b_hh"], w_hr=p["w_hr"],
                h0=p["h0"], c0=p["c0"])
    args.update(kw)
    x = args.pop("x", p["x"])
    return F.forward(mode, x, **args)


@pytest.mark.parametrize("change, exc, words", [
    (dict(x=np.zeros((4, 3))), ValueError, ["x", "3-D", "(4, 3)"]),
    (dict(x=np.zeros((4, 3, 7), np.float32)), ValueError, ["w_ih", "(24, 7)", "(24, 5)"]),
    (dict(w_ih=np.zeros((23, 5), np.float32)), ValueError, ["w_ih", "4*H", "(23, 5)"]),
    (dict(w_hh=np.zeros((24, 5), np.float32)), ValueError, ["w_hh", "(24, 6)", "(24, 5)"]),
    (dict(b_ih=np.zeros(23, np.float32)), ValueError, ["b_ih", "(24,)", "(23,)"]),
    (dict(b_hh=None), ValueError, ["b_ih", "b_hh", "both"]),
    (dict(h0=np.zeros((2, 6), np.float32)), ValueError, ["h0", "(3, 6)", "(2, 6)"]),
    (dict(c0=np.zeros((3, 7), np.float32)), ValueError, ["c0", "(3, 6)", "(3, 7)"]),
    (dict(lengths=[4, 0, 2]), ValueError, ["lengths", "[1, T=4]", "lengths[1] = 0"]),
    (dict(lengths=[4, 5, 2]), ValueError, ["lengths", "[1, T=4]", "= 5"]),
    (dict(lengths=[-3, 1, 2]), ValueError, ["lengths", "= -3"]),
    (dict(lengths=[4, 2]), ValueError, ["lengths", "(3,)", "(2,)"]),
    (dict(lengths=[4.0, 2.0, 1.0]), TypeError, ["lengths", "integers", "float64"]),
    (dict(x=np.array([["a"]], dtype=object)), TypeError, ["x", "numeric", "object"]),
    (dict(x=np.zeros((0, 3, 5), np.float32)), ValueError, ["T", ">= 1", "0"]),
    (dict(x=np.zeros((4, 0, 5), np.float32), h0=None, c0=None), ValueError, ["B", ">= 1", "0"]),
    (dict(w_hr=np.zeros((3, 6), np.float32)), ValueError, ["w_hh", "H_out < H"]),
])
def test_forward_bad_arguments(change, exc, words):
    p = _p()
    with pytest.raises(exc) as e:
        _fwd(p, **change)
    msg = str(e.value)
    for w in words:
        assert w in msg, (w, msg)


def test_unknown_mode():
    p = _p()
    with pytest.raises(ValueError, match="mode: expected one of"):
        F.forward("lstmm", p["x"], p["w_ih"], p["w_hh"])


def test_integer_weights_rejected():
    p = _p()
    with pytest.raises(TypeError, match="w_ih: expected a float32 or float64"):
        F.forward("lstm", p["x"], p["w_ih"].astype(np.int32), p["w_hh"])


def test_state_for_non_lstm_rejected():
    p = _p("gru")
    with pytest.raises(ValueError, match="c0: expected None"):
        F.forward("gru", p["x"], p["w_ih"], p["w_hh"], c0=np.zeros((3, 6), np.float32))
    with pytest.raises(ValueError, match="w_hr: expected None"):
        F.forward("gru", p["x"], p["w_ih"], p["w_hh"][:, :4], w_hr=np.zeros((4, 6), np.float32))


def test_projection_shape_checked():
    p = _p(proj=3)
    with pytest.raises(ValueError, match=r"w_hr: expected shape \(3, 6\), got \(3, 5\)"):
        _fwd(p, w_hr=np.zeros((3, 5), np.float32))
    with pytest.raises(ValueError, match="w_hh: expected shape"):
        _fwd(p, w_hr=None)


def test_backward_bad_arguments():
    p = _p()
    y, h_n, c_n, res = _fwd(p)
    w = dict(w_ih=p["w_ih"], w_hh=p["w_hh"], b_ih=p["b_ih"], b_hh=p["b_hh"])
    with pytest.raises(ValueError, match=r"reserve: expected shape \(\d+,\), got \(10,\)"):
        F.backward("lstm", res[:10], p["x"], **w, y=y)
    with pytest.raises(ValueError, match="reserve: expected the reserve"):
        F.backward("lstm", None, p["x"], **w, y=y)
    with pytest.raises(ValueError, match=r"dy: expected shape \(4, 3, 6\), got \(4, 3, 5\)"):
        F.backward("lstm", res, p["x"], **w, y=y, dy=np.zeros((4, 3, 5)))
    with pytest.raises(ValueError, match=r"dh_n: expected shape \(3, 6\)"):
        F.backward("lstm", res, p["x"], **w, y=y, dh_n=np.zeros((6,)))
    with pytest.raises(ValueError, match="lengths"):
        F.backward("lstm", res, p["x"], **w, y=y, lengths=[1, 2, 9])
    with pytest.raises(ValueError, match="y: expected the output y"):
        F.backward("lstm", res, p["x"], **w, y=None)
    with pytest.raises(ValueError, match=r"y: expected shape \(4, 3, 6\), got \(4, 3, 5\)"):
        F.backward("lstm", res, p["x"], **w, y=y[..., :5])
    # The y of another forward (here: another h0) is caught by its last step, before anything
    # is computed; the right y still works afterwards.
    y_other = F.forward("lstm", p["x"], **w, h0=np.ones((3, 6), np.float32))[0]
    with pytest.raises(ValueError, match=r"y: expected the output y of the forward call that "
                                         r"wrote the reserve.*\(sequence 0\)"):
        F.backward("lstm", res, p["x"], **w, y=y_other)
    changed = y.copy()
    changed[-1, 2, 0] += 1
    with pytest.raises(ValueError, match=r"h_n \(sequence 2\)"):
        F.backward("lstm", res, p["x"], **w, y=changed)
    assert np.isfinite(F.backward("lstm", res, p["x"], **w, y=y)["w_hh"]).all()


def test_binding_checks_its_own_arguments():
    p = _p(dtype=np.float32)
    good = dict(cell=_core.Cell.LSTM, x=p["x"], w_ih=p["w_ih"], w_hh=p["w_hh"], b_ih=None,
                b_hh=None, w_hr=None, h0=None, c0=None, lengths=None, h_mask=None,
                reverse=False, training=False)
    _core.forward(**good)
    with pytest.raises(TypeError, match="cell: expected an rnnfast._core.Cell, got int"):
        _core.forward(**dict(good, cell=2))
    with pytest.raises(ValueError, match="extras: expected 0 extra parameter"):
        _core.forward(**dict(good, extras=(p["w_ih"][0],)))
    with pytest.raises(ValueError, match=r"extras\[0\]: expected shape \(18,\), got \(5,\)"):
        _core.forward(**dict(good, cell=_core.Cell.LSTM_PEEPHOLE, extras=(p["w_ih"][0],)))
    with pytest.raises(ValueError, match="extras: expected 1 extra parameter"):
        _core.forward(**dict(good, cell=_core.Cell.LSTM_PEEPHOLE))
    one = {k: v for k, v in good.items() if k != "cell"}
    with pytest.raises(TypeError, match="forward_pair: unexpected argument 'reversed'"):
        _core.forward_pair(_core.Cell.LSTM, dict(one, reversed=True), one)
    with pytest.raises(TypeError, match="forward_pair: expected a dict of arguments per call"):
        _core.forward_pair(_core.Cell.LSTM, tuple(one.values()), one)
    with pytest.raises(TypeError, match="x: expected dtype float32"):
        _core.forward(**dict(good, x=p["x"].astype(np.float64)))
    with pytest.raises(ValueError, match="x: expected a C-contiguous"):
        _core.forward(**dict(good, x=np.asfortranarray(p["x"])))
    with pytest.raises(TypeError, match="x: expected a numpy array, got list"):
        _core.forward(**dict(good, x=p["x"].tolist()))
    with pytest.raises(TypeError, match="lengths: expected dtype int64"):
        _core.forward(**dict(good, lengths=np.array([1, 2, 3], np.int32)))
    with pytest.raises(TypeError, match="w_ih: expected dtype float32 or float64"):
        _core.forward(**dict(good, w_ih=p["w_ih"].astype(np.float16)))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_arrays_that_went_through_pickle_are_accepted(dtype):
    """An unpickled array's dtype is a different (equal) dtype object: the bindings compare
    dtypes by equality, so every argument may come from pickle (multiprocessing, DataLoader
    workers) and the results are those of the fresh arrays."""
    p = _p(mode="lstm", proj=4, dtype=dtype)
    unpickle = lambda a: pickle.loads(pickle.dumps(a))          # noqa: E731
    assert unpickle(p["x"]).dtype is not p["x"].dtype
    args = dict(cell=_core.Cell.LSTM, x=p["x"], w_ih=p["w_ih"], w_hh=p["w_hh"], b_ih=p["b_ih"],
                b_hh=p["b_hh"], w_hr=p["w_hr"], h0=p["h0"], c0=p["c0"],
                lengths=np.array([4, 2, 3], np.int64), h_mask=None, reverse=False,
                training=True)
    fresh = _core.forward(**args)
    pickled = _core.forward(**{k: unpickle(v) if isinstance(v, np.ndarray) else v
                               for k, v in args.items()})
    for a, b in zip(fresh, pickled):
        np.testing.assert_array_equal(a, b)
    y, h_n, c_n, reserve = fresh
    bargs = dict(cell=_core.Cell.LSTM, reserve=reserve, x=p["x"], w_ih=p["w_ih"], w_hh=p["w_hh"],
                 b_ih=p["b_ih"], b_hh=p["b_hh"], w_hr=p["w_hr"], lengths=args["lengths"],
                 h_mask=None, reverse=False, dy=np.ones_like(y), dh_n=np.ones_like(h_n),
                 dc_n=np.ones_like(c_n), y=y)
    fresh_b = _core.backward(**bargs)
    pickled_b = _core.backward(**{k: unpickle(v) if isinstance(v, np.ndarray) else v
                                  for k, v in bargs.items()})
    for a, b in zip(fresh_b, pickled_b):
        np.testing.assert_array_equal(a, b)
    a, b = unpickle(np.ones((3, 4), dtype)), unpickle(np.ones((4, 2), dtype))
    out = unpickle(np.empty((3, 2), dtype))
    _core.matmul(a, b, out)
    np.testing.assert_array_equal(out, np.full((3, 2), 4.0))
    # And through a module whose parameters and input went through pickle.
    rnnfast.manual_seed(0)
    lstm = rnnfast.nn.LSTM(5, 6, dtype=dtype)
    ref = lstm(rnnfast.tensor(p["x"]))[0].numpy()
    for w in lstm.parameters():
        w.data = unpickle(w.data)
    np.testing.assert_array_equal(lstm(unpickle(p["x"]))[0].numpy(), ref)


def test_non_contiguous_inputs_give_correct_results():
    """functional copies strided, Fortran-ordered and read-only arrays into kernel layout."""
    p = _p(dtype=np.float64)
    ref = _fwd(p)[0]
    big = np.zeros((4, 3, 10))
    big[:, :, ::2] = p["x"]
    strided = big[:, :, ::2]
    assert not strided.flags.c_contiguous
    np.testing.assert_array_equal(_fwd(p, x=strided)[0], ref)
    np.testing.assert_array_equal(_fwd(p, x=np.asfortranarray(p["x"]))[0], ref)
    np.testing.assert_array_equal(_fwd(p, x=p["x"][::-1][::-1])[0], ref)
    ro = p["x"].copy()
    ro.setflags(write=False)
    np.testing.assert_array_equal(_fwd(p, x=ro)[0], ref)


def test_set_num_threads_validates():
    with pytest.raises(ValueError, match="n: expected a thread count >= 1, got 0"):
        rnnfast.set_num_threads(0)
    with pytest.raises(TypeError, match="n: expected an int"):
        rnnfast.set_num_threads(1.5)
    assert rnnfast.get_num_threads() >= 1


def test_still_works_after_errors():
    p = _p()
    for _ in range(3):
        with pytest.raises(ValueError):
            _fwd(p, lengths=[9, 9, 9])
    y = _fwd(p)[0]
    assert np.isfinite(y).all()
