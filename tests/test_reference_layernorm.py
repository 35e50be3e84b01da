"""The NumPy reference of the layer-normalized LSTM ("layernorm_lstm") against its oracles.

- float64 central finite differences of a scalar loss for every input, weight, bias and extra
  parameter (the gains and the shift), with lengths, reverse and a recurrent dropout mask;
- its forward against the formula written out unit by unit, row by row (statistics by plain
  Python sums), so that the vectorized reference cannot share a mistake with itself;
- what it refuses (missing, misshapen or misplaced normalization parameters, a projection).
"""

import itertools
import math

import numpy as np
import pytest

from rnnfast import reference as R

from _problems import FD_TOL, make_cotangents, make_problem, reference_fd_grad

MODE = "layernorm_lstm"
EXTRAS = ("gamma_x", "gamma_h", "gamma_c", "beta_c")


def _problem(T=3, B=3, I=3, H=3, bias=True, lengths=None, mask=False, seed=0):
    p = make_problem(MODE, T, B, I, H, bias=bias, seed=seed, lengths=lengths)
    rng = np.random.default_rng(seed + 100)
    # gains around 1 and shifts around 0, as after initialization and some training
    for name in ("gamma_x", "gamma_h", "gamma_c"):
        p[name] = 1 + 0.5 * rng.standard_normal(p[name].shape)
    p["beta_c"] = 0.3 * rng.standard_normal(H)
    if mask:
        p["h_mask"] = (rng.random((B, H)) > 0.3) / 0.7
    return p


@pytest.mark.parametrize("bias,lengths,reverse,mask", [
    (True, None, False, False),
    (False, None, True, False),
    (True, [3, 1, 2], False, True),
    (True, [2, 3, 1], True, True),
])
def test_gradients_match_finite_differences(bias, lengths, reverse, mask):
    p = _problem(bias=bias, lengths=lengths, mask=mask)
    cot = make_cotangents(MODE, 3, 3, 3)
    _, _, _, cache = R.forward(MODE, **p, reverse=reverse)
    g = R.backward(cache, *cot)
    names = ["x", "h0", "c0", "w_ih", "w_hh", *EXTRAS] + (["b_ih", "b_hh"] if bias else [])
    key = {"x": "dx", "h0": "dh0", "c0": "dc0"}
    for name in names:
        fd = reference_fd_grad(MODE, p, name, cot, reverse)
        np.testing.assert_allclose(g[key.get(name, name)], fd, **FD_TOL, err_msg=name)
    if not bias:
        assert g["b_ih"] is None and g["b_hh"] is None
    assert g["w_p"] is None and g["w_hr"] is None


def _ln_row(v):
    n = len(v)
    mean = sum(v) / n
    var = sum((a - mean) ** 2 for a in v) / n
    return [(a - mean) / math.sqrt(var + 1e-5) for a in v]


def _scalar_forward(p, T, B, H, reverse):
    """The formula of rnnfast.h's legend, one number at a time."""
    x, w_ih, w_hh = p["x"], p["w_ih"], p["w_hh"]
    b = [p["b_ih"][k] + p["b_hh"][k] for k in range(4 * H)]
    h = [list(p["h0"][i]) for i in range(B)]
    c = [list(p["c0"][i]) for i in range(B)]
    y = np.zeros((T, B, H))
    sig = lambda a: 1 / (1 + math.exp(-a))  # noqa: E731
    for s in range(T):
        t = T - 1 - s if reverse else s
        for i in range(B):
            px = [sum(w_ih[r, k] * x[t, i, k] for k in range(x.shape[2])) for r in range(4 * H)]
            ph = [sum(w_hh[r, k] * h[i][k] for k in range(H)) for r in range(4 * H)]
            nx, nh = _ln_row(px), _ln_row(ph)
            a = [nx[r] * p["gamma_x"][r] + nh[r] * p["gamma_h"][r] + b[r] for r in range(4 * H)]
            cn = [sig(a[H + u]) * c[i][u] + sig(a[u]) * math.tanh(a[2 * H + u]) for u in range(H)]
            ln = _ln_row(cn)
            h[i] = [sig(a[3 * H + u]) * math.tanh(ln[u] * p["gamma_c"][u] + p["beta_c"][u])
                    for u in range(H)]
            c[i] = cn
            y[t, i] = h[i]
    return y, np.array(h), np.array(c)


@pytest.mark.parametrize("reverse", [False, True])
def test_forward_matches_the_formula_unit_by_unit(reverse):
    T, B, H = 3, 2, 4
    p = _problem(T=T, B=B, I=3, H=H, seed=4)
    y, h_n, c_n, _ = R.forward(MODE, **p, reverse=reverse)
    y_s, h_s, c_s = _scalar_forward(p, T, B, H, reverse)
    np.testing.assert_allclose(y, y_s, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(h_n, h_s, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(c_n, c_s, rtol=1e-12, atol=1e-12)


def test_normalization_makes_the_input_scale_irrelevant():
    """LN(W_ih x) does not change when x is scaled (once the variance dwarfs eps), nor
    LN(W_hh h) when W_hh is: a property the plain LSTM lacks, checked without restating the
    formula."""
    p = _problem(T=4, B=2, I=3, H=5, seed=2)
    for name in ("x", "w_hh"):
        y, _, _, _ = R.forward(MODE, **{**p, name: 1e3 * p[name]})
        y2, _, _, _ = R.forward(MODE, **{**p, name: 1e4 * p[name]})
        np.testing.assert_allclose(y, y2, rtol=0, atol=1e-8)
        y3, _, _, _ = R.forward("lstm", **{k: v for k, v in p.items() if k not in EXTRAS})
        assert np.abs(y3 - y).max() > 1e-3  # not the plain LSTM


@pytest.mark.parametrize("name,value,match", [
    *[(n, None, f"{n}: expected an array of shape") for n in EXTRAS],
    *[(n, np.ones(5), f"{n}: expected shape") for n in EXTRAS],
    ("w_hr", np.ones((2, 3)), "w_hr: expected None"),
    ("w_p", np.ones(9), "w_p: expected None"),
])
def test_refuses_bad_parameters(name, value, match):
    p = _problem()
    p[name] = value
    with pytest.raises(ValueError, match=match):
        R.forward(MODE, **p)


@pytest.mark.parametrize("mode,name", list(itertools.product(["lstm", "gru"], EXTRAS)))
def test_normalization_parameters_are_refused_by_other_cells(mode, name):
    p = make_problem(mode, 2, 2, 3, 3)
    with pytest.raises(ValueError, match=f"{name}: expected None"):
        R.forward(mode, **p, **{name: np.ones(12)})
