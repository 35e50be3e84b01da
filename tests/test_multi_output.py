"""Multi-output autograd nodes (rnnfast.tensor._make_many): one node owning several results,
each with its own gradient slot, as the recurrent layers and cells use for (y, h_n, c_n).

Gradients through each result and their combinations against torch in float64, a result as
the root of backward, retain_graph, version checks of saved results, in-place writes into a
result, and the recurrent modules' results used one at a time. Also the scalar and same-shape
fast paths of the binary ops (dtypes and gradients as torch's)."""

from __future__ import annotations

import numpy as np
import pytest

import rnnfast
from rnnfast import nn
from rnnfast.tensor import _make_many

TOL64 = dict(rtol=1e-12, atol=1e-12)
TOL_RNN = dict(rtol=1e-9, atol=1e-9)
RNG = np.random.default_rng(99)


def _torch():
    return pytest.importorskip("torch")


def two_outputs(a, b, record=None, saves_out=()):
    """y1 = a * b and y2 = sin(a) + b as ONE node with two results."""
    ad, bd = a.data, b.data

    def backward(grads):
        if record is not None:
            record.append(grads)
        g1, g2 = grads
        da = np.zeros_like(ad)
        db = np.zeros_like(bd)
        if g1 is not None:
            da = da + g1 * bd
            db = db + g1 * ad
        if g2 is not None:
            da = da + g2 * np.cos(ad)
            db = db + g2
        return da, db
    return _make_many((ad * bd, np.sin(ad) + bd), (a, b), backward, name="TwoBackward",
                      saves_out=saves_out)


def torch_two_outputs(torch, a, b):
    return a * b, torch.sin(a) + b


# How the results are used: each a function (y1, y2, cotangents) -> scalar loss, written once
# for both frameworks (their tensors share these methods).
USES = {
    "first only": lambda y1, y2, c: (y1 * c[0]).sum(),
    "second only": lambda y1, y2, c: (y2 * c[1]).sum(),
    "both": lambda y1, y2, c: (y1 * c[0]).sum() + (y2 * c[1]).sum(),
    "second twice": lambda y1, y2, c: (y2 * c[0]).sum() + (y2 * y2 * c[1]).sum(),
    "product": lambda y1, y2, c: (y1 * y2 * c[0]).sum(),
    "through more ops": lambda y1, y2, c: ((y1.tanh() + y2 * y1) * c[1]).sum() + y2.sum(),
}


def _inputs(torch, n=5):
    a, b = RNG.standard_normal(n), RNG.standard_normal(n)
    ours = (rnnfast.tensor(a, requires_grad=True), rnnfast.tensor(b, requires_grad=True))
    theirs = (torch.tensor(a, requires_grad=True), torch.tensor(b, requires_grad=True))
    cot = (RNG.standard_normal(n), RNG.standard_normal(n))
    return ours, theirs, cot


@pytest.mark.parametrize("use", list(USES))
def test_gradients_through_each_result_and_combinations(use):
    torch = _torch()
    (a, b), (at, bt), cot = _inputs(torch)
    y1, y2 = two_outputs(a, b)
    assert y1.grad_fn == y2.grad_fn == "TwoBackward"
    USES[use](y1, y2, cot).backward()
    USES[use](*torch_two_outputs(torch, at, bt), tuple(torch.tensor(c) for c in cot)).backward()
    np.testing.assert_allclose(a.grad, at.grad.numpy(), **TOL64)
    np.testing.assert_allclose(b.grad, bt.grad.numpy(), **TOL64)


def test_a_result_without_gradient_gets_none():
    a = rnnfast.tensor([1.0, 2.0], requires_grad=True)
    b = rnnfast.tensor([3.0, 4.0], requires_grad=True)
    record = []
    y1, y2 = two_outputs(a, b, record)
    (y2 * 2).sum().backward()
    assert len(record) == 1 and record[0][0] is None
    np.testing.assert_allclose(record[0][1], [2.0, 2.0])
    np.testing.assert_allclose(b.grad, [2.0, 2.0])


def test_a_result_as_the_root_of_backward():
    torch = _torch()
    (a, b), (at, bt), cot = _inputs(torch)
    _, y2 = two_outputs(a, b)
    y2.backward(cot[1])
    _, y2t = torch_two_outputs(torch, at, bt)
    y2t.backward(torch.tensor(cot[1]))
    np.testing.assert_allclose(a.grad, at.grad.numpy(), **TOL64)
    np.testing.assert_allclose(b.grad, bt.grad.numpy(), **TOL64)


def test_only_one_parent_requires_grad():
    torch = _torch()
    (a, _), (at, _), cot = _inputs(torch)
    b = rnnfast.tensor(RNG.standard_normal(5))
    bt = torch.tensor(b.data)
    y1, y2 = two_outputs(a, b)
    USES["both"](y1, y2, cot).backward()
    USES["both"](*torch_two_outputs(torch, at, bt), tuple(torch.tensor(c) for c in cot)).backward()
    np.testing.assert_allclose(a.grad, at.grad.numpy(), **TOL64)
    assert b.grad is None


