"""The C++ ops (rnnfast/ops.h through rnnfast._core, and rnnfast.nn / rnnfast.optim on them):
Linear, Embedding, cross entropy (class indices and probabilities), BCE with logits, MSE and the
optimizer steps, against NumPy oracles in float64 and against torch -- values and gradients,
float32 and float64, odd sizes, every instruction set, thread counts 1 and 2 bitwise equal,
empty batches as torch handles them, and clear errors for bad arguments."""

from __future__ import annotations

import numpy as np
import pytest

import rnnfast
from rnnfast import _core, nn, optim

from _problems import tol

DTYPES = [np.float32, np.float64]
ISAS = _core.available_isas()


@pytest.fixture(params=ISAS)
def isa(request):
    old = _core.isa()
    _core.set_isa(request.param)
    yield request.param
    _core.set_isa(old)


def _with_threads(n, fn):
    old = rnnfast.get_num_threads()
    rnnfast.set_num_threads(n)
    try:
        return fn()
    finally:
        rnnfast.set_num_threads(old)


def _bitwise_across_threads(fn):
    """fn() at 1 and at 2 threads: every returned array bitwise equal."""
    a, b = _with_threads(1, fn), _with_threads(2, fn)
    for x, y in zip(a, b):
        if x is None:
            assert y is None
            continue
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


def _close(actual, expected, dtype):
    """actual (computed in dtype) against a float64 oracle, relative to the oracle's scale."""
    expected = np.asarray(expected, dtype=np.float64)
    scale = max(1.0, float(np.abs(expected).max())) if expected.size else 1.0
    t = tol(dtype)
    np.testing.assert_allclose(np.asarray(actual, dtype=np.float64), expected, rtol=t["rtol"],
                               atol=t["atol"] * scale)


def _rng(seed=0):
    return np.random.default_rng(seed)


# ---------------------------------------------------------------------------------- Linear


LINEAR_SIZES = [(1, 1, 1), (7, 17, 33), (33, 7, 1), (5, 64, 130), (130, 33, 7)]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("M,K,N", LINEAR_SIZES)
@pytest.mark.parametrize("bias", [True, False])
def test_linear_kernel_matches_numpy(isa, dtype, M, K, N, bias):
    rng = _rng(M * 100 + K)
    x, w = rng.standard_normal((M, K)), rng.standard_normal((N, K))
    b = rng.standard_normal(N) if bias else None
    dy = rng.standard_normal((M, N))
    c = lambda a: None if a is None else a.astype(dtype)  # noqa: E731
    y = _core.linear_forward(c(x), c(w), c(b))
    assert y.dtype == dtype and y.shape == (M, N)
    _close(y, x @ w.T + (0 if b is None else b), dtype)
    dx, dw, db = _core.linear_backward(c(dy), c(x), c(w), True, True, bias)
    _close(dx, dy @ w, dtype)
    _close(dw, dy.T @ x, dtype)
    if bias:
        _close(db, dy.sum(axis=0), dtype)
    else:
        assert db is None
    only_db = _core.linear_backward(c(dy), c(x), c(w), False, False, True)
    assert only_db[0] is None and only_db[1] is None
    if bias:
        np.testing.assert_array_equal(only_db[2], db)   # the same sums, in the same order


@pytest.mark.parametrize("dtype", DTYPES)
def test_linear_module_matches_torch(dtype):
    torch = pytest.importorskip("torch")
    rng = _rng(1)
    lin = nn.Linear(17, 33, dtype=dtype)
    tl = torch.nn.Linear(17, 33).to(torch.float64 if dtype == np.float64 else torch.float32)
    with torch.no_grad():
        tl.weight.copy_(torch.from_numpy(lin.weight.data))
        tl.bias.copy_(torch.from_numpy(lin.bias.data))
    x = rng.standard_normal((2, 3, 17)).astype(dtype)      # leading dims flatten into rows
    g = rng.standard_normal((2, 3, 33)).astype(dtype)
    xo, xt = rnnfast.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    yo, yt = lin(xo), tl(xt)
    assert yo.dtype == dtype and yo.shape == tuple(yt.shape)
    _close(yo.data, yt.detach().numpy(), dtype)
    yo.backward(g)
    yt.backward(torch.from_numpy(g))
    _close(xo.grad, xt.grad.numpy(), dtype)
    _close(lin.weight.grad, tl.weight.grad.numpy(), dtype)
    _close(lin.bias.grad, tl.bias.grad.numpy(), dtype)


