"""rnnfast.tensor: every op's gradient against central finite differences in float64, values
against torch where installed, and the engine's rules (accumulation, freed graphs, no_grad,
dtypes, conversions)."""

from __future__ import annotations

import threading
import warnings

import numpy as np
import pytest

import rnnfast
from rnnfast.tensor import Tensor, _make, as_tensor, default_generator, enable_grad, unbroadcast

from _problems import FD_EPS, FD_TOL, tol

RNG = np.random.default_rng(1234)


def rand(*shape, low=None):
    """float64 N(0,1) data; with ``low``, magnitudes are pushed to >= low (away from kinks)."""
    x = RNG.standard_normal(shape)
    if low is not None:
        x = np.sign(x) * (np.abs(x) + low)
        x[x == 0] = low
    return x


def check_grad(fn, *inputs):
    """Compare the gradients of sum(fn(*inputs) * C) (C a fixed random cotangent) with respect
    to every float64 input against central finite differences."""
    leaves = [rnnfast.tensor(x, dtype=np.float64, requires_grad=True) for x in inputs]
    out = fn(*leaves)
    cot = np.random.default_rng(7).standard_normal(out.shape)
    out.backward(cot)

    def f(*xs):
        with rnnfast.no_grad():
            return float(np.sum(fn(*[rnnfast.tensor(x, dtype=np.float64) for x in xs]).data * cot))

    for k, leaf in enumerate(leaves):
        x0 = [np.array(x, dtype=np.float64) for x in inputs]
        num = np.zeros_like(x0[k])
        it = np.nditer(x0[k], flags=["multi_index"])
        for _ in it:
            i = it.multi_index
            orig = x0[k][i]
            x0[k][i] = orig + FD_EPS
            fp = f(*x0)
            x0[k][i] = orig - FD_EPS
            fm = f(*x0)
            x0[k][i] = orig
            num[i] = (fp - fm) / (2 * FD_EPS)
        assert leaf.grad is not None, f"input {k} got no gradient"
        assert leaf.grad.shape == leaf.shape and leaf.grad.dtype == np.float64
        np.testing.assert_allclose(leaf.grad, num, **FD_TOL, err_msg=f"gradient of input {k}")


# ------------------------------------------------------------------ gradients vs finite differences

