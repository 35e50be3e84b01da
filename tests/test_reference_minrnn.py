"""The NumPy reference's scan cells, "mingru" and "minlstm" (Feng et al. 2024, "Were RNNs All We
Needed?", sequential mode), against oracles that share no code with it:

- a literal per-unit transcription of the papers' formulas in plain Python floats (math.exp),
  step by step, with packed-sequence lengths and the reverse direction;
- float64 central finite differences of every gradient of ``backward`` (x, h0, w_ih, b_ih),
  with lengths and in reverse;

and the reference's refusals of what these cells do not take (w_hh, b_hh, h_mask, w_hr, c0,
w_p, dc_n) and of misshapen weights, each naming the argument.
"""

import itertools
import math

import numpy as np
import pytest

from rnnfast import reference

from _problems import FD_TOL, reference_fd_grad

MODES = ("mingru", "minlstm")
GATES = {"mingru": 2, "minlstm": 3}
LENGTHS = (2, 5, 3)  # unsorted, ragged, one full sequence (T = 5)


def _problem(mode, T, B, I, H, bias=True, h0=True, lengths=None, seed=0):
    """Keyword arguments of ``reference.forward(mode, **p)``, in float64; the weights larger
    than torch's init so that the gates spread over (0, 1)."""
    rng = np.random.default_rng(seed)
    G = GATES[mode]
    return {
        "x": rng.standard_normal((T, B, I)),
        "w_ih": rng.uniform(-1, 1, (G * H, I)),
        "b_ih": rng.uniform(-1, 1, G * H) if bias else None,
        "h0": rng.standard_normal((B, H)) if h0 else None,
        "lengths": None if lengths is None else np.asarray(lengths, dtype=np.int64),
    }


def _sigmoid(v):
    return 1.0 / (1.0 + math.exp(-v))


def _literal(mode, p, reverse):
    """The cell's formulas one unit at a time in Python floats: (y [T][B][H], h_n [B][H])."""
    x, w, b = p["x"], p["w_ih"], p["b_ih"]
    T, B, I = x.shape
    G = GATES[mode]
    H = w.shape[0] // G
    y = [[[0.0] * H for _ in range(B)] for _ in range(T)]
    h_n = []
    for s in range(B):
        n = T if p["lengths"] is None else int(p["lengths"][s])
        h = [0.0] * H if p["h0"] is None else [float(v) for v in p["h0"][s]]
        for t in (range(n - 1, -1, -1) if reverse else range(n)):
            def pre(g, k, t=t, s=s):  # W_i<g> x_t + b_i<g>, unit k
                acc = 0.0 if b is None else float(b[g * H + k])
                for i in range(I):
                    acc += float(w[g * H + k, i]) * float(x[t, s, i])
                return acc
            new = []
            for k in range(H):
                if mode == "mingru":
                    z, cand = _sigmoid(pre(0, k)), pre(1, k)
                    new.append((1 - z) * h[k] + z * cand)
                else:
                    f, i_, cand = _sigmoid(pre(0, k)), _sigmoid(pre(1, k)), pre(2, k)
                    new.append(f / (f + i_) * h[k] + i_ / (f + i_) * cand)
            h = new
            y[t][s] = list(h)
        h_n.append(h)
    return np.array(y), np.array(h_n)


@pytest.mark.parametrize("mode,reverse,lengths,bias,h0", list(itertools.product(
    MODES, (False, True), (None, LENGTHS), (True, False), (True, False))))