def test_linear_empty_batch_as_torch():
    lin = nn.Linear(4, 3, dtype=np.float64)
    x = rnnfast.tensor(np.zeros((0, 4)), requires_grad=True)
    y = lin(x)
    assert y.shape == (0, 3)
    y.sum().backward()
    assert x.grad.shape == (0, 4)
    np.testing.assert_array_equal(lin.weight.grad, np.zeros((3, 4)))
    np.testing.assert_array_equal(lin.bias.grad, np.zeros(3))


def test_linear_is_bitwise_equal_at_1_and_2_threads():
    rng = _rng(2)
    x = rng.standard_normal((300, 65)).astype(np.float32)
    w = rng.standard_normal((201, 65)).astype(np.float32)
    b = rng.standard_normal(201).astype(np.float32)
    dy = rng.standard_normal((300, 201)).astype(np.float32)
    _bitwise_across_threads(lambda: (_core.linear_forward(x, w, b),)
                            + tuple(_core.linear_backward(dy, x, w, True, True, True)))


def test_linear_kernel_rejects_bad_arguments():
    x, w = np.zeros((3, 4), np.float32), np.zeros((5, 4), np.float32)
    with pytest.raises(ValueError, match=r"weight: expected in_features .*= 4"):
        _core.linear_forward(x, np.zeros((5, 3), np.float32), None)
    with pytest.raises(ValueError, match=r"bias: expected out_features .*= 5"):
        _core.linear_forward(x, w, np.zeros(4, np.float32))
    with pytest.raises(TypeError, match=r"weight: expected dtype float32 .*got float64"):
        _core.linear_forward(x, w.astype(np.float64), None)
    with pytest.raises(TypeError, match=r"input: expected dtype float32 or float64, got int64"):
        _core.linear_forward(x.astype(np.int64), w, None)
    with pytest.raises(ValueError, match="input: expected a C-contiguous array"):
        _core.linear_forward(np.zeros((4, 3), np.float32).T, w, None)
    with pytest.raises(ValueError, match=r"input: expected 2 dims, got shape \(3,\)"):
        _core.linear_forward(np.zeros(3, np.float32), w, None)
    with pytest.raises(ValueError, match=r"input: expected rows \(dy's rows\) = 2"):
        _core.linear_backward(np.zeros((2, 5), np.float32), x, w, True, True, True)


def test_linear_mixed_dtypes_keep_numpy_promotion():
    lin = nn.Linear(3, 2)                                  # float32 parameters
    x = rnnfast.tensor(np.ones((4, 3)), requires_grad=True)   # a float64 Tensor keeps its dtype
    y = nn.functional.linear(x, lin.weight, lin.bias)
    assert y.dtype == np.float64
    np.testing.assert_allclose(y.data, np.ones((4, 3)) @ lin.weight.data.T.astype(np.float64)
                               + lin.bias.data, rtol=1e-6)
    y.sum().backward()
    assert x.grad.dtype == np.float64 and lin.weight.grad.dtype == np.float32


# ------------------------------------------------------------------------------- Embedding


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n,V,D", [(1, 1, 1), (7, 3, 17), (33, 100, 7), (200, 13, 33)])
@pytest.mark.parametrize("padding_idx", [-1, 2])
def test_embedding_kernel_is_numpy_add_at_bitwise(dtype, n, V, D, padding_idx):
    rng = _rng(n + V + D)
    w = rng.standard_normal((V, D)).astype(dtype)
    idx = rng.integers(0, V, n)
    dy = rng.standard_normal((n, D)).astype(dtype)
    np.testing.assert_array_equal(_core.embedding_forward(idx, w), w[idx])
    pad = padding_idx if padding_idx < V else -1
    expect = np.zeros((V, D), dtype)
    keep = idx != pad
    np.add.at(expect, idx[keep], dy[keep])       # repeated rows add in order of the indices
    np.testing.assert_array_equal(_core.embedding_backward(dy, idx, V, pad), expect)


def test_embedding_backward_is_bitwise_equal_at_1_and_2_threads():
    rng = _rng(3)
    n, V, D = 20000, 500, 128          # enough work for a team (and many repeats per row)
    idx = rng.integers(0, V, n)
    idx[::7] = 3                        # one row with many contributions
    dy = rng.standard_normal((n, D)).astype(np.float32)
    _bitwise_across_threads(lambda: (_core.embedding_backward(dy, idx, V, 5),))
    expect = np.zeros((V, D), np.float32)
    keep = idx != 5
    np.add.at(expect, idx[keep], dy[keep])
    np.testing.assert_array_equal(_with_threads(2, lambda: _core.embedding_backward(dy, idx, V,
                                                                                    5)), expect)