GRAD_CASES = {
    # arithmetic with broadcasting on both sides
    "add_bcast": (lambda a, b: a + b, [rand(3, 4), rand(4)]),
    "add_bcast_keepdim": (lambda a, b: a + b, [rand(2, 1, 4), rand(3, 1)]),
    "sub_bcast": (lambda a, b: a - b, [rand(3, 1), rand(1, 4)]),
    "mul_bcast": (lambda a, b: a * b, [rand(2, 3, 4), rand(3, 1)]),
    "div_bcast": (lambda a, b: a / b, [rand(3, 4), rand(4, low=0.5)]),
    "scalar_left": (lambda a: 2.0 + 3.0 * a - 1.5 / (a * a + 1.0) - 0.5 - a, [rand(3, 2)]),
    "rsub_rdiv": (lambda a: 1.0 - 2.0 / a, [rand(4, low=0.5)]),
    "array_operands": (lambda a: np.ones((2, 1)) * a + np.arange(3.0) - a / np.full(3, 2.0),
                       [rand(2, 3)]),
    "neg": (lambda a: -a, [rand(3)]),
    "pow_scalar": (lambda a: a ** 3 + a ** 2.0, [rand(2, 3)]),
    "pow_neg_scalar": (lambda a: a ** -1.5, [np.abs(rand(4, low=0.5))]),
    "rpow": (lambda a: 2.0 ** a, [rand(2, 3)]),
    "pow_tensor": (lambda a, b: a ** b, [np.abs(rand(3, 2, low=0.5)), rand(2)]),
    # matmul, numpy semantics
    "matmul_2d": (lambda a, b: a @ b, [rand(3, 4), rand(4, 5)]),
    "matmul_batched_bcast": (lambda a, b: a @ b, [rand(2, 3, 4), rand(4, 5)]),
    "matmul_batched_both": (lambda a, b: a @ b, [rand(3, 1, 2, 4), rand(5, 4, 2)]),
    "matmul_vec_mat": (lambda a, b: a @ b, [rand(4), rand(4, 3)]),
    "matmul_mat_vec": (lambda a, b: a @ b, [rand(3, 4), rand(4)]),
    "matmul_vec_vec": (lambda a, b: a @ b, [rand(4), rand(4)]),
    "matmul_vec_batched": (lambda a, b: a @ b, [rand(4), rand(2, 4, 3)]),
    "matmul_batched_vec": (lambda a, b: a @ b, [rand(2, 3, 4), rand(4)]),
    "rmatmul_array": (lambda b: np.ones((2, 3)) @ b, [rand(3, 4)]),
    # indexing
    "index_last_step": (lambda a: a[:, -1, :], [rand(2, 3, 4)]),
    "index_int": (lambda a: a[1], [rand(3, 4)]),
    "index_slices": (lambda a: a[::-2, 1:3], [rand(5, 4)]),
    "index_none_ellipsis": (lambda a: a[None, ..., 1], [rand(2, 3)]),
    "index_int_array_repeats": (lambda a: a[np.array([0, 2, 0, 0])], [rand(3, 2)]),
    "index_int_arrays_2d": (lambda a: a[np.array([0, 1, 1]), np.array([2, 0, 2])],
                            [rand(2, 3)]),
    "index_list": (lambda a: a[:, [1, 1, 0]], [rand(2, 3)]),
    "index_bool_mask": (lambda a: a[np.array([True, False, True])], [rand(3, 2)]),
    "index_bool_full": (lambda a: a[a.data > 0], [rand(3, 4)]),
    "index_tensor": (lambda a: a[rnnfast.tensor([2, 0])], [rand(3, 2)]),
    # shape
    "reshape": (lambda a: a.reshape(3, 4) * np.arange(4.0), [rand(2, 6)]),
    "reshape_tuple_view": (lambda a: a.view((4, -1)), [rand(2, 6)]),
    "transpose": (lambda a: a.transpose(0, 2), [rand(2, 3, 4)]),
    "permute": (lambda a: a.permute(2, 0, 1), [rand(2, 3, 4)]),
    "T": (lambda a: a.T @ np.ones((3, 2)), [rand(3, 4)]),
    "squeeze": (lambda a: a.squeeze(), [rand(3, 1, 2, 1)]),
    "squeeze_dim": (lambda a: a.squeeze(-1), [rand(3, 1, 2, 1)]),
    "unsqueeze": (lambda a: a.unsqueeze(1), [rand(3, 2)]),
    "flatten": (lambda a: a.flatten(), [rand(2, 3, 4)]),
    "flatten_range": (lambda a: a.flatten(1, 2), [rand(2, 3, 4, 2)]),
    "expand": (lambda a: a.expand(4, 3, -1), [rand(3, 1)]),
    "chunk": (lambda a: a.chunk(3, dim=1)[1] * a.chunk(3, dim=1)[2], [rand(2, 6)]),
    "clone": (lambda a: a.clone() * a, [rand(3)]),
    # reductions
    "sum_all": (lambda a: a.sum(), [rand(3, 4)]),
    "sum_dim": (lambda a: a.sum(1), [rand(3, 4, 2)]),
    "sum_dims_keepdim": (lambda a: a.sum((0, 2), keepdim=True), [rand(3, 4, 2)]),
    "mean_all": (lambda a: a.mean(), [rand(3, 4)]),
    "mean_neg_dim": (lambda a: a.mean(-1, keepdim=True), [rand(3, 4)]),
    "mean_dims": (lambda a: a.mean((0, 1)), [rand(3, 4, 2)]),
    "max_all": (lambda a: a.max(), [rand(3, 4)]),
    "max_dim": (lambda a: a.max(1).values, [rand(3, 4)]),
    "max_dim_keepdim": (lambda a: a.max(0, keepdim=True)[0], [rand(3, 4)]),
    "min_dim": (lambda a: a.min(-1).values, [rand(3, 4)]),
    "amax_dim": (lambda a: a.amax(1), [rand(3, 4)]),
    "amin_dims": (lambda a: a.amin((0, 1)), [rand(3, 4)]),
    # elementwise
    "exp": (lambda a: a.exp(), [rand(3, 2)]),
    "log": (lambda a: a.log(), [np.abs(rand(3, 2, low=0.5))]),
    "sqrt": (lambda a: a.sqrt(), [np.abs(rand(3, 2, low=0.5))]),
    "tanh": (lambda a: a.tanh(), [rand(3, 2)]),
    "sigmoid": (lambda a: a.sigmoid(), [rand(3, 2) * 3]),
    "relu": (lambda a: a.relu(), [rand(3, 4, low=0.1)]),
    "abs": (lambda a: abs(a) + a.abs(), [rand(3, 4, low=0.1)]),
    "clamp": (lambda a: a.clamp(-0.5, 0.7), [np.array([-2.0, -0.3, 0.1, 0.69, 1.5])]),
    "clamp_min": (lambda a: a.clamp(min=0.2), [np.array([-2.0, 0.1, 0.3, 1.5])]),
    "softmax": (lambda a: a.softmax(1), [rand(3, 4, 2)]),
    "softmax_last": (lambda a: a.softmax(-1), [rand(3, 5)]),
    "log_softmax": (lambda a: a.log_softmax(0), [rand(4, 3)]),
    "masked_fill": (lambda a: a.masked_fill(np.array([True, False, True]), 5.0),
                    [rand(2, 3)]),
    # functions of several tensors
    "cat": (lambda a, b: rnnfast.cat([a, b, a], dim=1), [rand(2, 3), rand(2, 1)]),
    "cat_neg_dim": (lambda a, b: rnnfast.cat((a, b), dim=-1), [rand(2, 2), rand(2, 3)]),
    "stack": (lambda a, b: rnnfast.stack([a, b], dim=1), [rand(2, 3), rand(2, 3)]),
    "stack_last": (lambda a, b: rnnfast.stack([a, b, a], dim=-1), [rand(3), rand(3)]),
    "where": (lambda a, b: rnnfast.where(a.data > 0, a, b), [rand(3, 4), rand(4)]),
    "where_scalar": (lambda a: rnnfast.where(a.data > 0, a * a, 0.0), [rand(3, 4)]),
    "where_tensor_cond": (lambda a, b: rnnfast.where(a > b, a, b), [rand(3, 4), rand(3, 1)]),
    "diamond": (lambda a: (a * 2).tanh() * (a * 2) + a, [rand(3)]),
}


