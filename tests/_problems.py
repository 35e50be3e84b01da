"""Shared test helpers: named tolerances and random problems for one recurrent layer.

Imported by every test file that compares an implementation with ``rnnfast.reference``
(conftest.py puts this directory on sys.path). Tolerances live here, by name, and are never
loosened inside a test.
"""

from __future__ import annotations

import numpy as np

from rnnfast import reference
from rnnfast._cells import CELLS, GATES, arg_name  # noqa: F401 (the tests' name for it)

# Implementation vs reference (or vs torch), per computation dtype.
TOL = {
    np.float64: dict(rtol=1e-10, atol=1e-10),
    np.float32: dict(rtol=1e-5, atol=1e-5),
}

# Central finite differences in float64: step, and the tolerance of analytic vs numeric gradient.
# Truncation error ~ FD_EPS**2, round-off ~ 1e-16 / FD_EPS, on losses of order 1.
FD_EPS = 1e-6
FD_TOL = dict(rtol=1e-6, atol=1e-8)

# The names of backward's outputs, in a fixed order.
GRAD_KEYS = ("dx", "dh0", "dc0", "w_ih", "w_hh", "b_ih", "b_hh", "w_hr", "w_p")


def grad_keys(mode):
    """The reference's backward keys for ``mode``: GRAD_KEYS, then the cell's other extra
    parameters (layernorm_lstm's gamma_x, gamma_h, gamma_c, beta_c; layernorm_gru's gamma_x,
    gamma_h)."""
    return GRAD_KEYS + tuple(k for k in (arg_name(n) for n, _ in CELLS[mode].extras)
                             if k not in GRAD_KEYS)


def tol(dtype):
    """The TOL entry for a dtype given as a type, a np.dtype or a string."""
    return TOL[np.dtype(dtype).type]


def make_problem(mode, T, B, I, H, proj=0, bias=True, dtype=np.float64, seed=0, with_h0=True,
                 lengths=None):
    """Random inputs for one layer, as keyword arguments of ``forward(mode, **problem)``.

    Keys: x [T,B,I] ~ N(0,1); w_ih [G*H,I], w_hh [G*H,H_out], b_ih, b_hh [G*H] (None without
    bias), w_hr [H_out,H] (None unless proj > 0, LSTMs only), all ~ U(-1/sqrt(H), 1/sqrt(H));
    a diagonal recurrence (IndRNN) has w_hh [H] ~ U(-1, 1) instead, and b_hh None;
    h0 [B,H_out] and c0 [B,H] (LSTMs only) ~ N(0, 0.5^2), None without with_h0; lengths as an
    int64 array, or None. H_out = proj or H. A cell with extra parameters also gets them by
    their functional names (lstm_peephole: w_p [3*H], ~ U(-1/sqrt(H), 1/sqrt(H)) as well).
    The scan cells (mingru, minlstm) get w_hh = b_hh = None (the same draws otherwise).
    """
    has_c = CELLS[mode].has_c
    if proj and not has_c:
        raise ValueError(f"proj: expected 0 for mode {mode!r}, got {proj}")
    rng = np.random.default_rng(seed)
    G = GATES[mode]
    H_out = proj or H
    k = 1 / np.sqrt(H)

    def u(*shape):
        return rng.uniform(-k, k, size=shape).astype(dtype)

    diagonal = CELLS[mode].recurrence == "diagonal"
    p = {
        "x": rng.standard_normal((T, B, I)).astype(dtype),
        "w_ih": u(G * H, I),
        "w_hh": (rng.uniform(-1, 1, size=H).astype(dtype) if diagonal else u(G * H, H_out)),
        "b_ih": u(G * H) if bias else None,
        "b_hh": u(G * H) if bias and not diagonal else None,
        "w_hr": u(H_out, H) if proj else None,
        "h0": None,
        "c0": None,
        "lengths": None if lengths is None else np.asarray(lengths, dtype=np.int64),
    }
    if with_h0:
        p["h0"] = (0.5 * rng.standard_normal((B, H_out))).astype(dtype)
        if has_c:
            p["c0"] = (0.5 * rng.standard_normal((B, H))).astype(dtype)
    for name, blocks in CELLS[mode].extras:  # drawn last: the other arrays stay as they were
        p[arg_name(name)] = u(blocks * H)
    if CELLS[mode].recurrence == "scan":  # mingru, minlstm: no recurrent weight, one bias
        p["w_hh"] = p["b_hh"] = None
    return p