@pytest.mark.parametrize("padding_idx", [None, 0, -2])
def test_embedding_module_matches_torch(padding_idx):
    torch = pytest.importorskip("torch")
    rng = _rng(4)
    ours = nn.Embedding(33, 7, padding_idx=padding_idx, dtype=np.float64)
    theirs = torch.nn.Embedding(33, 7, padding_idx=padding_idx).double()
    with torch.no_grad():
        theirs.weight.copy_(torch.from_numpy(ours.weight.data))
    idx = rng.integers(0, 33, (5, 17))
    idx[0, :3] = ours.padding_idx if padding_idx is not None else 1
    g = rng.standard_normal((5, 17, 7))
    yo, yt = ours(idx), theirs(torch.from_numpy(idx))
    np.testing.assert_array_equal(yo.data, yt.detach().numpy())
    yo.backward(g)
    yt.backward(torch.from_numpy(g))
    np.testing.assert_allclose(ours.weight.grad, theirs.weight.grad.numpy(), **tol(np.float64))


def test_embedding_kernel_errors():
    w = np.zeros((5, 3), np.float32)
    for bad in (5, -1, 99):
        with pytest.raises(IndexError, match=rf"indices: index {bad} is out of range for 5 "
                                             r"embeddings \(valid indices: 0 to 4\)"):
            _core.embedding_forward(np.array([0, bad, 1]), w)
        with pytest.raises(IndexError, match=rf"index {bad} is out of range"):
            _core.embedding_backward(np.zeros((3, 3), np.float32), np.array([0, bad, 1]), 5, -1)
    with pytest.raises(TypeError, match="indices: expected dtype int64, got int32"):
        _core.embedding_forward(np.array([0, 1], np.int32), w)
    with pytest.raises(ValueError, match=r"padding_idx: expected -1 \(none\) or an index in "
                                         r"\[0, 5\), got 5"):
        _core.embedding_backward(np.zeros((1, 3), np.float32), np.array([0]), 5, 5)
    with pytest.raises(ValueError, match="indices: expected one index per row of dy = 2"):
        _core.embedding_backward(np.zeros((2, 3), np.float32), np.array([0]), 5, -1)


def test_embedding_empty_indices():
    emb = nn.Embedding(4, 3)
    y = emb(np.zeros((0, 2), np.int64))
    assert y.shape == (0, 2, 3)
    y.sum().backward()
    np.testing.assert_array_equal(emb.weight.grad, np.zeros((4, 3), np.float32))


# ------------------------------------------------------------------------- cross entropy


def _ce_oracle(x, t, w, ignore, eps, reduction):
    """Class-index cross entropy in float64 over (R, C): per-row loss and d(sum of the
    reduced loss)/dx, from the textbook formulas (torch's weighting)."""
    x = x.astype(np.float64)
    R, C = x.shape
    w = np.ones(C) if w is None else w.astype(np.float64)
    z = x - x.max(axis=1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    valid = t != ignore
    tc = np.where(valid, t, 0)
    wy = w[tc] * valid
    loss = -(1 - eps) * wy * logp[np.arange(R), tc] - eps / C * valid * (logp * w).sum(axis=1)
    denom = wy.sum()
    p = np.exp(logp)
    d = p * ((1 - eps) * wy + eps / C * w.sum() * valid)[:, None] - eps / C * valid[:, None] * w
    d[np.arange(R), tc] -= (1 - eps) * wy
    if reduction == "none":
        return loss, d
    if reduction == "sum":
        return loss.sum(), d
    return loss.sum() / denom, d / denom


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("R,C", [(1, 1), (7, 17), (33, 7), (5, 1000)])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("weighted,eps", [(False, 0.0), (True, 0.0), (True, 0.15)])
def test_cross_entropy_kernel_matches_oracle(isa, dtype, R, C, reduction, weighted, eps):
    rng = _rng(R * C)
    x = (rng.standard_normal((R, C)) * 3).astype(dtype)
    t = rng.integers(0, C, R)
    if R > 1:
        t[1] = -100
    w = rng.uniform(0.2, 2.0, C).astype(dtype) if weighted else None
    loss, lse = _core.cross_entropy_forward(x.reshape(R, C, 1), t.reshape(R, 1), w, -100, eps,
                                            reduction)
    want, dwant = _ce_oracle(x, t, w, -100, eps, reduction)
    assert loss.dtype == dtype
    _close(loss, want, dtype)
    g = (rng.standard_normal(R) if reduction == "none" else np.array(1.7)).astype(dtype)
    d = _core.cross_entropy_backward(g, lse, x.reshape(R, C, 1), t.reshape(R, 1), w, -100, eps,
                                     reduction)
    coef = g[:, None] if reduction == "none" else g
    _close(d.reshape(R, C), dwant * coef, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(3, 33, 2, 7), (2, 5, 17), (1, 3, 9)])