@pytest.mark.parametrize("case", sorted(GRAD_CASES))
def test_gradient_matches_finite_differences(case):
    fn, inputs = GRAD_CASES[case]
    check_grad(fn, *inputs)


# --------------------------------------------------------------------------- values vs torch

TORCH_CASES = {
    "arith": (lambda m, a, b: (a * b - a / (b * b + 1.0) + 2.0) ** 2, [(3, 4), (4,)]),
    "matmul_batched": (lambda m, a, b: a @ b, [(2, 3, 4), (4, 5)]),
    "softmax": (lambda m, a: a.softmax(1), [(3, 4, 2)]),
    "log_softmax": (lambda m, a: a.log_softmax(-1), [(3, 5)]),
    "sigmoid_tanh_relu": (lambda m, a: a.sigmoid() + a.tanh() * a.relu(), [(3, 4)]),
    "reductions": (lambda m, a: a.sum(0) + a.mean(0) + a.max() * 0.5, [(4, 4)]),
    "indexing": (lambda m, a: a[:, -1, :] + a[[1, 1], 0], [(2, 3, 4)]),
    "shape": (lambda m, a: a.permute(2, 0, 1).reshape(4, 6).transpose(0, 1), [(2, 3, 4)]),
    "cat_stack": (lambda m, a, b: m.stack([m.cat([a, b], 0), m.cat([b, a], 0)], 1),
                  [(2, 3), (2, 3)]),
    "clamp_exp_log": (lambda m, a: a.clamp(-1, 1).exp() + (a * a + 1).log(), [(3, 3)]),
}


