"""Accuracy of the vectorized float32 sigmoid and tanh of every instruction set against libm
(evaluated in float64 by NumPy), read back from the gates an LSTM saves for backward.

An LSTM with W_hh = 0, no bias and W_ih = four stacked identities saves i = f = o = sigmoid(x)
and g = tanh(x) for every input value x (the reserve starts with the gates, [T, B, 4H]).
"""

import numpy as np
import pytest

import rnnfast
from rnnfast import functional as F

# Documented in docs/NUMERICS.md (measured: sigmoid 2.21 ulp, tanh 1.23 ulp, every ISA).
MAX_ULP = {"sigmoid": 3, "tanh": 2}
ISAS = rnnfast._core.available_isas()


def gates_of(values):
    """(sigmoid(values), tanh(values)) as the float32 kernels compute them, 256 units a row
    (the vectorized loop). Finite values only: the identity GEMM would turn 0 * inf into NaN."""
    H = 256
    n = values.size
    T = -(-n // H)
    x = np.zeros(T * H, np.float32)
    x[:n] = values
    x = x.reshape(T, 1, H)
    w_ih = np.tile(np.eye(H, dtype=np.float32), (4, 1))
    w_hh = np.zeros((4 * H, H), np.float32)
    _, _, _, res = F.forward("lstm", x, w_ih, w_hh)
    g = res[: T * 4 * H].reshape(T, 4, H)
    return g[:, 0].reshape(-1)[:n], g[:, 2].reshape(-1)[:n]


def ulp_error(got, exact):
    exact32 = exact.astype(np.float32)
    spacing = np.spacing(np.abs(exact32)).astype(np.float64)
    spacing = np.maximum(spacing, np.float64(np.finfo(np.float32).tiny))
    return np.abs(got.astype(np.float64) - exact) / spacing


@pytest.fixture(params=ISAS)
def isa(request):
    old = rnnfast._core.isa()
    rnnfast._core.set_isa(request.param)
    yield request.param
    rnnfast._core.set_isa(old)


def test_accuracy_against_libm(isa):
    rng = np.random.default_rng(0)
    xs = np.concatenate([np.linspace(-20, 20, 40_001), rng.standard_normal(20_000) * 4,
                         np.logspace(-8, 1.5, 5_000), -np.logspace(-8, 1.5, 5_000)])
    xs = xs.astype(np.float32)
    s, t = gates_of(xs)
    x64 = xs.astype(np.float64)
    exact_s = 1 / (1 + np.exp(-x64))
    exact_t = np.tanh(x64)
    # sigmoid below -87 is flushed to 0 (exact value < 1.7e-38): not in this range
    es, et = ulp_error(s, exact_s), ulp_error(t, exact_t)
    assert es.max() <= MAX_ULP["sigmoid"], (isa, es.max(), xs[es.argmax()])
    assert et.max() <= MAX_ULP["tanh"], (isa, et.max(), xs[et.argmax()])


def gates_one_per_row(values):
    """The same through one unit per batch row (I = H = 1), so infinities reach the gates."""
    n = values.size
    x = np.asarray(values, np.float32).reshape(1, n, 1)
    _, _, _, res = F.forward("lstm", x, np.ones((4, 1), np.float32), np.zeros((4, 1), np.float32))
    g = res[: n * 4].reshape(n, 4)
    return g[:, 0], g[:, 2]


def test_limits_are_exact(isa):
    xs = np.array([0.0, -0.0, 1e30, -1e30, np.inf, -np.inf, 88.0, -88.0, 100.0, -100.0, 9.5,
                   -9.5], np.float32)
    s, t = gates_one_per_row(xs)
    np.testing.assert_array_equal(s[:10], [0.5, 0.5, 1, 0, 1, 0, 1, 0, 1, 0])
    np.testing.assert_array_equal(t[:10], [0, 0, 1, -1, 1, -1, 1, -1, 1, -1])
    assert t[10] == 1.0 and t[11] == -1.0  # tanh(9.5) rounds to 1 in float32
    # and the same through the vectorized loop, for the finite ones
    sv, tv = gates_of(np.array([0.0, 1e30, -1e30, 88.0, -88.0, 100.0, -100.0] * 40, np.float32))
    np.testing.assert_array_equal(sv[:7], [0.5, 1, 0, 1, 0, 1, 0])
    np.testing.assert_array_equal(tv[:7], [0, 1, -1, 1, -1, 1, -1])


def test_nan_propagates(isa):
    s, t = gates_one_per_row(np.array([np.nan, 1.0], np.float32))
    assert np.isnan(s[0]) and np.isnan(t[0])
    assert np.isfinite(s[1]) and np.isfinite(t[1])