@pytest.mark.parametrize("reduction", ["mean", "none"])
def test_cross_entropy_trailing_dims_match_torch(dtype, shape, reduction):
    torch = pytest.importorskip("torch")
    rng = _rng(5)
    x = rng.standard_normal(shape).astype(dtype)
    C = shape[1]
    t = rng.integers(0, C, shape[:1] + shape[2:])
    t.flat[1] = 3 if C > 3 else 0
    w = rng.uniform(0.5, 1.5, C).astype(dtype)
    ours = nn.CrossEntropyLoss(weight=w, ignore_index=3, label_smoothing=0.1,
                               reduction=reduction)
    theirs = torch.nn.CrossEntropyLoss(weight=torch.from_numpy(w), ignore_index=3,
                                       label_smoothing=0.1, reduction=reduction)
    xo, xt = rnnfast.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    lo, lt = ours(xo, t), theirs(xt, torch.from_numpy(t))
    assert lo.shape == tuple(lt.shape) and lo.dtype == dtype
    _close(lo.data, lt.detach().numpy(), dtype)
    g = rng.standard_normal(lo.shape).astype(dtype)
    lo.backward(g)
    lt.backward(torch.from_numpy(g))
    _close(xo.grad, xt.grad.numpy(), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(7, 33), (2, 17, 9), (33,)])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_cross_entropy_probabilities_match_torch(dtype, shape, reduction):
    torch = pytest.importorskip("torch")
    rng = _rng(6)
    cdim = 0 if len(shape) == 1 else 1
    x = rng.standard_normal(shape).astype(dtype)
    q = rng.random(shape)
    q = (q / q.sum(axis=cdim, keepdims=True)).astype(dtype)
    w = rng.uniform(0.5, 1.5, shape[cdim]).astype(dtype)
    ours = nn.CrossEntropyLoss(weight=w, label_smoothing=0.2, reduction=reduction)
    theirs = torch.nn.CrossEntropyLoss(weight=torch.from_numpy(w), label_smoothing=0.2,
                                       reduction=reduction)
    xo, xt = rnnfast.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    qo, qt = rnnfast.tensor(q, requires_grad=True), torch.tensor(q, requires_grad=True)
    lo, lt = ours(xo, qo), theirs(xt, qt)
    _close(lo.data, lt.detach().numpy(), dtype)
    g = rng.standard_normal(lo.shape).astype(dtype)
    lo.backward(g)
    lt.backward(torch.from_numpy(g))
    _close(xo.grad, xt.grad.numpy(), dtype)
    _close(qo.grad, qt.grad.numpy(), dtype)


def test_cross_entropy_is_bitwise_equal_at_1_and_2_threads():
    rng = _rng(7)
    R, C, S = 260, 4001, 1          # R*C above the size that takes a team
    x = rng.standard_normal((R, C, S)).astype(np.float32)
    t = rng.integers(0, C, (R, S))
    w = rng.uniform(0.5, 1.5, C).astype(np.float32)

    def run():
        loss, lse = _core.cross_entropy_forward(x, t, w, -100, 0.1, "mean")
        d = _core.cross_entropy_backward(np.array(1.0, np.float32), lse, x, t, w, -100, 0.1,
                                         "mean")
        q = np.full((R, C, S), 1.0 / C, np.float32)
        lp, lsep = _core.cross_entropy_prob_forward(x, q, w, 0.1, "sum")
        dp = _core.cross_entropy_prob_backward(np.array(1.0, np.float32), lsep, x, q, w, 0.1,
                                               "sum", True, True)
        return (loss, lse, d, lp) + tuple(dp)
    _bitwise_across_threads(run)
    # the (R, C, S > 1) layout: rows transposed a block of positions at a time
    x3 = np.ascontiguousarray(x.reshape(20, 13, C).transpose(0, 2, 1))
    t3 = t.reshape(20, 13)
    _bitwise_across_threads(lambda: _core.cross_entropy_forward(x3, t3, None, -100, 0.0, "none"))
    a = _core.cross_entropy_forward(x3, t3, None, -100, 0.0, "none")[0]
    b = _core.cross_entropy_forward(x.reshape(R, C, 1), t, None, -100, 0.0, "none")[0]
    np.testing.assert_array_equal(a, b)     # each row by the same kernel, either layout