@pytest.mark.parametrize("case", sorted(TORCH_CASES))
def test_values_and_gradients_match_torch(case):
    torch = pytest.importorskip("torch")
    fn, shapes = TORCH_CASES[case]
    data = [RNG.standard_normal(s).astype(np.float32) for s in shapes]
    ours = [rnnfast.tensor(d, requires_grad=True) for d in data]
    theirs = [torch.tensor(d, requires_grad=True) for d in data]
    out, ref = fn(rnnfast, *ours), fn(torch, *theirs)
    if isinstance(ref, tuple):              # torch's max(dim) returns (values, indices)
        ref = ref[0]
    assert out.dtype == np.float32 and out.shape == tuple(ref.shape)
    np.testing.assert_allclose(out.data, ref.detach().numpy(), **tol(np.float32))
    cot = RNG.standard_normal(out.shape).astype(np.float32)
    out.backward(cot)
    ref.backward(torch.tensor(cot))
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a.grad, b.grad.numpy(), **tol(np.float32))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_large_2d_matmul_on_rnnfast_gemm_matches_torch(dtype, monkeypatch):
    """2-D products from _OWN_GEMM_MIN multiply-adds run on rnnfast's GEMM, forward and both
    backward products, strided (transposed) operands included; mixed dtypes stay NumPy's."""
    torch = pytest.importorskip("torch")
    import importlib
    tensor_module = importlib.import_module("rnnfast.tensor")   # rnnfast.tensor: the factory
    from rnnfast.tensor import _OWN_GEMM_MIN
    calls = []

    class CountingCore:                  # rnnfast._core, counting its matmul calls
        def matmul(self, a, b, out):
            calls.append(a.shape)
            return core.matmul(a, b, out)
    core = tensor_module._core
    monkeypatch.setattr(tensor_module, "_core", CountingCore())
    M, K, N = 70, 80, 60
    assert M * K * N >= _OWN_GEMM_MIN
    data = [RNG.standard_normal(s).astype(dtype) for s in ((M, K), (N, K))]
    ours = [rnnfast.tensor(d, requires_grad=True) for d in data]
    theirs = [torch.tensor(d, requires_grad=True) for d in data]
    outs = [(a @ w.t(), a.t() @ a) for a, w in (ours, theirs)]
    for o, r in zip(*outs):
        assert o.dtype == dtype
        np.testing.assert_allclose(o.data, r.detach().numpy(), **tol(dtype))
    cots = [RNG.standard_normal(o.shape).astype(dtype) for o in outs[0]]
    sum((o * c).sum() for o, c in zip(outs[0], cots)).backward()
    sum((o * torch.tensor(c)).sum() for o, c in zip(outs[1], cots)).backward()
    for o, r in zip(ours, theirs):
        np.testing.assert_allclose(o.grad, r.grad.numpy(), **tol(dtype))
    assert len(calls) == 2 + 4                 # two forward products, two backward each
    mixed = ours[0] @ rnnfast.tensor(data[1].T.astype(np.float64 if dtype == np.float32
                                                      else np.float32))
    assert mixed.dtype == np.float64 and len(calls) == 6


def test_torch_max_with_dim_torch_style():
    # max(dim) returns (values, indices) as torch's does
    torch = pytest.importorskip("torch")
    d = RNG.standard_normal((3, 4)).astype(np.float32)
    values, indices = rnnfast.tensor(d).max(1)
    np.testing.assert_array_equal(values.data, torch.tensor(d).max(1)[0])
    np.testing.assert_array_equal(indices.data, torch.tensor(d).max(1).indices)
    np.testing.assert_array_equal(rnnfast.tensor(d).argmax(1).data, torch.tensor(d).argmax(1))


# ------------------------------------------------------------------------------- engine rules


def test_broadcast_gradients_have_input_shapes():
    a = rnnfast.tensor(np.ones((3, 1)), requires_grad=True)
    b = rnnfast.tensor(np.ones(4), requires_grad=True)
    c = rnnfast.tensor(2.0, requires_grad=True)
    ((a + b) * c).sum().backward()
    assert a.grad.shape == (3, 1) and b.grad.shape == (4,) and c.grad.shape == ()
    np.testing.assert_array_equal(a.grad, np.full((3, 1), 8.0))
    np.testing.assert_array_equal(b.grad, np.full(4, 6.0))
    assert c.grad == 24.0