def test_no_history_without_grad():
    a, b = rnnfast.tensor([1.0, 2.0]), rnnfast.tensor([3.0, 4.0])
    for y in two_outputs(a, b):
        assert not y.requires_grad and y.grad_fn is None
    a.requires_grad_()
    with rnnfast.no_grad():
        for y in two_outputs(a, b):
            assert not y.requires_grad and y.grad_fn is None


def test_retain_graph_through_a_multi_output_node():
    torch = _torch()
    (a, b), (at, bt), cot = _inputs(torch)
    y1, y2 = two_outputs(a, b)
    loss = USES["both"](y1, y2, cot)
    loss.backward(retain_graph=True)
    loss.backward(retain_graph=True)
    USES["both"](*torch_two_outputs(torch, at, bt), tuple(torch.tensor(c) for c in cot)).backward()
    np.testing.assert_allclose(a.grad, 2 * at.grad.numpy(), **TOL64)
    loss.backward()
    with pytest.raises(RuntimeError, match="backward through the graph a second time"):
        loss.backward()
    with pytest.raises(RuntimeError, match="second time"):       # the other result's path too
        y2.sum().backward()


def test_a_freed_node_refuses_its_other_result():
    a = rnnfast.tensor([1.0, 2.0], requires_grad=True)
    b = rnnfast.tensor([3.0, 4.0], requires_grad=True)
    y1, y2 = two_outputs(a, b)
    y1.sum().backward()
    with pytest.raises(RuntimeError, match="second time"):
        y2.sum().backward()


def test_version_check_of_a_saved_result():
    a = rnnfast.tensor([1.0, 2.0], requires_grad=True)
    b = rnnfast.tensor([3.0, 4.0], requires_grad=True)
    y1, y2 = two_outputs(a, b, saves_out=(0,))
    loss = (y1 + y2).sum()
    with rnnfast.no_grad():
        y2[0] = 7.0                       # not saved: allowed
    loss.backward(retain_graph=True)
    with rnnfast.no_grad():
        y1[0] = 7.0                       # saved: backward refuses
    with pytest.raises(RuntimeError, match="the output of TwoBackward is at version 1"):
        loss.backward()


def test_inplace_write_into_a_result_with_grad():
    """y1[1] = v records a CopySlices node over y1's old history (its slot in the node)."""
    torch = _torch()
    (a, b), (at, bt), cot = _inputs(torch)
    v = rnnfast.tensor(2.5, dtype=np.float64, requires_grad=True)
    vt = torch.tensor(2.5, dtype=torch.float64, requires_grad=True)
    y1, y2 = two_outputs(a, b)
    y1[1] = v
    USES["both"](y1, y2, cot).backward()
    y1t, y2t = torch_two_outputs(torch, at, bt)
    y1t[1] = vt
    USES["both"](y1t, y2t, tuple(torch.tensor(c) for c in cot)).backward()
    for ours, theirs in ((a, at), (b, bt), (v, vt)):
        np.testing.assert_allclose(ours.grad, theirs.grad.numpy(), **TOL64)


def test_misshapen_gradient_names_the_node():
    a = rnnfast.tensor([1.0, 2.0], requires_grad=True)
    y1, y2 = _make_many((a.data, a.data * 2), (a,), lambda grads: (np.ones(3),),
                        name="BadTwo")
    with pytest.raises(RuntimeError, match="BadTwo"):
        (y1 + y2).sum().backward()


# ---------------------------------------------------------------- the recurrent modules


def _loss(use, h, c, w):
    """A loss of the LSTM cell's results h and c: one of them, both, or c along two paths."""
    return {"h": lambda: (h * w).sum(), "c": lambda: (c * w).sum(),
            "h and c": lambda: (h * w).sum() + (c * c).sum(),
            "c twice": lambda: (c * w).sum() + c.tanh().sum()}[use]()


@pytest.mark.parametrize("use", ["h", "c", "h and c", "c twice"])
def test_lstm_cell_results_one_at_a_time(use):
    torch = _torch()
    ours = nn.LSTMCell(3, 4, dtype=np.float64)
    theirs = torch.nn.LSTMCell(3, 4, dtype=torch.float64)
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    x = RNG.standard_normal((2, 3))
    h0, c0 = RNG.standard_normal((2, 4)), RNG.standard_normal((2, 4))
    w = RNG.standard_normal((2, 4))
    results = []
    for mod, t in ((ours, rnnfast.tensor), (theirs, torch.tensor)):
        xs, hs, cs = (t(z, requires_grad=True) for z in (x, h0, c0))
        h, c = mod(xs, (hs, cs))
        h, c = mod(xs, (h, c))              # two steps: the second node feeds the first
        _loss(use, h, c, t(w)).backward()
        results.append([xs.grad, hs.grad, cs.grad] + [p.grad for _, p in mod.named_parameters()])
    for mine, theirs_ in zip(*results):
        np.testing.assert_allclose(mine, theirs_.numpy(), **TOL_RNN)


