"""The NumPy reference's IndRNN cells ("indrnn_relu", "indrnn_tanh") against oracles that share
no code with it:

- a literal per-unit transcription of h_t = act(W_ih x_t + b_ih + u * h'_{t-1}) in plain
  Python floats, with lengths, the reverse direction, h0 and the recurrent dropout mask;
- an exact identity with the reference's vanilla RNN: IndRNN is an RNN whose W_hh is diag(u)
  and whose b_hh is zero;
- float64 central finite differences for every gradient of ``backward`` (x, h0, w_ih, w_hh,
  b_ih), with lengths, reverse and h_mask;

and the reference's refusals of IndRNN arguments that do not fit (a matrix w_hh, a b_hh, a
projection, a cell state).
"""

import itertools
import math

import numpy as np
import pytest

from rnnfast import reference

from _problems import FD_TOL, reference_fd_grad

MODES = ("indrnn_relu", "indrnn_tanh")
LENGTHS = (2, 5, 3)  # unsorted, ragged, one full sequence (T = 5)
INPUT_OF_GRAD = {"dx": "x", "dh0": "h0", "w_ih": "w_ih", "w_hh": "w_hh", "b_ih": "b_ih"}


def _problem(T, B, I, H, bias=True, h0=True, lengths=None, h_mask=False, seed=0):
    """Keyword arguments of ``reference.forward(mode, **p)`` in float64: u ~ U(-1, 1) (large
    enough that the recurrence matters over a few steps), the rest as torch's RNN."""
    rng = np.random.default_rng(seed)
    k = 1 / np.sqrt(H)
    return {
        "x": rng.standard_normal((T, B, I)),
        "w_ih": rng.uniform(-k, k, (H, I)),
        "w_hh": rng.uniform(-1, 1, H),
        "b_ih": rng.uniform(-k, k, H) if bias else None,
        "h0": 0.5 * rng.standard_normal((B, H)) if h0 else None,
        "lengths": None if lengths is None else np.asarray(lengths, dtype=np.int64),
        "h_mask": (rng.random((B, H)) > 0.4) / 0.6 if h_mask else None,
    }


def _literal(mode, p, reverse):
    """y, h_n of IndRNN by the formula, one unit of one sequence at a time, in Python floats."""
    x, w, u = p["x"], p["w_ih"], p["w_hh"]
    T, B, I = x.shape
    H = u.shape[0]
    act = (lambda a: max(a, 0.0)) if mode == "indrnn_relu" else math.tanh
    y = np.zeros((T, B, H))
    h_n = np.zeros((B, H))
    for b in range(B):
        n = T if p["lengths"] is None else int(p["lengths"][b])
        steps = range(n - 1, -1, -1) if reverse else range(n)
        for j in range(H):
            h = 0.0 if p["h0"] is None else float(p["h0"][b, j])
            m = 1.0 if p["h_mask"] is None else float(p["h_mask"][b, j])
            for t in steps:
                a = sum(float(w[j, i]) * float(x[t, b, i]) for i in range(I))
                if p["b_ih"] is not None:
                    a += float(p["b_ih"][j])
                h = act(a + float(u[j]) * (h * m))
                y[t, b, j] = h
            h_n[b, j] = h
    return y, h_n


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("bias,h0,lengths,h_mask,reverse",
                         list(itertools.product([True, False], repeat=5)))