def test_unbroadcast():
    g = np.ones((2, 3, 4))
    np.testing.assert_array_equal(unbroadcast(g, (3, 1)), np.full((3, 1), 8.0))
    np.testing.assert_array_equal(unbroadcast(g, ()), np.array(24.0))
    assert unbroadcast(g, (2, 3, 4)) is g
    with pytest.raises(ValueError):
        unbroadcast(g, (5,))


def test_gradients_accumulate_across_backward_calls():
    x = rnnfast.tensor([1.0, 2.0], requires_grad=True)
    (x * x).sum().backward()
    (3 * x).sum().backward()
    np.testing.assert_allclose(x.grad, [2 + 3, 4 + 3])
    x.grad = None
    (x * 1.0).sum().backward()
    np.testing.assert_allclose(x.grad, [1, 1])


def test_tensor_used_twice_sums_gradients():
    x = rnnfast.tensor([3.0], requires_grad=True)
    y = x * x
    (y + y * x).sum().backward()         # d/dx (x^2 + x^3) = 2x + 3x^2
    np.testing.assert_allclose(x.grad, [6 + 27])


def test_second_backward_through_freed_graph_raises():
    x = rnnfast.tensor([1.0, 2.0], requires_grad=True)
    y = (x * x).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="backward through the graph a second time"):
        y.backward()
    z = x * 2                              # a fresh graph still works
    z.sum().backward()
    np.testing.assert_allclose(x.grad, [2 + 2, 4 + 2])


def test_backward_through_freed_shared_subgraph_raises():
    x = rnnfast.tensor([1.0, 2.0], requires_grad=True)
    h = x.tanh()
    h.sum().backward()
    with pytest.raises(RuntimeError, match="second time"):
        (h * 2).sum().backward()


def test_retain_graph_allows_second_backward():
    x = rnnfast.tensor([1.0, 2.0], requires_grad=True)
    y = (x * x).sum()
    y.backward(retain_graph=True)
    y.backward()
    np.testing.assert_allclose(x.grad, [4, 8])


def test_backward_needs_grad_for_non_scalar_outputs():
    x = rnnfast.tensor([1.0, 2.0], requires_grad=True)
    y = x * 3
    with pytest.raises(RuntimeError, match="grad can be implicitly created only for scalar"):
        y.backward()
    with pytest.raises(RuntimeError, match="shape"):
        y.backward(np.ones(3))
    y.backward(rnnfast.tensor([1.0, -1.0]))
    np.testing.assert_allclose(x.grad, [3, -3])
    with pytest.raises(RuntimeError, match="does not require grad"):
        rnnfast.tensor([1.0]).backward()


def test_one_element_output_backward_without_grad():
    x = rnnfast.tensor([[2.0]], requires_grad=True)
    (x * x).backward()
    np.testing.assert_allclose(x.grad, [[4.0]])


def test_gradients_summed_over_many_uses():
    """Several contributions to one tensor's gradient are summed (in place, in arrays the walk
    owns): a 0-d leaf and intermediates stay ndarrays, and a gradient shared by two parents
    (add hands g to both) is never summed into."""
    x = rnnfast.tensor(2.0, requires_grad=True)
    y = x * 1.5
    (y * y + y * 3 + y).backward()             # d/dx = 1.5 (2y + 4)
    assert type(x.grad) is np.ndarray and x.grad.shape == ()
    np.testing.assert_allclose(x.grad, 1.5 * (2 * 3 + 4))
    x.grad = None
    (x * x + x * x + x).backward()
    assert type(x.grad) is np.ndarray
    np.testing.assert_allclose(x.grad, 4 * 2 + 1)
    torch = pytest.importorskip("torch")
    d = RNG.standard_normal((3, 4))
    grads = []
    for t in (rnnfast.tensor(d, requires_grad=True), torch.tensor(d, requires_grad=True)):
        u, v = t * 2, t.tanh()
        s = u + v                              # one g for both u and v
        out = (s * s).sum() + (u * v).sum() + (u + u * v + v).sum() + (s * u).sum()
        out.backward()
        grads.append(t.grad)
    np.testing.assert_allclose(grads[0], grads[1].numpy(), **tol(np.float64))