def test_cross_entropy_edge_cases_as_torch():
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(8).standard_normal((3, 4))
    t = np.full(3, -100)
    for red in ("mean", "sum"):                    # every target ignored
        xo, xt = rnnfast.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
        lo = nn.CrossEntropyLoss(reduction=red, label_smoothing=0.1)(xo, t)
        lt = torch.nn.CrossEntropyLoss(reduction=red, label_smoothing=0.1)(xt,
                                                                           torch.from_numpy(t))
        np.testing.assert_array_equal(np.isnan(lo.data), np.isnan(lt.detach().numpy()))
        lo.backward()
        lt.backward()
        np.testing.assert_array_equal(xo.grad, xt.grad.numpy())       # zeros
    for red in ("mean", "sum", "none"):            # an empty batch
        xo = rnnfast.tensor(np.zeros((0, 5)), requires_grad=True)
        xt = torch.zeros((0, 5), dtype=torch.float64, requires_grad=True)
        lo = nn.CrossEntropyLoss(reduction=red)(xo, np.zeros(0, np.int64))
        lt = torch.nn.CrossEntropyLoss(reduction=red)(xt, torch.zeros(0, dtype=torch.int64))
        assert lo.shape == tuple(lt.shape)
        np.testing.assert_array_equal(np.isnan(lo.data), np.isnan(lt.detach().numpy()))
        if red != "mean":
            np.testing.assert_array_equal(lo.data, lt.detach().numpy())
        lo.sum().backward()
        assert xo.grad.shape == (0, 5)


def test_cross_entropy_kernel_errors():
    x = np.zeros((3, 4, 1))
    t = np.array([[0], [4], [1]])
    with pytest.raises(IndexError, match=r"target: class index 4 is out of range for 4 classes "
                                         r"\(expected 0 <= target < 4, or ignore_index=-100\)"):
        _core.cross_entropy_forward(x, t, None, -100, 0.0, "mean")
    with pytest.raises(IndexError, match="class index 4"):
        _core.cross_entropy_backward(np.array(1.0), np.zeros(3), x, t, None, -100, 0.0, "mean")
    t = np.zeros((3, 1), np.int64)
    with pytest.raises(ValueError, match="reduction: expected 'mean', 'sum' or 'none', got 'avg'"):
        _core.cross_entropy_forward(x, t, None, -100, 0.0, "avg")
    with pytest.raises(ValueError, match=r"label_smoothing: expected a value in \[0, 1\], got 2"):
        _core.cross_entropy_forward(x, t, None, -100, 2.0, "mean")
    with pytest.raises(ValueError, match=r"target: expected rows \(the input's dim 0\) = 3"):
        _core.cross_entropy_forward(x, np.zeros((2, 1), np.int64), None, -100, 0.0, "mean")
    with pytest.raises(ValueError, match=r"weight: expected classes \(the input's dim 1\) = 4"):
        _core.cross_entropy_forward(x, t, np.ones(3), -100, 0.0, "mean")
    with pytest.raises(ValueError, match=r"dloss: expected 3 element\(s\)"):
        _core.cross_entropy_backward(np.ones(2), np.zeros(3), x, t, None, -100, 0.0, "none")
    with pytest.raises(ValueError, match="lse: expected one value per position = 3"):
        _core.cross_entropy_backward(np.array(1.0), np.zeros(2), x, t, None, -100, 0.0, "mean")
    with pytest.raises(TypeError, match="target: expected dtype int64"):
        _core.cross_entropy_forward(x, t.astype(np.int32), None, -100, 0.0, "mean")
    with pytest.raises(ValueError, match=r"C: expected a number of classes >= 1, got 0"):
        _core.cross_entropy_forward(np.zeros((3, 0, 1)), t, None, -100, 0.0, "mean")


# ------------------------------------------------------------------- BCE with logits, MSE


