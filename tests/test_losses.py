"""rnnfast.nn losses against torch.nn (values and gradients, every reduction, class weights,
ignore_index, label smoothing, probability targets), stability with huge logits, and the
errors for bad targets."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import rnnfast
from rnnfast import nn

from _problems import tol

RNG = np.random.default_rng(2024)
REDUCTIONS = ["mean", "sum", "none"]


def _compare(loss_name, kwargs, x, target, torch_kwargs=None, target_grad=False):
    """Run rnnfast.nn.<loss_name>(**kwargs) and torch.nn.<loss_name> on the same float64 data;
    compare the value and the input gradient (and the target gradient if ``target_grad``)."""
    torch = pytest.importorskip("torch")
    tk = {k: (torch.tensor(v) if isinstance(v, np.ndarray) else v)
          for k, v in (torch_kwargs if torch_kwargs is not None else kwargs).items()}
    ours, theirs = getattr(nn, loss_name)(**kwargs), getattr(torch.nn, loss_name)(**tk)
    xo, xt = rnnfast.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    float_target = target.dtype.kind == "f"
    to = rnnfast.tensor(target, requires_grad=target_grad and float_target)
    tt = torch.tensor(target, requires_grad=target_grad and float_target)
    lo, lt = ours(xo, to), theirs(xt, tt)
    assert lo.shape == tuple(lt.shape) and lo.dtype == np.float64
    np.testing.assert_allclose(lo.data, lt.detach().numpy(), **tol(np.float64))
    cot = RNG.standard_normal(lo.shape)
    lo.backward(cot)
    lt.backward(torch.tensor(cot))
    np.testing.assert_allclose(xo.grad, xt.grad.numpy(), **tol(np.float64))
    if target_grad and float_target:
        np.testing.assert_allclose(to.grad, tt.grad.numpy(), **tol(np.float64))
    return lo


def _targets(shape, C, ignore=None, frac=0.3):
    t = RNG.integers(0, C, size=shape)
    if ignore is not None:
        t = np.where(RNG.random(shape) < frac, ignore, t)
        t.flat[0] = 0                                    # keep one target that counts
    return t


# ----------------------------------------------------------------------- CrossEntropy / NLL

CE_SHAPES = {"NC": ((6, 4), (6,)), "NCd": ((3, 4, 2, 5), (3, 2, 5)), "C": ((4,), ())}


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("shape", sorted(CE_SHAPES))
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("smoothing", [0.0, 0.2])
def test_cross_entropy_class_indices_match_torch(reduction, shape, weighted, smoothing):
    xs, ts = CE_SHAPES[shape]
    x = RNG.standard_normal(xs) * 2
    ignore = None if shape == "C" else -100
    t = _targets(ts, 4, ignore)
    kw = dict(reduction=reduction, label_smoothing=smoothing)
    if weighted:
        kw["weight"] = RNG.uniform(0.2, 2.0, 4)
    _compare("CrossEntropyLoss", kw, x, t)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("smoothing", [0.0, 0.1])
def test_cross_entropy_custom_ignore_index_with_weights(reduction, smoothing):
    x = RNG.standard_normal((8, 5))
    t = _targets((8,), 5, ignore=2, frac=0.4)
    kw = dict(weight=RNG.uniform(0.5, 1.5, 5), ignore_index=2, reduction=reduction,
              label_smoothing=smoothing)
    _compare("CrossEntropyLoss", kw, x, t)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("smoothing", [0.0, 0.3])
@pytest.mark.parametrize("shape", [(5, 3), (2, 3, 4), (3,)])
def test_cross_entropy_probability_targets_match_torch(reduction, weighted, smoothing, shape):
    x = RNG.standard_normal(shape)
    cdim = 0 if len(shape) == 1 else 1
    q = RNG.random(shape)
    q = q / q.sum(axis=cdim, keepdims=True)
    kw = dict(reduction=reduction, label_smoothing=smoothing)
    if weighted:
        kw["weight"] = RNG.uniform(0.2, 2.0, 3)
    _compare("CrossEntropyLoss", kw, x, q, target_grad=True)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("shape", sorted(CE_SHAPES))
@pytest.mark.parametrize("weighted", [False, True])
def test_nll_loss_matches_torch(reduction, shape, weighted):
    xs, ts = CE_SHAPES[shape]
    x = RNG.standard_normal(xs)
    t = _targets(ts, 4, None if shape == "C" else -100)
    kw = dict(reduction=reduction)
    if weighted:
        kw["weight"] = RNG.uniform(0.2, 2.0, 4)
    _compare("NLLLoss", kw, x, t)


def test_nll_of_log_softmax_equals_cross_entropy():
    x = rnnfast.tensor(RNG.standard_normal((5, 3)), requires_grad=True)
    t = np.array([0, 2, 1, 1, 0])
    a = nn.NLLLoss()(nn.LogSoftmax(1)(x), t)
    a.backward()
    g = x.grad.copy()
    x.grad = None
    b = nn.CrossEntropyLoss()(x, t)
    b.backward()
    np.testing.assert_allclose(a.data, b.data, **tol(np.float64))
    np.testing.assert_allclose(g, x.grad, **tol(np.float64))


def test_all_targets_ignored_gives_nan_mean_like_torch():
    torch = pytest.importorskip("torch")
    x, t = RNG.standard_normal((3, 4)), np.full(3, -100)
    ours = nn.CrossEntropyLoss()(x, t).item()
    theirs = torch.nn.CrossEntropyLoss()(torch.tensor(x), torch.tensor(t)).item()
    assert np.isnan(ours) and np.isnan(theirs)
    assert nn.CrossEntropyLoss(reduction="sum")(x, t).item() == 0


# --------------------------------------------------------------------- MSE, L1, BCE, BCEWithLogits


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("name", ["MSELoss", "L1Loss"])
def test_regression_losses_match_torch(name, reduction):
    x, y = RNG.standard_normal((4, 3, 2)), RNG.standard_normal((4, 3, 2))
    _compare(name, dict(reduction=reduction), x, y, target_grad=True)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weighted", [False, True])
def test_bce_matches_torch(reduction, weighted):
    x = RNG.uniform(0.02, 0.98, (5, 3))
    y = RNG.random((5, 3))
    kw = dict(reduction=reduction)
    if weighted:
        kw["weight"] = RNG.uniform(0.5, 2.0, 3)
    _compare("BCELoss", kw, x, y, target_grad=True)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("pos_weighted", [False, True])
def test_bce_with_logits_matches_torch(reduction, weighted, pos_weighted):
    x = RNG.standard_normal((5, 3)) * 3
    y = (RNG.random((5, 3)) > 0.5).astype(np.float64)
    y[0] = 0.3                                              # soft labels too
    kw = dict(reduction=reduction)
    if weighted:
        kw["weight"] = RNG.uniform(0.5, 2.0, (5, 1))
    if pos_weighted:
        kw["pos_weight"] = RNG.uniform(0.5, 3.0, 3)
    _compare("BCEWithLogitsLoss", kw, x, y, target_grad=True)


def test_bce_clamps_logs_at_the_edges():
    torch = pytest.importorskip("torch")
    x = np.array([0.0, 1.0, 0.0, 1.0, 0.5])
    y = np.array([0.0, 1.0, 1.0, 0.0, 1.0])
    lo = nn.BCELoss(reduction="none")(x, y)
    lt = torch.nn.BCELoss(reduction="none")(torch.tensor(x), torch.tensor(y))
    np.testing.assert_allclose(lo.data, lt.numpy(), **tol(np.float64))
    assert lo.data[2] == 100 and lo.data[3] == 100


# ---------------------------------------------------------------------------------- stability


def test_huge_logits_stay_finite():
    x = np.array([[1e4, -1e4, 0.0], [-1e4, 1e4, 5e3]], np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for kw in (dict(), dict(label_smoothing=0.1), dict(weight=np.array([1.0, 2.0, 0.5]))):
            xt = rnnfast.tensor(x, requires_grad=True)
            loss = nn.CrossEntropyLoss(**kw)(xt, np.array([1, 0]))
            loss.backward()
            assert np.isfinite(loss.item()) and np.all(np.isfinite(xt.grad))
        xt = rnnfast.tensor(x, requires_grad=True)
        loss = nn.CrossEntropyLoss()(xt, np.array([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0]], np.float32))
        loss.backward()
        assert np.isfinite(loss.item()) and np.all(np.isfinite(xt.grad))
        xt = rnnfast.tensor(x, requires_grad=True)
        loss = nn.BCEWithLogitsLoss()(xt, (x > 0).astype(np.float32))
        loss.backward()
        assert np.isfinite(loss.item()) and np.all(np.isfinite(xt.grad))
    # a confidently wrong class costs the logit gap, exactly
    np.testing.assert_allclose(nn.CrossEntropyLoss()(x[:1], np.array([1])).item(), 2e4)


def test_float32_inputs_give_float32_losses():
    x = rnnfast.tensor(RNG.standard_normal((4, 3)).astype(np.float32), requires_grad=True)
    loss = nn.CrossEntropyLoss()(x, [0, 1, 2, 1])
    assert loss.dtype == np.float32
    loss.backward()
    assert x.grad.dtype == np.float32
    assert nn.MSELoss()(x, np.zeros((4, 3))).dtype == np.float32    # array targets take its dtype


# ------------------------------------------------------------------------------------- errors


@pytest.mark.parametrize("bad", [3, -1, 7])
def test_target_out_of_range_raises_index_error(bad):
    x = RNG.standard_normal((3, 3))
    t = np.array([0, bad, 1])
    with pytest.raises(IndexError, match=rf"{bad}.*3 classes"):
        nn.CrossEntropyLoss()(x, t)
    with pytest.raises(IndexError, match=rf"{bad}.*3 classes"):
        nn.NLLLoss()(x, t)


def test_ignore_index_is_not_out_of_range():
    x = RNG.standard_normal((3, 3))
    assert np.isfinite(nn.CrossEntropyLoss(ignore_index=-1)(x, np.array([0, -1, 2])).item())
    assert np.isfinite(nn.CrossEntropyLoss(ignore_index=7)(x, np.array([0, 7, 2])).item())


def test_float_class_targets_raise_type_error():
    x = RNG.standard_normal((3, 4))
    with pytest.raises(TypeError, match="integers"):
        nn.CrossEntropyLoss()(x, np.array([0.0, 1.0, 2.0]))
    with pytest.raises(TypeError, match="integers"):
        nn.NLLLoss()(x, np.array([0.0, 1.0, 2.0]))
    with pytest.raises(TypeError, match="target"):
        nn.CrossEntropyLoss()(x, np.array([True, False, True]))


@pytest.mark.parametrize("loss,x,t", [
    (nn.CrossEntropyLoss(), np.zeros((3, 4)), np.array([0, 1])),
    (nn.CrossEntropyLoss(), np.zeros((3, 4)), np.zeros((3, 5))),
    (nn.CrossEntropyLoss(), np.zeros((2, 4, 5)), np.zeros((2, 4), np.int64)),
    (nn.NLLLoss(), np.zeros((3, 4)), np.array([[0, 1, 2]])),
    (nn.MSELoss(), np.zeros((3, 1)), np.zeros(3)),
    (nn.L1Loss(), np.zeros(3), np.zeros(4)),
    (nn.BCELoss(), np.full(3, 0.5), np.zeros((3, 1))),
    (nn.BCEWithLogitsLoss(), np.zeros((2, 3)), np.zeros((3, 2))),
])
def test_shape_mismatches_raise_value_error(loss, x, t):
    with pytest.raises(ValueError, match="target"):
        loss(x, t)


def test_argument_errors():
    with pytest.raises(ValueError, match="reduction"):
        nn.CrossEntropyLoss(reduction="avg")
    with pytest.raises(ValueError, match="label_smoothing"):
        nn.CrossEntropyLoss(label_smoothing=1.5)
    with pytest.raises(ValueError, match="weight"):
        nn.CrossEntropyLoss(weight=np.ones(3))(np.zeros((2, 4)), np.array([0, 1]))
    with pytest.raises(ValueError, match="between 0 and 1"):
        nn.BCELoss()(np.array([0.5, 1.5]), np.array([0.0, 1.0]))
    with pytest.raises(ValueError, match="pos_weight"):
        nn.BCEWithLogitsLoss(pos_weight=np.ones(4))(np.zeros((2, 3)), np.zeros((2, 3)))
    with pytest.raises(TypeError, match="ignore_index"):
        nn.NLLLoss(ignore_index=1.5)


def test_loss_modules_register_weights_as_buffers_like_torch():
    torch = pytest.importorskip("torch")
    w = np.array([1.0, 2.0, 3.0], np.float32)
    ours, theirs = nn.CrossEntropyLoss(weight=w), torch.nn.CrossEntropyLoss(weight=torch.tensor(w))
    assert list(ours.state_dict()) == list(theirs.state_dict()) == ["weight"]
    assert list(nn.MSELoss().state_dict()) == []
    assert repr(nn.MSELoss()) == "MSELoss()" and repr(nn.L1Loss(reduction="sum")) == \
        "L1Loss(reduction='sum')"