def test_deep_graph_has_no_recursion_limit():
    x = rnnfast.tensor(1.0, requires_grad=True)
    y = x
    for _ in range(5000):
        y = y * 1.0 + 0.001
    y.backward()
    np.testing.assert_allclose(x.grad, 1.0)


def test_intermediate_gradients_are_not_retained_and_leaves_are_leaves():
    x = rnnfast.tensor([1.0], requires_grad=True)
    h = x * 2
    h.sum().backward()
    assert x.is_leaf and not h.is_leaf and h.grad is None
    assert h.grad_fn == "MulBackward" and x.grad_fn is None
    assert rnnfast.tensor([1.0]).is_leaf


def test_gradient_is_cast_to_leaf_dtype():
    a = rnnfast.tensor([1.0, 2.0], requires_grad=True)                      # float32
    b = rnnfast.tensor(np.array([0.5, 0.25]), requires_grad=True)            # float64
    y = a * b
    assert y.dtype == np.float64
    y.sum().backward()
    assert a.grad.dtype == np.float32 and b.grad.dtype == np.float64
    np.testing.assert_allclose(a.grad, [0.5, 0.25])


def test_differentiable_casts():
    a = rnnfast.tensor(np.array([1.0, 2.0]), requires_grad=True)
    f = a.float()
    assert f.dtype == np.float32 and a.double() is a and a.to("float64") is a
    (f * f).sum().backward()
    assert a.grad.dtype == np.float64
    np.testing.assert_allclose(a.grad, [2, 4])
    assert a.astype(np.float32).dtype == np.float32
    i = a.long()
    assert i.dtype == np.int64 and not i.requires_grad


# ------------------------------------------------------------------------------------ no_grad


def test_no_grad_context_manager():
    x = rnnfast.tensor([1.0], requires_grad=True)
    assert rnnfast.is_grad_enabled()
    with rnnfast.no_grad():
        assert not rnnfast.is_grad_enabled()
        y = x * 2
        with enable_grad():
            z = x * 2
        assert not rnnfast.is_grad_enabled()
    assert rnnfast.is_grad_enabled()
    assert not y.requires_grad and y.is_leaf
    assert z.requires_grad


def test_no_grad_decorator_restores_mode_after_exceptions():
    x = rnnfast.tensor([1.0], requires_grad=True)

    @rnnfast.no_grad()
    def f(t):
        return t * 2

    @rnnfast.no_grad()
    def g():
        raise KeyError("boom")

    assert not f(x).requires_grad and f.__name__ == "f"
    with pytest.raises(KeyError):
        g()
    assert rnnfast.is_grad_enabled() and (x * 2).requires_grad


def test_no_grad_is_per_thread():
    seen = []
    with rnnfast.no_grad():
        t = threading.Thread(target=lambda: seen.append(rnnfast.is_grad_enabled()))
        t.start()
        t.join()
    assert seen == [True]


# ------------------------------------------------------------------------ dtypes, conversion


def test_dtype_rules():
    assert rnnfast.tensor([1.0, 2.0]).dtype == np.float32
    assert rnnfast.tensor(1.5).dtype == np.float32
    assert rnnfast.tensor(np.zeros(2)).dtype == np.float64
    assert rnnfast.tensor(np.zeros(2, np.float32)).dtype == np.float32
    assert rnnfast.tensor(np.float64(1.0)).dtype == np.float64
    assert rnnfast.tensor([1, 2]).dtype == np.int64
    assert rnnfast.tensor(3).dtype == np.int64
    assert rnnfast.tensor([True, False]).dtype == np.bool_
    assert rnnfast.tensor([1, 2], dtype=np.float64).dtype == np.float64
    assert rnnfast.Tensor(np.zeros(2), dtype="float32").dtype == np.float32
    assert rnnfast.Tensor(np.zeros(2)).dtype == np.float32     # torch.Tensor: always float32
    assert rnnfast.Tensor([1, 2]).dtype == np.float32
    # a float scalar is 'weak': it keeps a float32 tensor float32
    x = rnnfast.tensor([1.0])
    assert (x * 2.5).dtype == np.float32 and (np.float64(2.5) * x).dtype == np.float32
    assert (rnnfast.tensor([1, 2]) * 2).dtype == np.int64
    assert (rnnfast.tensor([1, 2]) * 2.5).dtype == np.float64       # NumPy's promotion
    assert (rnnfast.tensor([True]) + 1).dtype == np.int64