BCE_WEIGHTS = {
    "none": (None, None),
    "full": ((4, 6, 5), None),
    "last": ((5,), (5,)),
    "middle": ((6, 1), (1, 5)),          # broadcast: materialized to the input's shape
    "scalar": ((), ()),
}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("weights", sorted(BCE_WEIGHTS))
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_bce_with_logits_matches_torch(dtype, weights, reduction):
    torch = pytest.importorskip("torch")
    rng = _rng(9)
    x = (rng.standard_normal((4, 6, 5)) * 4).astype(dtype)
    x.flat[:4] = [40.0, -40.0, 100.0, -100.0]          # saturated logits stay exact
    y = rng.random((4, 6, 5)).astype(dtype)
    ws, pws = BCE_WEIGHTS[weights]
    w = None if ws is None else rng.uniform(0.2, 2.0, ws).astype(dtype)
    pw = None if pws is None else rng.uniform(0.5, 3.0, pws).astype(dtype)
    ours = nn.BCEWithLogitsLoss(weight=w, pos_weight=pw, reduction=reduction)
    theirs = torch.nn.BCEWithLogitsLoss(
        weight=None if w is None else torch.from_numpy(w),
        pos_weight=None if pw is None else torch.from_numpy(pw), reduction=reduction)
    xo, xt = rnnfast.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    yo, yt = rnnfast.tensor(y, requires_grad=True), torch.tensor(y, requires_grad=True)
    lo, lt = ours(xo, yo), theirs(xt, yt)
    assert lo.dtype == dtype and lo.shape == tuple(lt.shape)
    _close(lo.data, lt.detach().numpy(), dtype)
    g = rng.standard_normal(lo.shape).astype(dtype)
    lo.backward(g)
    lt.backward(torch.from_numpy(g))
    _close(xo.grad, xt.grad.numpy(), dtype)
    _close(yo.grad, yt.grad.numpy(), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_bce_with_logits_kernel_is_accurate_for_tiny_tails(isa, dtype):
    # loss = softplus(-x) at y = 1: e^-x for large x, where log1p matters; float32 returns
    # values below its smallest normal number (e^-87) as 0, as the cells' activations do
    x = np.array([0.0, 1e-3, 0.5, 3.0, 15.0, 30.0, 80.0, 86.5, 89.0, 200.0, -30.0, -0.5], dtype)
    y = np.ones_like(x)
    loss = _core.bce_with_logits_forward(x, y, None, None, "none")
    want = np.logaddexp(0.0, -x.astype(np.float64))
    normal = want >= np.finfo(np.float32).tiny
    np.testing.assert_allclose(loss[normal], want[normal], rtol=tol(dtype)["rtol"], atol=0)
    assert np.all(np.abs(loss[~normal] - want[~normal]) < np.finfo(np.float32).tiny)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(1,), (7, 17), (2, 3, 33)])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_mse_matches_torch(dtype, shape, reduction):
    torch = pytest.importorskip("torch")
    rng = _rng(10)
    x, y = rng.standard_normal(shape).astype(dtype), rng.standard_normal(shape).astype(dtype)
    xo, xt = rnnfast.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    yo, yt = rnnfast.tensor(y, requires_grad=True), torch.tensor(y, requires_grad=True)
    lo = nn.MSELoss(reduction=reduction)(xo, yo)
    lt = torch.nn.MSELoss(reduction=reduction)(xt, yt)
    _close(lo.data, lt.detach().numpy(), dtype)
    g = rng.standard_normal(lo.shape).astype(dtype)
    lo.backward(g)
    lt.backward(torch.from_numpy(g))
    _close(xo.grad, xt.grad.numpy(), dtype)
    _close(yo.grad, yt.grad.numpy(), dtype)


def test_elementwise_losses_are_bitwise_equal_at_1_and_2_threads():
    rng = _rng(11)
    n = 1 << 20                        # BCE: enough for a team
    x = rng.standard_normal(n).astype(np.float32)
    y = rng.random(n).astype(np.float32)
    pw = rng.uniform(0.5, 2.0, 1024).astype(np.float32)
    g = np.array(0.5, np.float32)
    _bitwise_across_threads(lambda: (
        _core.bce_with_logits_forward(x, y, None, pw, "mean"),
        _core.bce_with_logits_forward(x, y, pw, None, "none"))
        + _core.bce_with_logits_backward(g, x, y, None, pw, "sum", True, True))
    m = 6 << 20                        # MSE: cheaper per element
    xm = rng.standard_normal(m).astype(np.float32)
    ym = rng.standard_normal(m).astype(np.float32)
    _bitwise_across_threads(lambda: (_core.mse_forward(xm, ym, "sum"),)
                            + _core.mse_backward(g, xm, ym, "mean", True, False))