def make_cotangents(mode, T, B, H, proj=0, dtype=np.float64, seed=1):
    """Random loss weights (dy [T,B,H_out], dh_n [B,H_out], dc_n [B,H] or None): the gradients
    of L = sum(y*dy) + sum(h_n*dh_n) + sum(c_n*dc_n)."""
    rng = np.random.default_rng(seed)
    H_out = proj or H
    dy = rng.standard_normal((T, B, H_out)).astype(dtype)
    dh_n = rng.standard_normal((B, H_out)).astype(dtype)
    dc_n = rng.standard_normal((B, H)).astype(dtype) if CELLS[mode].has_c else None
    return dy, dh_n, dc_n


def assert_close(actual, expected, dtype, name=""):
    """Scale-aware comparison: max|a - e| <= atol + rtol * max(1, max|e|), per array.

    Float32 kernels accumulate rounding over sums of T*B terms, so elementwise relative error
    is meaningless for entries near zero; the error is measured against the array's scale.
    """
    t = tol(dtype)
    a = np.asarray(actual, dtype=np.float64)
    e = np.asarray(expected, dtype=np.float64)
    assert a.shape == e.shape, f"{name}: shape {a.shape} != {e.shape}"
    scale = max(1.0, float(np.max(np.abs(e)))) if e.size else 1.0
    err = float(np.max(np.abs(a - e))) if e.size else 0.0
    assert np.isfinite(a).all() == np.isfinite(e).all(), f"{name}: non-finite values differ"
    assert err <= t["atol"] + t["rtol"] * scale, (
        f"{name}: max abs error {err:.3e} > {t['atol']:.0e} + {t['rtol']:.0e} * scale {scale:.3g}")


def reference_loss(mode, p, cot, reverse):
    """L = sum(y*dy) + sum(h_n*dh_n) (+ sum(c_n*dc_n)) of ``reference.forward(mode, **p)``,
    so that reference.backward(dy, dh_n, dc_n) is dL; cot = (dy, dh_n, dc_n)."""
    dy, dh_n, dc_n = cot
    y, h_n, c_n, _ = reference.forward(mode, **p, reverse=reverse)
    L = np.sum(y * dy) + np.sum(h_n * dh_n)
    if c_n is not None:
        L += np.sum(c_n * dc_n)
    return L


def reference_fd_grad(mode, p, name, cot, reverse, points=2):
    """Central differences (FD_EPS) of reference_loss wrt every element of p[name]: the
    2-point stencil, or with points=4 the 4-point one (truncation error ~ FD_EPS**4), for
    where the loss curves sharply (layer normalization of a row of zeros: h0 = 0)."""
    base = p[name]
    grad = np.zeros_like(base)

    def at(idx, step):
        moved = base.copy()
        moved[idx] += step
        return reference_loss(mode, {**p, name: moved}, cot, reverse)

    for idx in np.ndindex(base.shape):
        if points == 4:
            grad[idx] = (8 * (at(idx, FD_EPS) - at(idx, -FD_EPS))
                         - (at(idx, 2 * FD_EPS) - at(idx, -2 * FD_EPS))) / (12 * FD_EPS)
        else:
            grad[idx] = (at(idx, FD_EPS) - at(idx, -FD_EPS)) / (2 * FD_EPS)
    return grad


def assert_module_fd(checks, loss, samples=6):
    """Each (name, array, grad) of ``checks``: ``grad`` (the analytic gradient) against central
    differences (FD_EPS) of ``loss()`` -- a float computed from the arrays as they are, the
    arrays being the module's parameters' data and its inputs' -- at ``samples`` elements
    drawn per array (seeded by its name), changed in place and restored."""
    for name, arr, grad in checks:
        flat = arr.reshape(-1)
        idx = np.random.default_rng(len(name)).choice(flat.size, size=min(samples, flat.size),
                                                      replace=False)
        for i in idx:
            old = flat[i]
            vals = []
            for s in (1, -1):
                flat[i] = old + s * FD_EPS
                vals.append(loss())
            flat[i] = old
            fd = (vals[0] - vals[1]) / (2 * FD_EPS)
            np.testing.assert_allclose(grad.reshape(-1)[i], fd, err_msg=f"{name}[{i}]", **FD_TOL)