def test_integer_tensors_cannot_require_grad():
    with pytest.raises(RuntimeError, match="floating point"):
        rnnfast.tensor([1, 2], requires_grad=True)
    t = rnnfast.tensor([1, 2])
    with pytest.raises(RuntimeError, match="floating point"):
        t.requires_grad = True


@pytest.mark.parametrize("bad", [["a", "b"], "text", None, np.array([object()]),
                                 {"a": 1}, [1 + 2j]])
def test_non_numeric_data_raises_type_error(bad):
    with pytest.raises(TypeError, match="data"):
        rnnfast.tensor(bad)


def test_ragged_data_raises_value_error():
    with pytest.raises(ValueError, match="data"):
        rnnfast.tensor([[1.0, 2.0], [3.0]])


def test_tensor_copies_and_as_tensor_shares():
    arr = np.zeros(3, np.float32)
    t = rnnfast.tensor(arr)
    arr[0] = 1
    assert t.data[0] == 0
    s = as_tensor(arr)
    arr[1] = 2
    assert s.data[1] == 2
    assert as_tensor(t) is t and as_tensor(t, dtype=np.float64) is t
    assert as_tensor([1.0], dtype=np.float64).dtype == np.float64
    with pytest.raises(TypeError, match="x"):
        as_tensor(["x"], name="x")


def test_numpy_interop():
    t = rnnfast.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    a = np.asarray(t)
    assert a is t.data and t.numpy() is t.data
    assert np.asarray(t, dtype=np.float64).dtype == np.float64
    np.testing.assert_array_equal(np.exp(t), np.exp(t.data))
    r = np.ones(2) + t                # ndarray on the left defers to the tensor
    assert isinstance(r, Tensor) and r.requires_grad
    assert isinstance(np.ones(2) @ t, Tensor)
    assert isinstance(np.ones(2) < t, Tensor)


def test_scalar_and_container_protocols():
    t = rnnfast.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    assert len(t) == 2 and t.shape == (2, 3) and t.size() == (2, 3) and t.size(-1) == 3
    assert t.ndim == 2 and t.dim() == 2 and t.numel() == 6 and t.T.shape == (3, 2)
    assert [r.shape for r in t] == [(3,), (3,)]
    assert t[1, 2].item() == 6.0 and isinstance(t[1, 2].item(), float)
    assert float(t[0, 0]) == 1.0 and int(t[1, 0]) == 4 and bool(t[0, 0])
    assert t.tolist() == [[1, 2, 3], [4, 5, 6]]
    with pytest.raises(ValueError, match="one-element"):
        t.item()
    with pytest.raises(TypeError, match="0-d"):
        len(rnnfast.tensor(1.0))


def test_repr():
    assert repr(rnnfast.tensor([1.0, 2.0], requires_grad=True)) == \
        "tensor([1., 2.], requires_grad=True)"
    assert repr(rnnfast.tensor([1, 2])) == "tensor([1, 2])"
    assert repr(rnnfast.tensor(np.array([0.5]))) == "tensor([0.5], dtype=float64)"
    x = rnnfast.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    assert repr(x * 2) == "tensor([[2., 4.],\n        [6., 8.]], grad_fn=<MulBackward>)"


def test_grad_attribute_rules():
    x = rnnfast.tensor([1.0, 2.0], requires_grad=True)
    x.grad = np.array([1, 1])                  # cast to the tensor's dtype
    assert x.grad.dtype == np.float32
    (x * 1.0).sum().backward()
    np.testing.assert_array_equal(x.grad, [2, 2])
    with pytest.raises(RuntimeError, match="shape"):
        x.grad = np.zeros(3)
    x.grad = None
    assert x.grad is None
    y = x * 2
    with pytest.raises(RuntimeError, match="leaf"):
        y.requires_grad = False


def test_detach_shares_data_without_history():
    x = rnnfast.tensor([1.0, 2.0], requires_grad=True)
    d = (x * 2).detach()
    assert not d.requires_grad and d.is_leaf
    e = x.detach()
    e.data[0] = 5
    assert x.data[0] == 5