def test_elementwise_losses_of_empty_input_as_torch():
    torch = pytest.importorskip("torch")
    for red in ("mean", "sum", "none"):
        for ours, theirs in ((nn.MSELoss(reduction=red), torch.nn.MSELoss(reduction=red)),
                             (nn.BCEWithLogitsLoss(reduction=red, pos_weight=np.ones(3)),
                              torch.nn.BCEWithLogitsLoss(reduction=red,
                                                         pos_weight=torch.ones(3)))):
            xo = rnnfast.tensor(np.zeros((0, 3)), requires_grad=True)
            lo = ours(xo, np.zeros((0, 3)))
            lt = theirs(torch.zeros((0, 3), dtype=torch.float64), torch.zeros((0, 3),
                                                                              dtype=torch.float64))
            assert lo.shape == tuple(lt.shape)
            np.testing.assert_array_equal(np.isnan(lo.data), np.isnan(lt.numpy()))
            lo.sum().backward()
            assert xo.grad.shape == (0, 3)


def test_elementwise_kernel_errors():
    x = np.zeros(6, np.float32)
    with pytest.raises(ValueError, match=r"pos_weight: expected a period that divides n = 6, "
                                         r"got 4"):
        _core.bce_with_logits_forward(x, x, None, np.ones(4, np.float32), "mean")
    with pytest.raises(ValueError, match=r"target: expected the input's size = 6"):
        _core.mse_forward(x, np.zeros(5, np.float32), "mean")
    with pytest.raises(TypeError, match=r"target: expected dtype float32 \(the dtype of input\)"):
        _core.mse_forward(x, np.zeros(6), "mean")
    with pytest.raises(ValueError, match="reduction: expected 'mean', 'sum' or 'none'"):
        _core.mse_forward(x, x, "max")


# ------------------------------------------------------------------------------ optimizers


OPT_CASES = [
    ("SGD", dict(lr=0.1)),
    ("SGD", dict(lr=0.05, momentum=0.9, dampening=0.2, weight_decay=0.01, maximize=True)),
    ("SGD", dict(lr=0.05, momentum=0.8, nesterov=True, weight_decay=0.1)),
    ("Adam", dict(lr=0.01, betas=(0.8, 0.99), weight_decay=0.1)),
    ("Adam", dict(lr=0.01, amsgrad=True, maximize=True)),
    ("AdamW", dict(lr=0.01, weight_decay=0.1, amsgrad=True)),
    ("RMSprop", dict(lr=0.01, momentum=0.9, centered=True, weight_decay=0.1)),
    ("RMSprop", dict(lr=0.01, alpha=0.9, maximize=True)),
    ("Adagrad", dict(lr=0.1, lr_decay=0.01, weight_decay=0.1, initial_accumulator_value=0.3)),
]
OPT_SHAPES = [(1,), (7,), (33, 17), (1000,)]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name,kw", OPT_CASES,
                         ids=[n + "-" + "-".join(k for k in kw) for n, kw in OPT_CASES])
def test_optimizer_kernels_match_torch(isa, dtype, name, kw):
    torch = pytest.importorskip("torch")
    rng = _rng(12)
    init = [rng.standard_normal(s).astype(dtype) for s in OPT_SHAPES]
    ours = [nn.Parameter(a.copy()) for a in init]
    theirs = [torch.nn.Parameter(torch.from_numpy(a.copy())) for a in init]
    oo, ot = getattr(optim, name)(ours, **kw), getattr(torch.optim, name)(theirs, **kw)
    for step in range(5):
        for i, (p, q) in enumerate(zip(ours, theirs)):
            g = rng.standard_normal(p.shape).astype(dtype)
            if step == 1 and i == 2:
                p.grad, q.grad = None, None          # a parameter skipped for one step
            else:
                p.grad, q.grad = g, torch.from_numpy(g.copy())
        oo.step()
        ot.step()
    for p, q in zip(ours, theirs):
        _close(p.data, q.detach().numpy(), dtype)
    so, st = oo.state_dict()["state"], ot.state_dict()["state"]
    for k in st:
        for key, v in st[k].items():
            if key != "step":
                _close(so[k][key], v.numpy(), dtype)


