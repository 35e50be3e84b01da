"""The NumPy reference of the layer-normalized LSTM and GRU ("layernorm_lstm",
"layernorm_gru") against its oracles.

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

MODES = ("layernorm_lstm", "layernorm_gru")
EXTRAS = ("gamma_x", "gamma_h", "gamma_c", "beta_c")
MINE = {"layernorm_lstm": EXTRAS, "layernorm_gru": EXTRAS[:2]}


def _problem(mode, T=3, B=3, I=3, H=3, bias=True, lengths=None, mask=False, seed=0):
    p = make_problem(mode, T, B, I, H, bias=bias, seed=seed, lengths=lengths)
    rng = np.random.default_rng(seed + 100)
    # gains around 1 and shifts around 0, as after initialization and some training
    for name in MINE[mode]:
        if name.startswith("gamma"):
            p[name] = 1 + 0.5 * rng.standard_normal(p[name].shape)
        else:
            p[name] = 0.3 * rng.standard_normal(H)
    if mask:
        p["h_mask"] = (rng.random((B, H)) > 0.3) / 0.7
    return p


@pytest.mark.parametrize("bias,lengths,reverse,mask", [
    (True, None, False, False),
    (False, None, True, False),
    (True, [3, 1, 2], False, True),
    (True, [2, 3, 1], True, True),
])
@pytest.mark.parametrize("mode", MODES)
def test_gradients_match_finite_differences(mode, bias, lengths, reverse, mask):
    p = _problem(mode, bias=bias, lengths=lengths, mask=mask)
    cot = make_cotangents(mode, 3, 3, 3)
    _, _, _, cache = R.forward(mode, **p, reverse=reverse)
    g = R.backward(cache, *cot)
    lstm = mode == "layernorm_lstm"
    names = ["x", "h0", *(["c0"] if lstm else []), "w_ih", "w_hh", *MINE[mode]]
    names += ["b_ih", "b_hh"] if bias else []
    key = {"x": "dx", "h0": "dh0", "c0": "dc0"}
    for name in names:
        fd = reference_fd_grad(mode, p, name, cot, reverse)
        assert np.any(fd != 0), name
        np.testing.assert_allclose(g[key.get(name, name)], fd, **FD_TOL, err_msg=name)
    if not bias:
        assert g["b_ih"] is None and g["b_hh"] is None
    assert g["w_p"] is None and g["w_hr"] is None
    assert set(g) - {"dx", "dh0", "dc0", "w_ih", "w_hh", "b_ih", "b_hh", "w_hr", "w_p"} == set(
        MINE[mode])
    assert (g["dc0"] is None) != lstm


def _ln_row(v):
    n = len(v)
    mean = sum(v) / n
    var = sum((a - mean) ** 2 for a in v) / n
    return [(a - mean) / math.sqrt(var + 1e-5) for a in v]


def _scalar_forward(mode, p, T, B, H, reverse):
    """The formulas of rnnfast.h's legend, one number at a time."""
    G = 4 if mode == "layernorm_lstm" else 3
    x, w_ih, w_hh = p["x"], p["w_ih"], p["w_hh"]
    h = [list(p["h0"][i]) for i in range(B)]
    c = [list(p["c0"][i]) for i in range(B)] if G == 4 else None
    y = np.zeros((T, B, H))
    sig = lambda a: 1 / (1 + math.exp(-a))  # noqa: E731
    for s in range(T):
        t = T - 1 - s if reverse else s
        for i in range(B):
            px = [sum(w_ih[r, k] * x[t, i, k] for k in range(x.shape[2])) for r in range(G * H)]
            ph = [sum(w_hh[r, k] * h[i][k] for k in range(H)) for r in range(G * H)]
            nx, nh = _ln_row(px), _ln_row(ph)
            u = [nx[r] * p["gamma_x"][r] + p["b_ih"][r] for r in range(G * H)]
            v = [nh[r] * p["gamma_h"][r] + p["b_hh"][r] for r in range(G * H)]
            if G == 4:
                a = [u[r] + v[r] for r in range(4 * H)]
                cn = [sig(a[H + k]) * c[i][k] + sig(a[k]) * math.tanh(a[2 * H + k])
                      for k in range(H)]
                ln = _ln_row(cn)
                h[i] = [sig(a[3 * H + k]) * math.tanh(ln[k] * p["gamma_c"][k] + p["beta_c"][k])
                        for k in range(H)]
                c[i] = cn
            else:
                new = []
                for k in range(H):
                    r = sig(u[k] + v[k])
                    z = sig(u[H + k] + v[H + k])
                    n = math.tanh(u[2 * H + k] + r * v[2 * H + k])
                    new.append((1 - z) * n + z * h[i][k])
                h[i] = new
            y[t, i] = h[i]
    return y, np.array(h), None if c is None else np.array(c)


@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("mode", MODES)
def test_forward_matches_the_formula_unit_by_unit(mode, reverse):
    T, B, H = 3, 2, 4
    p = _problem(mode, T=T, B=B, I=3, H=H, seed=4)
    y, h_n, c_n, _ = R.forward(mode, **p, reverse=reverse)
    y_s, h_s, c_s = _scalar_forward(mode, p, T, B, H, reverse)
    np.testing.assert_allclose(y, y_s, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(h_n, h_s, rtol=1e-12, atol=1e-12)
    assert (c_n is None) == (c_s is None)
    if c_n is not None:
        np.testing.assert_allclose(c_n, c_s, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("mode", MODES)
def test_normalization_makes_the_input_scale_irrelevant(mode):
    """LN(W_ih x) does not change when x is scaled (once the variance dwarfs eps), nor
    LN(W_hh h) when W_hh is: a property the plain LSTM lacks, checked without restating the
    formula."""
    p = _problem(mode, T=4, B=2, I=3, H=5, seed=2)
    for name in ("x", "w_hh"):
        y, _, _, _ = R.forward(mode, **{**p, name: 1e3 * p[name]})
        y2, _, _, _ = R.forward(mode, **{**p, name: 1e4 * p[name]})
        np.testing.assert_allclose(y, y2, rtol=0, atol=1e-8)
        plain = mode.replace("layernorm_", "")
        y3, _, _, _ = R.forward(plain, **{k: v for k, v in p.items() if k not in EXTRAS})
        assert np.abs(y3 - y).max() > 1e-3  # not the plain cell


@pytest.mark.parametrize("mode,name,value,match", [
    *[(m, n, None, f"{n}: expected an array of shape") for m in MODES for n in MINE[m]],
    *[(m, n, np.ones(5), f"{n}: expected shape") for m in MODES for n in MINE[m]],
    *[("layernorm_gru", n, np.ones(3), f"{n}: expected None") for n in EXTRAS[2:]],
    ("layernorm_lstm", "w_hr", np.ones((2, 3)), "w_hr: expected None"),
    ("layernorm_gru", "w_hr", np.ones((2, 3)), "w_hr: expected None"),
    ("layernorm_lstm", "w_p", np.ones(9), "w_p: expected None"),
])
def test_refuses_bad_parameters(mode, name, value, match):
    p = _problem(mode)
    p[name] = value
    with pytest.raises(ValueError, match=match):
        R.forward(mode, **p)


@pytest.mark.parametrize("mode,name", list(itertools.product(["lstm", "gru"], EXTRAS)))
def test_normalization_parameters_are_refused_by_other_cells(mode, name):
    p = make_problem(mode, 2, 2, 3, 3)
    with pytest.raises(ValueError, match=f"{name}: expected None"):
        R.forward(mode, **p, **{name: np.ones(12)})