def test_comparisons_return_bool_tensors_without_grad():
    x = rnnfast.tensor([1.0, 2.0, 3.0], requires_grad=True)
    for r in (x > 1.5, x >= 2, x < 2, x <= 2, x == 2, x != 2, x > rnnfast.tensor([0.0, 5, 1])):
        assert r.dtype == np.bool_ and not r.requires_grad
    np.testing.assert_array_equal((x > 1.5).data, [False, True, True])
    np.testing.assert_array_equal((~(x > 1.5) | (x == 3)).data, [True, False, True])
    assert len({x, x}) == 1                      # hashable by identity


def test_sigmoid_and_softmax_are_stable():
    big = np.array([-1e30, -1e4, -50.0, 0.0, 50.0, 1e4, 1e30], dtype=np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        s = rnnfast.tensor(big, requires_grad=True).sigmoid()
        s.sum().backward()
        ls = rnnfast.tensor([[1e4, 0.0, -1e4]], requires_grad=True).log_softmax(1)
        sm = rnnfast.tensor([[1e30, 0.0, -1e30]]).softmax(1)
    assert np.all(np.isfinite(s.data)) and np.all(np.isfinite(ls.data))
    np.testing.assert_allclose(s.data, [0, 0, 1.9287e-22, 0.5, 1, 1, 1], rtol=1e-4)
    np.testing.assert_allclose(sm.data, [[1, 0, 0]])
    np.testing.assert_allclose(ls.data, [[0, -1e4, -2e4]])


def test_masked_fill_and_where_checks():
    x = rnnfast.tensor([[1.0, 2.0], [3.0, 4.0]])
    np.testing.assert_array_equal(x.masked_fill(x > 2, -1.0).data, [[1, 2], [-1, -1]])
    with pytest.raises(TypeError, match="mask"):
        x.masked_fill(np.array([1, 0]), 0.0)
    with pytest.raises(TypeError, match="condition"):
        rnnfast.where(np.array([1, 0]), x, 0.0)


def test_dim_argument_errors():
    x = rnnfast.tensor(np.zeros((2, 3)))
    with pytest.raises(IndexError, match="dim"):
        x.sum(2)
    with pytest.raises(IndexError, match="dim"):
        x.softmax(-3)
    with pytest.raises(ValueError, match="permutation"):
        x.permute(0, 0)
    with pytest.raises(ValueError, match="non-empty"):
        rnnfast.cat([])


# ------------------------------------------------------------------- _make contract and seeds


def test_make_contract_for_custom_ops():
    a = rnnfast.tensor([1.0, 2.0], requires_grad=True)
    b = rnnfast.tensor([3.0, 4.0], requires_grad=True)
    calls = []

    def backward(g):
        calls.append(g.copy())
        return g * 10, None                   # no gradient for b

    y = _make(a.data + b.data, (a, b), backward)
    assert y.requires_grad and not y.is_leaf
    (y * y).sum().backward()
    np.testing.assert_allclose(a.grad, 10 * 2 * (a.data + b.data))
    assert b.grad is None and len(calls) == 1
    with rnnfast.no_grad():
        z = _make(a.data, (a,), backward)
    assert not z.requires_grad and z.is_leaf
    plain = _make(np.ones(2), (rnnfast.tensor([1.0, 2.0]),), backward)
    assert not plain.requires_grad


def test_make_rejects_misshapen_gradients():
    a = rnnfast.tensor([1.0, 2.0], requires_grad=True)
    y = _make(a.data * 2, (a,), lambda g: (np.ones(3),), name="Bad")
    with pytest.raises(RuntimeError, match="Bad"):
        y.sum().backward()


def test_manual_seed_reproducible_and_generator_identity():
    gen = default_generator()
    rnnfast.manual_seed(42)
    first = gen.random(5)
    assert rnnfast.manual_seed(42) is gen
    np.testing.assert_array_equal(default_generator().random(5), first)
    with pytest.raises(TypeError, match="seed"):
        rnnfast.manual_seed(1.5)
    with pytest.raises(ValueError, match="seed"):
        rnnfast.manual_seed(-1)