def test_forward_matches_the_formulas_unit_by_unit(mode, reverse, lengths, bias, h0):
    p = _problem(mode, 5, 3, 4, 6, bias=bias, h0=h0, lengths=lengths)
    y, h_n, c_n, _ = reference.forward(mode, **p, reverse=reverse)
    y_lit, h_lit = _literal(mode, p, reverse)
    np.testing.assert_allclose(y, y_lit, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(h_n, h_lit, rtol=1e-12, atol=1e-12)
    assert c_n is None


def test_the_cells_are_a_linear_scan_with_a_between_0_and_1():
    """h_t = a_t h_{t-1} + b_t: doubling h0's deviation doubles every output's, by a factor
    prod(a) in (0, 1) per unit; minGRU and minLSTM of equal gate weights differ (f/(f+i) is
    not 1 - z)."""
    for mode in MODES:
        p = _problem(mode, 6, 2, 3, 4, seed=3)
        y0, *_ = reference.forward(mode, **{**p, "h0": None})
        y1, *_ = reference.forward(mode, **p)
        y2, *_ = reference.forward(mode, **{**p, "h0": 2 * p["h0"]})
        np.testing.assert_allclose(y2 - y0, 2 * (y1 - y0), rtol=1e-12, atol=1e-12)
        ratio = (y1[-1] - y0[-1]) / p["h0"]  # prod over t of a_t
        assert np.all(ratio > 0) and np.all(ratio < 1)


@pytest.mark.parametrize("mode,reverse,lengths,bias", list(itertools.product(
    MODES, (False, True), (None, LENGTHS), (True, False))))
def test_backward_matches_central_differences(mode, reverse, lengths, bias):
    T, B, I, H = 5, 3, 2, 3
    p = _problem(mode, T, B, I, H, bias=bias, lengths=lengths, seed=1)
    rng = np.random.default_rng(2)
    cot = (rng.standard_normal((T, B, H)), rng.standard_normal((B, H)), None)
    _, _, _, cache = reference.forward(mode, **p, reverse=reverse)
    g = reference.backward(cache, dy=cot[0], dh_n=cot[1])
    assert g["w_hh"] is None and g["b_hh"] is None and g["dc0"] is None
    assert g["w_hr"] is None and g["w_p"] is None
    assert (g["b_ih"] is None) == (not bias)
    for key, arg in (("dx", "x"), ("dh0", "h0"), ("w_ih", "w_ih"), ("b_ih", "b_ih")):
        if p[arg] is None:
            continue
        want = reference_fd_grad(mode, p, arg, cot, reverse)
        np.testing.assert_allclose(g[key], want, err_msg=key, **FD_TOL)
    if lengths is not None:  # dy past a sequence's end is ignored: dx is zero there
        for b, n in enumerate(lengths):
            assert not g["dx"][n:, b].any()


def test_backward_without_cotangents_is_zero():
    p = _problem("minlstm", 4, 2, 3, 5)
    _, _, _, cache = reference.forward("minlstm", **p)
    g = reference.backward(cache)
    for k in ("dx", "dh0", "w_ih", "b_ih"):
        assert not g[k].any(), k


@pytest.mark.parametrize("mode", MODES)
def test_refusals_name_the_argument(mode):
    p = _problem(mode, 4, 2, 3, 5)
    G, H = GATES[mode], 5
    extra = {"w_hh": np.zeros((G * H, H)), "b_hh": np.zeros(G * H), "h_mask": np.ones((2, H)),
             "w_hr": np.zeros((3, H)), "c0": np.zeros((2, H)), "w_p": np.zeros(3 * H)}
    for name, arr in extra.items():
        with pytest.raises(ValueError, match=rf"^{name}: expected None for mode '{mode}'"):
            reference.forward(mode, **p, **{name: arr})
    with pytest.raises(ValueError, match=rf"w_ih: expected shape \({G}\*H, 3\)"):
        reference.forward(mode, **{**p, "w_ih": np.zeros((G * H + 1, 3)), "b_ih": None,
                                   "h0": None})
    with pytest.raises(ValueError, match=r"b_ih: expected shape"):
        reference.forward(mode, **{**p, "b_ih": np.zeros(G * H + 1)})
    with pytest.raises(ValueError, match=r"h0: expected shape \(2, 5\)"):
        reference.forward(mode, **{**p, "h0": np.zeros((2, 4))})
    with pytest.raises(ValueError, match=r"lengths: expected integers in \[1, 4\]"):
        reference.forward(mode, **{**p, "lengths": np.array([0, 4])})
    with pytest.raises(TypeError, match="x: expected numeric data"):
        reference.forward(mode, **{**p, "x": np.full((4, 2, 3), "a")})
    _, _, _, cache = reference.forward(mode, **p)
    with pytest.raises(ValueError, match=rf"dc_n: expected None for mode '{mode}'"):
        reference.backward(cache, dc_n=np.zeros((2, H)))
    with pytest.raises(ValueError, match=r"dy: expected shape \(4, 2, 5\)"):
        reference.backward(cache, dy=np.zeros((4, 2, 4)))