def test_optimizer_kernel_is_bitwise_equal_at_1_and_2_threads():
    rng = _rng(13)
    shapes = [(1000, 1001), (7,), (300, 33)]          # over a million elements: a team

    def run():
        r = _rng(14)
        ps = [nn.Parameter(r.standard_normal(s).astype(np.float32)) for s in shapes]
        opt = optim.Adam(ps, lr=0.01, amsgrad=True, weight_decay=0.1)
        for _ in range(2):
            for p in ps:
                p.grad = rng.standard_normal(p.shape).astype(np.float32)
            opt.step()
        return [p.data for p in ps]
    old = rng.bit_generator.state
    a = _with_threads(1, run)
    rng.bit_generator.state = old
    b = _with_threads(2, run)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)


def test_optimizer_with_mixed_dtypes_in_one_group_matches_torch():
    torch = pytest.importorskip("torch")
    rng = _rng(15)
    init = [rng.standard_normal((5, 3)).astype(np.float32), rng.standard_normal(4)]
    ours = [nn.Parameter(a.copy()) for a in init]
    theirs = [torch.nn.Parameter(torch.from_numpy(a.copy())) for a in init]
    oo, ot = optim.Adam(ours, lr=0.1), torch.optim.Adam(theirs, lr=0.1)
    for _ in range(3):
        for p, q in zip(ours, theirs):
            g = rng.standard_normal(p.shape).astype(p.dtype)
            p.grad, q.grad = g, torch.from_numpy(g.copy())
        oo.step()
        ot.step()
    for p, q in zip(ours, theirs):
        assert p.dtype == q.detach().numpy().dtype
        _close(p.data, q.detach().numpy(), p.dtype.type)


def test_optimizer_falls_back_to_numpy_for_other_dtypes():
    p = nn.Parameter(np.ones(4, np.float16))
    p.grad = np.full(4, 0.5, np.float16)
    optim.SGD([p], lr=0.1, momentum=0.9).step()
    np.testing.assert_array_equal(p.data, np.full(4, 0.95, np.float16))


def test_optimizer_kernel_errors():
    p, g = np.zeros(3, np.float32), np.zeros(3, np.float32)
    m, v = np.zeros(3, np.float32), np.zeros(3, np.float32)
    args = (1e-3, 0.9, 0.999, 1e-8, 0.0, False, False, False)
    with pytest.raises(ValueError, match=r"grads\[0\]: expected 3 elements \(the size of "
                                         r"params\[0\]\)"):
        _core.adam_step([p], [np.zeros(2, np.float32)], [m], [v], None, [1], *args)
    with pytest.raises(TypeError, match=r"exp_avgs\[0\]: expected dtype float32"):
        _core.adam_step([p], [g], [m.astype(np.float64)], [v], None, [1], *args)
    with pytest.raises(ValueError, match=r"params\[0\]\.step: expected a step number >= 1, "
                                         r"got 0"):
        _core.adam_step([p], [g], [m], [v], None, [0], *args)
    with pytest.raises(ValueError, match=r"params\[0\]\.max_exp_avg_sq: expected a \[n\] buffer "
                                         r"\(amsgrad\)"):
        _core.adam_step([p], [g], [m], [v], None, [1], 1e-3, 0.9, 0.999, 1e-8, 0.0, True,
                        False, False)
    with pytest.raises(ValueError, match=r"beta1: expected a value in \[0, 1\), got 1"):
        _core.adam_step([p], [g], [m], [v], None, [1], 1e-3, 1.0, 0.999, 1e-8, 0.0, False,
                        False, False)
    with pytest.raises(ValueError, match=r"lr: expected a value >= 0, got -1"):
        _core.sgd_step([p], [g], None, [False], -1.0, 0.0, 0.0, 0.0, False, False)
    with pytest.raises(ValueError, match="nesterov: expected momentum > 0 and dampening = 0"):
        _core.sgd_step([p], [g], [m], [False], 0.1, 0.0, 0.0, 0.0, True, False)
    with pytest.raises(ValueError, match=r"momentum_buffers: expected 1 entries"):
        _core.sgd_step([p], [g], [m, v], [False], 0.1, 0.9, 0.0, 0.0, False, False)
    with pytest.raises(ValueError, match=r"params\[0\]: expected a writeable array"):
        ro = np.zeros(3, np.float32)
        ro.flags.writeable = False
        _core.adagrad_step([ro], [g], [m], [1], 0.1, 0.0, 0.0, 1e-10, False)
    with pytest.raises(ValueError, match=r"params\[0\]\.grad_avg: expected a \[n\] buffer "
                                         r"\(centered\)"):
        _core.rmsprop_step([p], [g], [m], None, None, 0.01, 0.99, 1e-8, 0.0, 0.0, True, False)