@pytest.mark.parametrize("use", ["y", "h_n", "c_n", "all"])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_lstm_layer_results_one_at_a_time(use, bidirectional):
    torch = _torch()
    ours = nn.LSTM(3, 4, bidirectional=bidirectional, dtype=np.float64)
    theirs = torch.nn.LSTM(3, 4, bidirectional=bidirectional, dtype=torch.float64)
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    x = RNG.standard_normal((5, 2, 3))
    results = []
    for mod, t in ((ours, rnnfast.tensor), (theirs, torch.tensor)):
        xs = t(x, requires_grad=True)
        y, (h, c) = mod(xs)
        parts = {"y": [y], "h_n": [h], "c_n": [c], "all": [y, h, c]}[use]
        loss = 0
        for k, z in enumerate(parts):
            loss = loss + (z * t(np.cos(np.arange(z.numel()) + k).reshape(z.shape))).sum()
        loss.backward()
        results.append([xs.grad] + [p.grad for _, p in mod.named_parameters()])
    for mine, theirs_ in zip(*results):
        np.testing.assert_allclose(mine, theirs_.numpy(), **TOL_RNN)


def test_layer_output_written_in_place_makes_backward_raise():
    m = nn.GRU(3, 4, dtype=np.float64)
    y, h = m(rnnfast.tensor(RNG.standard_normal((5, 2, 3)), requires_grad=True))
    loss = y.sum() + h.sum()
    with rnnfast.no_grad():
        y[0] = 0.0
    with pytest.raises(RuntimeError, match="GRUBackward"):
        loss.backward()


def test_cell_step_is_one_node_with_its_results():
    cell = nn.LSTMCell(3, 4)
    h, c = cell(rnnfast.tensor(RNG.standard_normal((2, 3)).astype(np.float32)))
    assert h.grad_fn == c.grad_fn == "LSTMBackward" and h._node is c._node
    g = nn.GRUCell(3, 4)(rnnfast.tensor(RNG.standard_normal((2, 3)).astype(np.float32)))
    assert g.grad_fn == "GRUBackward"
    with rnnfast.no_grad():
        h, c = cell(np.zeros((2, 3), np.float32))
    assert h.grad_fn is None and c.grad_fn is None


def test_cell_step_reads_a_strided_input():
    """x[:, t] of a batch-first tensor is not contiguous: the step copies it for the kernel."""
    torch = _torch()
    ours = nn.GRUCell(3, 4, dtype=np.float64)
    theirs = torch.nn.GRUCell(3, 4, dtype=torch.float64)
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    x = RNG.standard_normal((2, 6, 3))
    xo, xt = rnnfast.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    ho, ht = ours(xo[:, 1]), theirs(xt[:, 1])
    ho, ht = ours(xo[:, 4], ho), theirs(xt[:, 4], ht)
    np.testing.assert_allclose(ho.numpy(), ht.detach().numpy(), **TOL_RNN)
    (ho * ho).sum().backward()
    (ht * ht).sum().backward()
    np.testing.assert_allclose(xo.grad, xt.grad.numpy(), **TOL_RNN)


# ---------------------------------------------------------------- binary ops' fast paths


@pytest.mark.parametrize("op", ["x + s", "s + x", "x - s", "s - x", "x * s", "s * x", "x / s",
                                "s / x"])
@pytest.mark.parametrize("s", [3, -0.75])
def test_scalar_operands_keep_the_dtype_and_match_torch(op, s):
    torch = _torch()
    fn = eval("lambda x, s: " + op)  # noqa: S307  (the op written once for both frameworks)
    x = np.abs(RNG.standard_normal(4)) + 0.5
    for dt, tdt in ((np.float32, torch.float32), (np.float64, torch.float64)):
        xo, xt = rnnfast.tensor(x, dtype=dt, requires_grad=True), torch.tensor(
            x, dtype=tdt, requires_grad=True)
        yo, yt = fn(xo, s), fn(xt, s)
        assert yo.dtype == dt and yo.grad_fn is not None
        np.testing.assert_allclose(yo.numpy(), yt.detach().numpy(), **(
            TOL64 if dt == np.float64 else dict(rtol=1e-6)))
        (yo * yo).sum().backward()
        (yt * yt).sum().backward()
        np.testing.assert_allclose(xo.grad, xt.grad.numpy(), **(
            TOL64 if dt == np.float64 else dict(rtol=1e-5)))


def test_scalar_operands_with_integer_tensors_promote_as_numpy():
    i = rnnfast.tensor([1, 2, 3])
    assert (i * 2).dtype == np.int64 and (i + 0.5).dtype == np.float64
    assert (rnnfast.tensor([True, False]) + 1).dtype == np.int64


def test_same_and_broadcast_shapes_reduce_gradients():
    torch = _torch()
    a, b, c = RNG.standard_normal((3, 4)), RNG.standard_normal(4), RNG.standard_normal((3, 1))
    ours = [rnnfast.tensor(z, requires_grad=True) for z in (a, b, c)]
    theirs = [torch.tensor(z, requires_grad=True) for z in (a, b, c)]
    for x, y, z in (ours, theirs):
        ((x + y) * z - x / (y * y + 1) + (x * x - z)).sum().backward()
    for o, t in zip(ours, theirs):
        np.testing.assert_allclose(o.grad, t.grad.numpy(), **TOL64)