def test_forward_is_the_formula(mode, bias, h0, lengths, h_mask, reverse):
    p = _problem(5, 3, 4, 6, bias=bias, h0=h0, lengths=LENGTHS if lengths else None,
                 h_mask=h_mask, seed=1)
    y, h_n, c_n, _ = reference.forward(mode, **p, reverse=reverse)
    y_want, h_want = _literal(mode, p, reverse)
    assert c_n is None
    np.testing.assert_allclose(y, y_want, rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(h_n, h_want, rtol=1e-13, atol=1e-13)


@pytest.mark.parametrize("mode", MODES)
def test_an_rnn_with_a_diagonal_w_hh(mode):
    """IndRNN with u is the vanilla RNN with W_hh = diag(u) and b_hh = 0: the same outputs and
    gradients (W_hh's diagonal is u's gradient)."""
    p = _problem(5, 3, 4, 6, lengths=LENGTHS, h_mask=True, seed=2)
    rnn = "rnn_relu" if mode == "indrnn_relu" else "rnn_tanh"
    q = dict(p, w_hh=np.diag(p["w_hh"]), b_hh=np.zeros(6))
    rng = np.random.default_rng(3)
    dy, dh_n = rng.standard_normal((5, 3, 6)), rng.standard_normal((3, 6))
    for reverse in (False, True):
        y, h_n, _, cache = reference.forward(mode, **p, reverse=reverse)
        y2, h2, _, cache2 = reference.forward(rnn, **q, reverse=reverse)
        np.testing.assert_allclose(y, y2, rtol=1e-14, atol=1e-14)
        np.testing.assert_allclose(h_n, h2, rtol=1e-14, atol=1e-14)
        g = reference.backward(cache, dy, dh_n)
        g2 = reference.backward(cache2, dy, dh_n)
        for k in ("dx", "dh0", "w_ih", "b_ih"):
            np.testing.assert_allclose(g[k], g2[k], rtol=1e-13, atol=1e-13, err_msg=k)
        np.testing.assert_allclose(g["w_hh"], np.diag(g2["w_hh"]), rtol=1e-13, atol=1e-13)
        assert g["w_hh"].shape == (6,) and g["b_hh"] is None and g["dc0"] is None


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("lengths,reverse,h_mask",
                         [(None, False, False), (LENGTHS, False, True), (LENGTHS, True, False),
                          (LENGTHS, True, True), (None, True, True)])
def test_backward_matches_finite_differences(mode, lengths, reverse, h_mask):
    p = _problem(5, 3, 4, 6, lengths=lengths, h_mask=h_mask, seed=4)
    rng = np.random.default_rng(5)
    cot = (rng.standard_normal((5, 3, 6)), rng.standard_normal((3, 6)), None)
    _, _, _, cache = reference.forward(mode, **p, reverse=reverse)
    g = reference.backward(cache, cot[0], cot[1])
    for key, name in INPUT_OF_GRAD.items():
        fd = reference_fd_grad(mode, p, name, cot, reverse)
        np.testing.assert_allclose(g[key], fd, err_msg=key, **FD_TOL)
    assert g["b_hh"] is None and g["dc0"] is None and g["w_hr"] is None


def test_relu_gradient_is_zero_where_the_unit_is_off():
    """A unit whose pre-activation is negative passes no gradient (relu'(a) = 0 there, as
    torch's threshold_backward), so neither its input nor u gets any."""
    p = _problem(1, 1, 2, 2, bias=True, h0=True, seed=6)
    p["w_ih"] = np.array([[1.0, 0.0], [-1.0, 0.0]])
    p["x"] = np.array([[[2.0, 0.0]]])
    p["b_ih"] = np.zeros(2)
    p["h0"] = np.zeros((1, 2))
    y, _, _, cache = reference.forward("indrnn_relu", **p)
    assert y[0, 0, 0] == 2.0 and y[0, 0, 1] == 0.0
    g = reference.backward(cache, np.ones((1, 1, 2)))
    assert g["b_ih"][1] == 0.0 and g["b_ih"][0] == 1.0 and not g["w_ih"][1].any()


def test_refusals_name_the_argument():
    p = _problem(3, 2, 4, 5)
    x, w_ih, u = p["x"], p["w_ih"], p["w_hh"]
    with pytest.raises(ValueError, match=r"w_hh: expected 1 dimensions \(5,\), got shape \(5, 5\)"):
        reference.forward("indrnn_relu", x, w_ih, np.diag(u))
    with pytest.raises(ValueError, match=r"w_hh: expected shape \(5,\), got \(4,\)"):
        reference.forward("indrnn_relu", x, w_ih, u[:4])
    with pytest.raises(ValueError, match="b_hh: expected None for mode 'indrnn_tanh'"):
        reference.forward("indrnn_tanh", x, w_ih, u, p["b_ih"], p["b_ih"])
    with pytest.raises(ValueError, match=r"b_ih: expected shape \(5,\), got \(4,\)"):
        reference.forward("indrnn_tanh", x, w_ih, u, p["b_ih"][:4])
    with pytest.raises(ValueError, match="w_hr: expected None for mode 'indrnn_relu'"):
        reference.forward("indrnn_relu", x, w_ih, u, w_hr=np.zeros((3, 5)))
    with pytest.raises(ValueError, match="c0: expected None for mode 'indrnn_relu'"):
        reference.forward("indrnn_relu", x, w_ih, u, c0=np.zeros((2, 5)))
    with pytest.raises(ValueError, match="w_p: expected None for mode 'indrnn_relu'"):
        reference.forward("indrnn_relu", x, w_ih, u, w_p=np.zeros(15))
    with pytest.raises(ValueError, match=r"h_mask: expected shape \(2, 5\)"):
        reference.forward("indrnn_relu", x, w_ih, u, h_mask=np.ones((2, 4)))
    _, _, _, cache = reference.forward("indrnn_relu", x, w_ih, u)
    with pytest.raises(ValueError, match="dc_n: expected None for mode 'indrnn_relu'"):
        reference.backward(cache, dc_n=np.zeros((2, 5)))
