"""The torch-shaped porting surface: rnnfast's top-level names, Tensor methods, DataLoader
batches, nn containers, LayerNorm, packed sequences, devices and torch's warnings, each checked
against torch itself for the same calls (values, dtypes, shapes, gradients, errors); and
tutorial-style programs that run unchanged when only their imports change (demo tests at the
end execute one source text with ``torch`` bound to torch and to rnnfast and compare the
losses).
"""

import warnings

import numpy as np
import pytest

import rnnfast
from rnnfast import nn
from rnnfast.nn.utils import rnn as rnn_utils

from _problems import FD_EPS, FD_TOL, tol

RNG = np.random.default_rng(14)


@pytest.fixture
def torch():
    return pytest.importorskip("torch")


def np_of(t):
    """A torch tensor's (or rnnfast tensor's) values as a NumPy array."""
    if isinstance(t, rnnfast.Tensor):
        return t.numpy()
    return t.detach().numpy()


def assert_same(ours, theirs, dtype=np.float64):
    """Same shape, same dtype, same values (to the dtype's named tolerance)."""
    a, b = np_of(ours), np_of(theirs)
    assert a.shape == b.shape, (a.shape, b.shape)
    assert a.dtype == b.dtype, (a.dtype, b.dtype)
    if a.dtype.kind == "f":
        np.testing.assert_allclose(a, b, **tol(a.dtype))
    else:
        np.testing.assert_array_equal(a, b)


def grads_match(fn_ours, fn_theirs, torch, *arrays):
    """Run fn on float64 leaves in both libraries; compare outputs and, for a fixed random
    cotangent, every input's gradient."""
    ours = [rnnfast.tensor(a, requires_grad=True) for a in arrays]
    theirs = [torch.tensor(a, requires_grad=True) for a in arrays]
    yo, yt = fn_ours(*ours), fn_theirs(*theirs)
    assert_same(yo, yt)
    cot = np.random.default_rng(3).standard_normal(yo.shape)
    (yo * cot).sum().backward()
    (yt * torch.tensor(cot)).sum().backward()
    for o, t in zip(ours, theirs):
        np.testing.assert_allclose(o.grad, t.grad.numpy(), **tol(np.float64))


# ----------------------------------------------------------------------------------------------
# Top level: dtypes and creation.


def test_dtype_names_are_torchs(torch):
    for name in ("float32", "float", "float64", "double", "float16", "half", "int64", "long",
                 "int32", "int", "int16", "short", "int8", "uint8", "bool"):
        want = torch.zeros(1, dtype=getattr(torch, name)).numpy().dtype
        assert getattr(rnnfast, name) == want, name
    assert rnnfast.get_default_dtype() == np.float32
    assert rnnfast.zeros(2, dtype=rnnfast.long).dtype == rnnfast.int64


@pytest.mark.parametrize("call", [
    lambda m: m.zeros(2, 3), lambda m: m.zeros((2, 3)), lambda m: m.zeros([4]),
    lambda m: m.ones(3, dtype=m.long), lambda m: m.zeros(0, 2),
    lambda m: m.full((2, 2), 3), lambda m: m.full((2,), 1.5), lambda m: m.full((2,), True),
    lambda m: m.full((3,), 7, dtype=m.float64),
    lambda m: m.arange(5), lambda m: m.arange(2, 9, 3), lambda m: m.arange(0, 1, 0.25),
    lambda m: m.arange(5.0), lambda m: m.arange(10, 0, -3), lambda m: m.arange(3, dtype=m.float),
    lambda m: m.linspace(0, 1, 5), lambda m: m.eye(3), lambda m: m.eye(2, 4),
    lambda m: m.zeros_like(m.tensor([[1, 2]])), lambda m: m.ones_like(m.tensor([1.5])),
    lambda m: m.full_like(m.tensor([1, 2, 3]), 4),
    lambda m: m.zeros_like(m.tensor([1, 2]), dtype=m.float32),
])
def test_creation_matches_torch(torch, call):
    assert_same(call(rnnfast), call(torch))


def test_empty_and_uninitialised_constructors_have_torchs_shape_and_dtype(torch):
    for ours, theirs in [(rnnfast.empty(2, 3), torch.empty(2, 3)),
                         (rnnfast.empty((4,), dtype=rnnfast.long), torch.empty((4,),
                                                                              dtype=torch.long)),
                         (rnnfast.Tensor(2, 3), torch.Tensor(2, 3)),
                         (rnnfast.Tensor(3), torch.Tensor(3)),
                         (rnnfast.Tensor(), torch.Tensor()),
                         (rnnfast.LongTensor(2, 2), torch.LongTensor(2, 2)),
                         (rnnfast.empty_like(rnnfast.zeros(2, 1)), torch.empty_like(
                             torch.zeros(2, 1)))]:
        assert ours.shape == tuple(theirs.shape)
        assert ours.dtype == theirs.numpy().dtype


@pytest.mark.parametrize("data", [
    [[1, 0]], [1.5, 2], [True, False], 3, 2.5, [[1, 2.5]], np.arange(3),
    np.arange(3, dtype=np.int32), np.ones(2), np.ones(2, np.float32), np.float64(1.0),
    [[True, 1]], np.array([1, 2], np.uint8),
])
def test_tensor_infers_and_Tensor_is_float32_as_torch(torch, data):
    assert_same(rnnfast.tensor(data), torch.tensor(data))
    if np.ndim(data) > 0:
        assert_same(rnnfast.Tensor(data), torch.Tensor(data))


def test_typed_constructors_cast_as_torch(torch):
    for name in ("FloatTensor", "DoubleTensor", "LongTensor", "IntTensor", "BoolTensor",
                 "ByteTensor"):
        for data in ([1, 0, 2], [[1.7, -2.2]], np.array([3, 4], np.int32)):
            if name == "ByteTensor" and np.min(data) < 0:
                continue
            ours, theirs = getattr(rnnfast, name)(data), getattr(torch, name)(data)
            assert_same(ours, theirs)
            assert isinstance(ours, getattr(rnnfast, name))
            assert isinstance(ours, rnnfast.Tensor)
    assert not isinstance(rnnfast.tensor([1.0]), rnnfast.LongTensor)
    assert not isinstance(np.zeros(2, np.int64), rnnfast.LongTensor)


def test_constructor_errors_are_clear():
    with pytest.raises(TypeError, match="data must be a sequence"):
        rnnfast.Tensor(2.5)
    with pytest.raises(TypeError, match="sizes"):
        rnnfast.Tensor(2, [3])
    with pytest.raises(ValueError, match="non-negative"):
        rnnfast.Tensor(2, -1)
    with pytest.raises(TypeError, match="size"):
        rnnfast.zeros(2.0)
    with pytest.raises(TypeError, match="non-numeric"):
        rnnfast.tensor(["a"])


def test_from_numpy_shares_memory_and_dtype(torch):
    a = np.arange(6, dtype=np.int32).reshape(2, 3)
    t, tt = rnnfast.from_numpy(a), torch.from_numpy(a.copy())
    assert_same(t, tt)
    a[0, 0] = 9
    assert t[0, 0].item() == 9                  # shared, as torch.from_numpy
    t[1, 2] = -1
    assert a[1, 2] == -1
    with pytest.raises(TypeError, match="np.ndarray"):
        rnnfast.from_numpy([1, 2])
    x = np.ones(3, np.float32)
    assert rnnfast.as_tensor(x).numpy() is x    # as_tensor shares too
    assert rnnfast.is_tensor(t) and not rnnfast.is_tensor(a)
    assert rnnfast.numel(rnnfast.zeros(2, 5)) == 10


def test_random_factories_shapes_dtypes_ranges_and_seeding(torch):
    rnnfast.manual_seed(0)
    first = [rnnfast.randn(3, 4), rnnfast.rand((2, 5)), rnnfast.randint(5, (100,)),
             rnnfast.randint(3, 7, (2, 50)), rnnfast.randperm(10),
             rnnfast.randn_like(rnnfast.zeros(2, 2)), rnnfast.rand_like(rnnfast.ones(3)),
             rnnfast.randint_like(rnnfast.zeros(4), 10)]
    theirs = [torch.randn(3, 4), torch.rand((2, 5)), torch.randint(5, (100,)),
              torch.randint(3, 7, (2, 50)), torch.randperm(10), torch.randn_like(torch.zeros(2, 2)),
              torch.rand_like(torch.ones(3)), torch.randint_like(torch.zeros(4), 10)]
    for o, t in zip(first, theirs):
        assert o.shape == tuple(t.shape) and o.dtype == t.numpy().dtype
    u, a, b, p = first[1].numpy(), first[2].numpy(), first[3].numpy(), first[4].numpy()
    assert 0 <= u.min() and u.max() < 1
    assert set(a.tolist()) == set(range(5))             # 100 draws hit every value of 5
    assert b.min() >= 3 and b.max() <= 6
    assert sorted(p.tolist()) == list(range(10))
    rnnfast.manual_seed(0)
    again = rnnfast.randn(3, 4)
    np.testing.assert_array_equal(again.numpy(), first[0].numpy())
    assert rnnfast.randn(2, requires_grad=True).requires_grad
    with pytest.raises(TypeError, match="floating point"):
        rnnfast.randn(2, dtype=rnnfast.long)
    with pytest.raises(ValueError, match="low < high"):
        rnnfast.randint(3, 3, (2,))
    with pytest.raises(TypeError, match="generator"):
        rnnfast.randn(2, generator=torch.Generator())
    g1, g2 = np.random.default_rng(5), np.random.default_rng(5)
    np.testing.assert_array_equal(rnnfast.rand(4, generator=g1).numpy(),
                                  rnnfast.rand(4, generator=g2).numpy())


def test_multinomial_draws_by_weight_with_and_without_replacement(torch):
    rnnfast.manual_seed(1)
    w = rnnfast.tensor([1.0, 0.0, 3.0])
    draws = rnnfast.multinomial(w, 4000, replacement=True)
    assert draws.dtype == torch.multinomial(torch.tensor([1.0, 0.0, 3.0]), 2).numpy().dtype
    counts = np.bincount(draws.numpy(), minlength=3) / 4000
    assert counts[1] == 0
    assert abs(counts[2] - 0.75) < 0.03                 # binomial sd ~0.007: 4 sd
    rows = rnnfast.multinomial(rnnfast.tensor([[0.0, 1.0, 2.0], [1.0, 1.0, 1.0]]), 2)
    assert rows.shape == (2, 2)
    assert sorted(rows[0].tolist()) == [1, 2]           # no repeats, no zero-weight category
    assert len(set(rows[1].tolist())) == 2
    one = rnnfast.multinomial(rnnfast.softmax(rnnfast.tensor([0.0, 50.0]), dim=0), 1)
    assert one.shape == (1,) and one.item() == 1
    with pytest.raises(ValueError, match="without replacement"):
        rnnfast.multinomial(rnnfast.tensor([1.0, 1.0]), 3)
    with pytest.raises(ValueError, match="non-zero weight"):
        rnnfast.multinomial(rnnfast.tensor([1.0, 0.0]), 2)
    with pytest.raises(ValueError, match="non-negative"):
        rnnfast.multinomial(rnnfast.tensor([1.0, -1.0]), 1)
    with pytest.raises(TypeError, match="floating point"):
        rnnfast.multinomial(rnnfast.tensor([1, 2]), 1)


# ----------------------------------------------------------------------------------------------
# Functional forms and Tensor methods, against torch.

X34 = RNG.standard_normal((3, 4))
XTIE = np.array([[1.0, 3.0, 3.0, 0.0], [2.0, 0.0, 2.0, -1.0], [0.5, 0.5, 0.5, 0.5]])


_OPS = [
    ("max_dim", lambda m, x: m.max(x, 1)[0]),
    ("max_dim_keepdim", lambda m, x: m.max(x, dim=0, keepdim=True).values),
    ("max_all", lambda m, x: m.max(x)),
    ("min_dim", lambda m, x: x.min(-1)[0]),
    ("min_all", lambda m, x: x.min()),
    ("amax", lambda m, x: m.amax(x, 1)),
    ("softmax", lambda m, x: m.softmax(x, dim=1)),
    ("log_softmax", lambda m, x: m.log_softmax(x, 0)),
    ("topk", lambda m, x: m.topk(x, 2, dim=1)[0]),
    ("topk_smallest", lambda m, x: x.topk(3, dim=0, largest=False).values),
    ("sort", lambda m, x: m.sort(x, dim=1, descending=True)[0]),
    ("cumsum", lambda m, x: m.cumsum(x, dim=1)),
    ("index_select", lambda m, x: m.index_select(x, 1, m.tensor([3, 0, 3]))),
    ("gather", lambda m, x: m.gather(x, 1, m.tensor([[0, 0], [1, 3], [2, 1]]))),
    ("repeat", lambda m, x: x.repeat(2, 1, 3)),
    ("flatten", lambda m, x: m.flatten(x.unsqueeze(0), 1)),
    ("transpose", lambda m, x: m.transpose(x, 0, 1)),
    ("t", lambda m, x: x.t() * 1),
    ("narrow", lambda m, x: x.narrow(1, 1, 2)),
    ("split", lambda m, x: x.split([1, 3], dim=1)[1]),
    ("split_size", lambda m, x: m.split(x, 3, dim=1)[1]),
    ("maximum", lambda m, x: m.maximum(x, x * 0.5)),
    ("max_other", lambda m, x: m.max(x, x[:1] * 0.3)),
    ("bmm", lambda m, x: m.bmm(x.unsqueeze(0), x.t().unsqueeze(0))),
    ("mm", lambda m, x: m.mm(x, x.t())),
    ("exp_log", lambda m, x: m.log(m.exp(x) + 1)),
    ("tanh_sigmoid", lambda m, x: m.tanh(x) * m.sigmoid(x)),
    ("sum_mean", lambda m, x: m.sum(x, 1) + m.mean(x, dim=0)[:3]),
    ("sum_keepdim", lambda m, x: m.sum(x, dim=(0, 1), keepdim=True)),
    ("view_permute", lambda m, x: x.view(2, 6).reshape(3, 2, 2).permute(2, 0, 1).contiguous()),
    ("squeeze_unsqueeze", lambda m, x: m.squeeze(m.unsqueeze(x, 1), 1).unsqueeze(-1)),
    ("expand_as", lambda m, x: x[:, :1].expand_as(x) * x),
    ("masked_fill", lambda m, x: x.masked_fill(x > 0.5, -1.0)),
    ("clamp", lambda m, x: m.clamp(x, min=-0.5, max=0.5)),
    ("abs_sqrt_pow", lambda m, x: m.sqrt(m.abs(x) + 1) ** 2),
    ("add_alpha", lambda m, x: x.add(x * x, alpha=0.5).sub(x, alpha=2).mul(3).div(2)),
    ("std", lambda m, x: m.std(x)),
    ("var_dim", lambda m, x: x.var(1) + x.var(dim=1, correction=0)),
    ("std_keepdim", lambda m, x: x.std(0, unbiased=False, keepdim=True)),
    ("norm", lambda m, x: m.norm(x)),
    ("norm_p", lambda m, x: x.norm(1, dim=1) + x.norm(3, dim=1)),
    ("piecewise", lambda m, x: m.round(x * 3) + m.floor(x) + m.ceil(x) + m.sign(x) + x),
]


# Tied values for every op but topk and sort, whose order of tied entries torch leaves open.
@pytest.mark.parametrize("name,fn,data", [
    (name, fn, data) for data in ("random", "ties") for name, fn in _OPS
    if not (data == "ties" and name.startswith(("topk", "sort")))])
def test_ops_values_and_gradients_match_torch(torch, name, fn, data):
    x = X34 if data == "random" else XTIE
    grads_match(lambda a: fn(rnnfast, a), lambda a: fn(torch, a), torch, x)


@pytest.mark.parametrize("fn", [
    lambda m, x: m.max(x, 1)[1], lambda m, x: x.min(0).indices, lambda m, x: m.argmax(x),
    lambda m, x: m.argmax(x, dim=1), lambda m, x: x.argmin(1, keepdim=True),
    lambda m, x: m.eq(x, x[0]), lambda m, x: x.ne(0.5),
    lambda m, x: (x > 0).all(1), lambda m, x: m.any(x > 2.5), lambda m, x: x.lt(x * 2),
    lambda m, x: (m.argmax(x, 1) == m.tensor([1, 0, 0])).sum(),
    lambda m, x: (m.argmax(x, 1) == m.tensor([1, 0, 0])).float().mean(),
    lambda m, x: x.long(), lambda m, x: x.int(), lambda m, x: x.bool(), lambda m, x: x.double(),
    lambda m, x: x.float(), lambda m, x: x.to(m.long), lambda m, x: x.to(dtype=m.int32),
    lambda m, x: x.type(m.int64), lambda m, x: x.type_as(m.tensor([1])),
    lambda m, x: x.long().cumsum(0), lambda m, x: m.max(x.long(), 1).values,
    lambda m, x: m.full_like(x, 2),
])
def test_integer_and_index_results_match_torch(torch, fn):
    # XTIE holds ties: indices are the first maximal / minimal entry, as torch on the CPU
    assert_same(fn(rnnfast, rnnfast.tensor(XTIE)), fn(torch, torch.tensor(XTIE)))


@pytest.mark.parametrize("fn", [
    lambda m, x: m.topk(x, 2)[1], lambda m, x: x.topk(1, dim=0, largest=False).indices,
    lambda m, x: m.sort(x, 0, descending=True)[1], lambda m, x: m.argsort(x, dim=1),
    lambda m, x: m.sort(x.long() * 0 + m.tensor([3, 1, 2, 5]), dim=1).values,
])
def test_sort_and_topk_indices_match_torch(torch, fn):
    # distinct values (torch leaves the order of ties unspecified)
    assert_same(fn(rnnfast, rnnfast.tensor(X34)), fn(torch, torch.tensor(X34)))


_IDX = np.array([2, 0, 2, -1, 2, 1, 0])           # repeats and a negative index
_IDXP = np.array([2, 0, 2, 3, 2, 1, 0])           # index_select: torch takes no negatives
_MASK = np.array([[True, False, True], [False, False, False], [True, True, True],
                  [False, True, False]])
# (name, input shape, gather: fn(x, T) with T making the library's tensor from NumPy data,
#  np_index: the NumPy index of __getitem__ cases, for the np.add.at oracle)
GATHER_CASES = [
    ("rows", (4, 3), lambda x, T: x[T(_IDX)], _IDX),
    ("rows_3d", (4, 2, 3), lambda x, T: x[T(_IDX)], _IDX),
    ("rows_2d_index", (4, 3), lambda x, T: x[T(_IDX[:6].reshape(3, 2))], _IDX[:6].reshape(3, 2)),
    ("rows_ellipsis", (4, 2, 3), lambda x, T: x[T(_IDX), ...], (_IDX, Ellipsis)),
    ("rows_slice", (4, 3), lambda x, T: x[T(_IDX), :], (_IDX, slice(None))),
    ("list", (4, 3), lambda x, T: x[[2, 0, 2, 2]], [2, 0, 2, 2]),
    ("vector", (4,), lambda x, T: x[T(_IDX)], _IDX),
    ("columns", (3, 4), lambda x, T: x[:, T(_IDX)], (slice(None), _IDX)),
    ("pairs", (4, 4), lambda x, T: x[T(_IDX), T(_IDX[::-1].copy())], (_IDX, _IDX[::-1])),
    ("mask", (4, 3), lambda x, T: x[T(_MASK)], _MASK),
    ("int_and_array", (4, 3), lambda x, T: x[T(_IDX), 1], (_IDX, 1)),
    ("index_select0", (4, 3), lambda x, T: x.index_select(0, T(_IDXP)), None),
    ("index_select1", (3, 2, 4), lambda x, T: x.index_select(2, T(_IDXP)), None),
    ("gather0", (4, 3), lambda x, T: x.gather(0, T(np.array([[0, 3, 3], [3, 3, 0]]))), None),
    ("gather1", (3, 4), lambda x, T: x.gather(1, T(np.array([[0, 0, 3], [2, 2, 2]]))), None),
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name,shape,fn,np_index", GATHER_CASES,
                         ids=[c[0] for c in GATHER_CASES])
def test_gather_gradients_sum_repeats_as_torch(torch, name, shape, fn, np_index, dtype):
    """The backward of indexing, index_select and gather (a scatter-add: the C++ row scatter
    or one bincount) against torch, and for indexing against np.add.at: bitwise in float64
    (both add each position's terms in order)."""
    data = RNG.standard_normal(shape).astype(dtype)
    xo = rnnfast.tensor(data, requires_grad=True)
    xt = torch.tensor(data, requires_grad=True)
    yo, yt = fn(xo, rnnfast.tensor), fn(xt, torch.tensor)
    assert_same(yo, yt)
    cot = RNG.standard_normal(yo.shape).astype(dtype)
    (yo * cot).sum().backward()
    (yt * torch.tensor(cot)).sum().backward()
    assert xo.grad.dtype == np.dtype(dtype)
    np.testing.assert_allclose(xo.grad, xt.grad.numpy(), **tol(dtype))
    if np_index is not None:
        ref = np.zeros(shape, dtype)
        np.add.at(ref, np_index, cot)
        if dtype == np.float64:
            np.testing.assert_array_equal(xo.grad, ref)
        else:
            np.testing.assert_allclose(xo.grad, ref, **tol(dtype))
    # float16 (no C++ kernel): the float64 sums of the same terms, rounded once
    x16 = rnnfast.tensor(data.astype(np.float16), requires_grad=True)
    fn(x16, rnnfast.tensor).backward(rnnfast.tensor(cot.astype(np.float16)))
    x64 = rnnfast.tensor(data.astype(np.float16).astype(np.float64), requires_grad=True)
    fn(x64, rnnfast.tensor).backward(rnnfast.tensor(cot.astype(np.float16).astype(np.float64)))
    assert x16.grad.dtype == np.float16
    np.testing.assert_array_equal(x16.grad, x64.grad.astype(np.float16))


def test_embedding_of_a_float16_table_sums_repeats_in_float64():
    """F.embedding on a table the C++ kernel does not take (float16): the gradient is the
    float64 sum of the same terms, rounded once; the padding row gets none."""
    table = RNG.standard_normal((5, 3)).astype(np.float16)
    idx = np.array([[4, 1, 4], [0, 4, 2]])
    cot = RNG.standard_normal((2, 3, 3)).astype(np.float16)
    w16 = rnnfast.tensor(table, requires_grad=True)
    out = nn.functional.embedding(rnnfast.tensor(idx), w16, padding_idx=2)
    np.testing.assert_array_equal(out.numpy(), table[idx])
    out.backward(rnnfast.tensor(cot))
    ref = np.zeros((5, 3))
    np.add.at(ref, idx, cot.astype(np.float64))
    ref[2] = 0
    assert w16.grad.dtype == np.float16
    np.testing.assert_array_equal(w16.grad, ref.astype(np.float16))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_large_row_scatters_are_deterministic_and_equal_add_at(dtype):
    """Large enough for the C++ scatter to split rows over threads: 1 and 2 threads give the
    same bits as np.add.at (rows summed in order of the indices), for indexing and for
    EmbeddingBag's forward and backward."""
    rng = np.random.default_rng(5)
    V, D, n = 300, 64, 20000
    idx = rng.integers(-V, V, n)
    table = rng.standard_normal((V, D)).astype(dtype)
    cot = rng.standard_normal((n, D)).astype(dtype)
    ref = np.zeros((V, D), dtype)
    np.add.at(ref, idx, cot)
    bag_idx = rng.integers(0, V, n)
    offsets = np.sort(rng.choice(np.arange(1, n), 99, replace=False))
    offsets = np.concatenate([[0], offsets])
    seg = np.searchsorted(offsets, np.arange(n), side="right") - 1
    bag_ref = np.zeros((100, D), dtype)
    np.add.at(bag_ref, seg, table[bag_idx])
    bag_cot = rng.standard_normal((100, D)).astype(dtype)
    bag_gref = np.zeros((V, D), dtype)
    np.add.at(bag_gref, bag_idx, bag_cot[seg])
    old = rnnfast.get_num_threads()
    try:
        for threads in (1, 2):
            rnnfast.set_num_threads(threads)
            x = rnnfast.tensor(table, requires_grad=True)
            x[rnnfast.tensor(idx)].backward(rnnfast.tensor(cot))
            np.testing.assert_array_equal(x.grad, ref)
            w = rnnfast.tensor(table, requires_grad=True)
            out = nn.functional.embedding_bag(rnnfast.tensor(bag_idx), w,
                                              rnnfast.tensor(offsets), mode="sum")
            np.testing.assert_array_equal(out.numpy(), bag_ref)
            out.backward(rnnfast.tensor(bag_cot))
            np.testing.assert_array_equal(w.grad, bag_gref)
    finally:
        rnnfast.set_num_threads(old)


def test_max_forms_and_return_types(torch):
    x = rnnfast.tensor(XTIE)
    r = rnnfast.max(x, 1)
    assert type(r).__name__ == type(torch.max(torch.tensor(XTIE), 1)).__name__ == "max"
    values, indices = r
    assert r.values is values and r.indices is indices
    assert x.max().shape == () and isinstance(x.max().item(), float)
    assert rnnfast.topk(x, 1).indices.shape == (3, 1)
    top_v, top_i = x[0].topk(1)
    assert ["a", "b", "c", "d"][top_i[0].item()] == "b"
    assert ["a", "b", "c", "d"][top_i[0]] == "b"     # integer tensors index lists (__index__)
    with pytest.raises(TypeError, match="index"):
        [1, 2][rnnfast.tensor([1.0])]
    with pytest.raises(TypeError, match="keepdim"):
        x.max(keepdim=True)
    with pytest.raises(TypeError, match="dim"):
        x.max(1.5)
    with pytest.raises(IndexError, match="out of range"):
        x.max(2)
    with pytest.raises(IndexError, match="size 0"):
        rnnfast.zeros(2, 0).max(1)
    with pytest.raises(IndexError, match="k"):
        x.topk(5)


def test_size_dim_and_shape_methods_match_torch(torch):
    o, t = rnnfast.zeros(2, 3, 4), torch.zeros(2, 3, 4)
    assert o.size() == tuple(t.size()) and o.size(0) == t.size(0) and o.size(-1) == t.size(-1)
    assert o.dim() == t.dim() and o.numel() == t.numel() and o.nelement() == t.nelement()
    assert o.shape == rnnfast.Size([2, 3, 4]) and rnnfast.Size([2, 3]).numel() == 6
    assert o.is_floating_point() and not o.long().is_floating_point()
    assert o.transpose(0, 1).contiguous().is_contiguous()
    assert not o.transpose(0, 1).is_contiguous()
    assert o.view(6, -1).shape == tuple(t.view(6, -1).shape)
    assert o.view_as(rnnfast.zeros(24)).shape == (24,)
    assert o.new_zeros(2, 2).dtype == np.float32 and o.new_ones((3,)).shape == (3,)
    assert o.new_full((2,), 7).numpy().tolist() == [7.0, 7.0]
    assert o.new_tensor([1, 2]).dtype == np.float32
    assert o.type() == t.type().replace("torch", "rnnfast")
    assert o.long().type() == t.long().type().replace("torch", "rnnfast")
    with pytest.raises(IndexError, match="out of range"):
        o.size(3)


def test_dataloader_style_batches_work_with_numpy_functions():
    t = rnnfast.tensor([[1.0, 2.0], [3.0, 4.0]])
    assert np.asarray(t) is t.numpy()
    np.testing.assert_array_equal(np.exp(t), np.exp(t.numpy()))
    np.testing.assert_array_equal(np.concatenate([t, t]), np.concatenate([t.numpy()] * 2))
    labels = np.array(["a", "b", "c"])
    assert labels[rnnfast.tensor([2, 0])].tolist() == ["c", "a"]
    assert labels[rnnfast.tensor(1)] == "b"
    assert list(range(rnnfast.tensor(3))) == [0, 1, 2]
    # rnnfast's own helpers take the tensors that DataLoaders yield
    from rnnfast import datasets
    xtr, xte = datasets.train_test_split(rnnfast.arange(10), test_size=0.3, seed=0)
    assert isinstance(xtr, rnnfast.Tensor) and sorted(xtr.tolist() + xte.tolist()) == \
        list(range(10))
    np.testing.assert_array_equal(
        rnnfast.data.pad_sequences([rnnfast.tensor([1, 2, 3]), rnnfast.tensor([4])]),
        [[1, 2, 3], [0, 0, 4]])
    y, h_n, _, _ = rnnfast.functional.forward(
        "gru", rnnfast.ones(2, 1, 3), rnnfast.ones(6, 3), rnnfast.ones(6, 2), training=False,
        lengths=rnnfast.tensor([2]))
    yr, h_r = rnnfast.reference.forward("gru", np.ones((2, 1, 3), np.float32),
                                        np.ones((6, 3), np.float32), np.ones((6, 2), np.float32),
                                        lengths=np.array([2]))[:2]
    np.testing.assert_allclose(y, yr, **tol(np.float32))


# ----------------------------------------------------------------------------------------------
# In-place writes: values, gradients and the checks torch makes.


def test_item_assignment_builds_inputs_as_in_the_char_rnn_tutorial(torch):
    def line_to_tensor(m, line):
        t = m.zeros(len(line), 1, 5)
        for i, ch in enumerate(line):
            t[i][0][ord(ch) - ord("a")] = 1
        return t
    assert_same(line_to_tensor(rnnfast, "cabed"), line_to_tensor(torch, "cabed"))
    o, t = rnnfast.zeros(3, 4), torch.zeros(3, 4)
    for m, x in ((rnnfast, o), (torch, t)):
        x[1] = 2.0
        x[:, 2] = m.tensor([1.0, 2.0, 3.0])
        x[0, 0] = x[1, 0] + 5
        x[x > 2.5] = -1.0
        x[2].fill_(0.5)
        x[0, 1:3].zero_()
    assert_same(o, t)
    assert_same(rnnfast.zeros(2, 3).unsqueeze_(0), torch.zeros(2, 3).unsqueeze_(0))
    assert_same(rnnfast.zeros(2, 1).squeeze_(1), torch.zeros(2, 1).squeeze_(1))
    assert_same(rnnfast.empty(1, 3, dtype=rnnfast.long).fill_(7),
                torch.empty(1, 3, dtype=torch.long).fill_(7))
    assert_same(rnnfast.zeros(2, 2).copy_(rnnfast.tensor([1.0, 2.0])),
                torch.zeros(2, 2).copy_(torch.tensor([1.0, 2.0])))
    o, t = rnnfast.zeros(3), torch.zeros(3)
    o[1].fill_(4.0)                  # an element is a 0-d view, as in torch
    t[1].fill_(4.0)
    assert_same(o, t)


def test_writing_tensors_that_require_grad_records_the_write(torch):
    # the old seq2seq tutorial: encoder_outputs[ei] = encoder_output[0, 0]
    h = RNG.standard_normal(3)
    w = RNG.standard_normal((4, 3))

    def fn(m, hv, wv):
        outs = m.zeros(4, 3, dtype=m.float64)
        for i in range(4):
            outs[i] = m.tanh(hv * wv[i])
        outs[1:3, 0] = outs[1:3, 0] * 2       # a write into a tensor with history
        return outs * outs[:, :1]
    grads_match(lambda a, b: fn(rnnfast, a, b), lambda a, b: fn(torch, a, b), torch, h, w)


def test_inplace_writes_that_would_corrupt_a_gradient_raise(torch):
    w = rnnfast.tensor([1.0, 2.0], requires_grad=True)
    c = rnnfast.tensor([3.0, 4.0])
    z = (w * c).sum()
    c[0] = 10.0                      # MulBackward needs c's old values
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        z.backward()
    w2 = rnnfast.tensor([1.0, 2.0], requires_grad=True)
    c2 = rnnfast.tensor([[3.0, 4.0]])
    z2 = (w2 * c2[0]).sum()          # c2[0] is a view: a write through c2 is seen
    c2[0, 1] = 5.0
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        z2.backward()
    w3 = rnnfast.tensor([1.0, 2.0], requires_grad=True)
    c3 = rnnfast.tensor([3.0, 4.0])
    z3 = (w3 + c3).sum()             # addition saves nothing: a later write is harmless
    c3[0] = 10.0
    z3.backward()
    np.testing.assert_array_equal(w3.grad, [1.0, 1.0])
    with pytest.raises(RuntimeError, match="leaf tensor that requires grad"):
        w3[0] = 1.0
    with rnnfast.no_grad():          # allowed under no_grad, as in torch
        w3[0] = 5.0
        w3.fill_(1.0).uniform_(-1, 1)
    with pytest.raises(RuntimeError, match="leaf tensor that requires grad"):
        w3.zero_()
    y = w3.reshape(1, 2) * 2
    with pytest.raises(RuntimeError, match="view"):
        y[0][1] = 3.0                # a write through a view of a tensor with history
    row = y[0]
    y[0, 1] = w3[0]                  # y gets new history; row, taken before, has none of it
    with pytest.raises(RuntimeError, match="view taken before"):
        row * 2
    with pytest.raises(RuntimeError, match="in-place shape changes"):
        y.unsqueeze_(0)
    # torch raises for the same misuse
    tw = torch.tensor([1.0, 2.0], requires_grad=True)
    tc = torch.tensor([3.0, 4.0])
    tz = (tw * tc).sum()
    tc[0] = 10.0
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        tz.backward()


def test_inplace_arithmetic_matches_torch(torch):
    def fn(m, x, w):
        loss = m.Tensor([0]).double()           # the char-RNN tutorial's accumulator
        for i in range(3):
            loss += (x * w[i]).sum()
        h = m.zeros(3, dtype=m.float64)
        h += x
        h *= w[0]
        h -= x * 0.5
        h /= 2.0
        h.add_(w[1], alpha=-0.5).sub_(w[2], alpha=2).mul_(1.5).div_(3.0)
        return h * loss
    grads_match(lambda a, b: fn(rnnfast, a, b), lambda a, b: fn(torch, a, b), torch,
                RNG.standard_normal(3), RNG.standard_normal((3, 3)))
    for m in (rnnfast, torch):                 # an SGD step written by hand
        p = m.nn.Parameter(m.ones(2))
        (p * m.tensor([1.0, 2.0])).sum().backward()
        grad = p.grad if m is torch else m.from_numpy(p.grad)
        alias = p
        with m.no_grad():
            p -= 0.1 * grad
            p.add_(grad, alpha=-0.5)
        assert alias is p and np.allclose(np_of(p), [0.4, -0.2])
        with pytest.raises(RuntimeError, match="leaf"):
            p += 1.0
        t = m.zeros(3, dtype=m.long)
        with pytest.raises(RuntimeError):
            t += 1.5                            # a float cannot go into an int tensor in place
        t += 2
        assert t.tolist() == [2, 2, 2]
    with pytest.raises(RuntimeError, match="broadcast shape"):
        v = rnnfast.zeros(2)
        v += rnnfast.ones(3, 2)


def test_small_torch_habits_work(torch):
    assert f"{rnnfast.tensor(2.5):.2f}" == f"{torch.tensor(2.5):.2f}" == "2.50"
    assert f"{rnnfast.tensor([0.125]):.1%}" == f"{torch.tensor([0.125]).item():.1%}"
    nn.LSTM(2, 3).flatten_parameters()
    rnnfast.backends.cudnn.deterministic = True
    assert not rnnfast.backends.mps.is_available() and not rnnfast.backends.cudnn.is_available()
    assert_same(nn.functional.one_hot(rnnfast.tensor([0, 2, 1])),
                torch.nn.functional.one_hot(torch.tensor([0, 2, 1])))
    assert_same(nn.functional.one_hot(rnnfast.tensor([[1], [0]]), 4),
                torch.nn.functional.one_hot(torch.tensor([[1], [0]]), 4))
    with pytest.raises(ValueError, match="num_classes"):
        nn.functional.one_hot(rnnfast.tensor([3]), 2)
    z = rnnfast.zeros(3, requires_grad=True)
    z.norm().backward()                  # the gradient of a norm at zero is zero, as torch's
    np.testing.assert_array_equal(z.grad, np.zeros(3))
    rnnfast.use_deterministic_algorithms(True)
    assert rnnfast.are_deterministic_algorithms_enabled()
    rnnfast.use_deterministic_algorithms(False)


# ----------------------------------------------------------------------------------------------
# Devices and grad mode.


def test_cpu_device_is_accepted_and_others_raise_clearly(torch):
    x = rnnfast.zeros(2)
    assert x.device == rnnfast.device("cpu") and str(x.device) == str(torch.zeros(2).device)
    assert repr(rnnfast.device("cpu")) == repr(torch.device("cpu"))
    assert str(rnnfast.device("cuda", 1)) == str(torch.device("cuda", 1)) == "cuda:1"
    assert x.to("cpu") is x and x.cpu() is x and not x.is_cuda
    assert x.to(rnnfast.device("cpu"), rnnfast.float64).dtype == np.float64
    assert x.to("cpu", copy=True) is not x
    assert rnnfast.zeros(2, device="cpu").shape == (2,)
    assert rnnfast.tensor([1], device=rnnfast.device("cpu")).dtype == np.int64
    assert rnnfast.cuda.is_available() is torch.cuda.is_available() is False
    assert rnnfast.cuda.device_count() == 0
    assert not rnnfast.accelerator.is_available()
    device = rnnfast.device("cuda" if rnnfast.cuda.is_available() else "cpu")
    model = nn.Linear(2, 2).to(device)
    assert model.to("cpu") is model and model.cpu() is model
    assert model.to(rnnfast.float64).weight.dtype == np.float64
    for bad in ("cuda", "cuda:0", rnnfast.device("mps"), 0):
        with pytest.raises(ValueError, match="CPU only"):
            x.to(bad)
        with pytest.raises(ValueError, match="CPU only"):
            model.to(bad)
    with pytest.raises(ValueError, match="CPU only"):
        x.cuda()
    with pytest.raises(ValueError, match="CPU only"):
        model.cuda()
    for obj, name in ((x, "Tensor"), (model, "Module")):  # torch: "must be cuda device"
        for cpu in ("cpu", rnnfast.device("cpu")):
            with pytest.raises(ValueError, match=rf"device: {name}\.cuda\(\) expects a CUDA"):
                obj.cuda(cpu)
    with pytest.raises(RuntimeError, match="must be cuda device"):
        torch.zeros(1).cuda("cpu")
    t = rnnfast.zeros(2)
    assert t.requires_grad_(requires_grad=True) is t and t.requires_grad  # torch's keyword
    assert not t.requires_grad_(False).requires_grad
    with pytest.raises(ValueError, match="CPU only"):
        rnnfast.zeros(2, device="cuda")
    with pytest.raises(ValueError, match="device string"):
        rnnfast.device("gpu")
    with pytest.raises(TypeError, match="float32 or float64"):
        model.to(rnnfast.long)


def test_modules_take_torchs_device_and_dtype_arguments(torch):
    """torch's constructors take device= (and Linear device, dtype positionally after bias): the
    CPU passes, another device raises as .to() does, and dtype=None is torch's float32."""
    assert nn.Linear(3, 4, True, "cpu").weight.dtype == np.float32
    assert torch.nn.Linear(3, 4, True, "cpu").weight.dtype == torch.float32
    assert nn.Linear(3, 4, device=rnnfast.device("cpu"), dtype=rnnfast.float64).weight.dtype \
        == np.float64
    made = [nn.RNN(3, 4, device="cpu"), nn.LSTM(3, 4, device="cpu"), nn.GRU(3, 4, device="cpu"),
            nn.RNNCell(3, 4, device="cpu"), nn.LSTMCell(3, 4, device="cpu"),
            nn.GRUCell(3, 4, device="cpu"), nn.Embedding(5, 3, device="cpu")]
    for m, t in zip(made, [torch.nn.RNN(3, 4, device="cpu"), torch.nn.LSTM(3, 4, device="cpu"),
                           torch.nn.GRU(3, 4, device="cpu"), torch.nn.RNNCell(3, 4, device="cpu"),
                           torch.nn.LSTMCell(3, 4, device="cpu"),
                           torch.nn.GRUCell(3, 4, device="cpu"),
                           torch.nn.Embedding(5, 3, device="cpu")]):
        assert {k: v.shape for k, v in m.state_dict().items()} == \
            {k: tuple(v.shape) for k, v in t.state_dict().items()}
    for make in (lambda: nn.Linear(3, 4, device="cuda"), lambda: nn.LSTM(3, 4, device="cuda:0"),
                 lambda: nn.GRUCell(3, 4, device="cuda")):
        with pytest.raises(ValueError, match="device: rnnfast runs on the CPU only"):
            make()
    with pytest.raises(TypeError, match="device: expected a device or a str"):
        nn.Linear(3, 4, True, np.float64)  # rnnfast's old positional dtype: now torch's device


def test_grad_mode_helpers():
    x = rnnfast.tensor([1.0], requires_grad=True)
    with rnnfast.set_grad_enabled(False):
        assert not (x * 2).requires_grad
    assert (x * 2).requires_grad
    rnnfast.set_grad_enabled(False)
    try:
        assert not rnnfast.is_grad_enabled()
    finally:
        rnnfast.set_grad_enabled(True)
    with rnnfast.inference_mode():
        assert not (x * 2).requires_grad
    with rnnfast.no_grad():
        with rnnfast.enable_grad():
            assert (x * 2).requires_grad


# ----------------------------------------------------------------------------------------------
# Data: batches are Tensors.


def test_dataloader_yields_tensors_like_torchs(torch):
    X = RNG.standard_normal((10, 3)).astype(np.float32)
    y = np.arange(10)
    from rnnfast.utils.data import DataLoader, TensorDataset
    ours = list(DataLoader(TensorDataset(X, y), batch_size=4))
    theirs = list(torch.utils.data.DataLoader(torch.utils.data.TensorDataset(
        torch.from_numpy(X), torch.from_numpy(y)), batch_size=4))
    assert len(ours) == len(theirs) == 3
    for (xo, yo), (xt, yt) in zip(ours, theirs):
        assert isinstance(xo, rnnfast.Tensor) and isinstance(yo, rnnfast.Tensor)
        assert_same(xo, xt)
        assert_same(yo, yt)
        assert xo.size(0) == xt.size(0)
    sample = TensorDataset(X, y)[3]
    assert isinstance(sample[0], rnnfast.Tensor) and sample[1].item() == 3

    class Pairs(rnnfast.data.Dataset):          # a custom dataset of NumPy arrays and numbers
        def __len__(self):
            return 5

        def __getitem__(self, i):
            return np.full(2, i, np.float32), i, float(i) / 2

    for (a, b, c), (ta, tb, tc) in zip(
            rnnfast.data.DataLoader(Pairs(), batch_size=2),
            torch.utils.data.DataLoader(Pairs(), batch_size=2)):
        assert_same(a, ta)
        assert_same(b, tb)
        assert_same(c, tc)
    singles = list(rnnfast.data.DataLoader(Pairs(), batch_size=None))
    assert isinstance(singles[0][0], rnnfast.Tensor) and singles[0][1] == 0


def test_pad_collate_random_split_and_samplers():
    from rnnfast.data import DataLoader, RandomSampler, SequentialSampler, pad_collate
    seqs = [(np.ones(n, np.int64) * n, n % 2) for n in (3, 1, 4, 2)]
    padded, lengths, labels = pad_collate(seqs)
    assert all(isinstance(t, rnnfast.Tensor) for t in (padded, lengths, labels))
    assert padded.shape == (4, 4) and lengths.tolist() == [3, 1, 4, 2]
    rnnfast.manual_seed(3)
    parts = rnnfast.data.random_split(list(range(10)), [0.5, 0.3, 0.2])
    assert [len(p) for p in parts] == [5, 3, 2]
    assert sorted(i for p in parts for i in p) == list(range(10))
    parts = rnnfast.data.random_split(list(range(7)), [0.5, 0.5], generator=0)
    assert [len(p) for p in parts] == [4, 3]          # remainders go first, as torch
    with pytest.raises(ValueError, match="adding up"):
        rnnfast.data.random_split(list(range(10)), [3, 3])
    order = [int(b) for b in DataLoader(list(range(6)), batch_size=None,
                                        sampler=RandomSampler(range(6), generator=1))]
    assert sorted(order) == list(range(6))
    seq = [b.tolist() for b in DataLoader(list(range(5)), batch_size=2,
                                          sampler=SequentialSampler(range(5)))]
    assert seq == [[0, 1], [2, 3], [4]]
    with pytest.raises(ValueError, match="mutually exclusive"):
        DataLoader(list(range(5)), sampler=SequentialSampler(range(5)), shuffle=True)
    assert len(DataLoader(list(range(5)), batch_size=2, num_workers=2, pin_memory=True)) == 3


# ----------------------------------------------------------------------------------------------
# nn: containers, LayerNorm, init, warnings.


def test_module_list_and_dict_register_like_torch(torch):
    def build(m):
        class Net(m.nn.Module):
            def __init__(self):
                super().__init__()
                self.layers = m.nn.ModuleList([m.nn.Linear(3, 3) for _ in range(2)])
                self.layers.append(m.nn.Linear(3, 2))
                self.heads = m.nn.ModuleDict({"a": m.nn.Linear(2, 1), "b": m.nn.Linear(2, 4)})

            def forward(self, x):
                for layer in self.layers:
                    x = layer(x)
                return self.heads["b"](x)
        return Net()
    ours, theirs = build(rnnfast), build(torch)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in theirs.named_parameters()]
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    x = RNG.standard_normal((5, 3)).astype(np.float32)
    np.testing.assert_allclose(ours(x).numpy(), theirs(torch.tensor(x)).detach().numpy(),
                               **tol(np.float32))
    ml = ours.layers
    assert len(ml) == 3 and isinstance(ml[-1], nn.Linear) and len(ml[:2]) == 2
    del ml[0]
    assert list(ml._modules) == ["0", "1"]
    ml.insert(0, nn.Tanh())
    assert isinstance(ml[0], nn.Tanh) and len(ml) == 3
    md = ours.heads
    assert list(md.keys()) == ["a", "b"] and "a" in md and md.a is md["a"]
    assert isinstance(md.pop("a"), nn.Linear) and list(md) == ["b"]
    with pytest.raises(TypeError, match="Module"):
        ml.append(3)
    with pytest.raises(IndexError, match="out of range"):
        ml[5]
    with pytest.raises(NotImplementedError, match="forward"):
        ml(x)


@pytest.mark.parametrize("shape,normalized,affine,bias", [
    ((4, 6), 6, True, True), ((2, 3, 5), (3, 5), True, True), ((3, 4), [4], False, True),
    ((2, 5, 3), 3, True, False),
])
def test_layer_norm_matches_torch_values_and_gradients(torch, shape, normalized, affine, bias):
    t = torch.nn.LayerNorm(normalized, elementwise_affine=affine, bias=bias,
                           dtype=torch.float64)
    m = nn.LayerNorm(normalized, elementwise_affine=affine, bias=bias, dtype=np.float64)
    if affine:
        with torch.no_grad():
            for p in t.parameters():
                p.copy_(torch.tensor(RNG.standard_normal(tuple(p.shape))))
        m.load_state_dict({k: v.numpy() for k, v in t.state_dict().items()})
    assert list(m.state_dict()) == list(t.state_dict())
    x = RNG.standard_normal(shape) * 3 + 1
    xo, xt = rnnfast.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    yo, yt = m(xo), t(xt)
    assert_same(yo, yt)
    cot = RNG.standard_normal(shape)
    (yo * cot).sum().backward()
    (yt * torch.tensor(cot)).sum().backward()
    np.testing.assert_allclose(xo.grad, xt.grad.numpy(), **tol(np.float64))
    for (name, p), (_, q) in zip(m.named_parameters(), t.named_parameters()):
        np.testing.assert_allclose(p.grad, q.grad.numpy(), **tol(np.float64)), name
    assert repr(m).replace("rnnfast.", "") == repr(t)


def test_layer_norm_gradients_match_finite_differences():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((3, 2, 4))
    w, b = rng.standard_normal((2, 4)), rng.standard_normal((2, 4))
    cot = rng.standard_normal((3, 2, 4))

    def loss(xv, wv, bv):
        return float((nn.functional.layer_norm(rnnfast.tensor(xv), (2, 4), rnnfast.tensor(wv),
                                               rnnfast.tensor(bv), 1e-5).numpy() * cot).sum())
    leaves = [rnnfast.tensor(a, requires_grad=True) for a in (x, w, b)]
    (nn.functional.layer_norm(leaves[0], (2, 4), leaves[1], leaves[2]) * cot).sum().backward()
    arrays = [x, w, b]
    for k, leaf in enumerate(leaves):
        num = np.zeros_like(arrays[k])
        for i in np.ndindex(arrays[k].shape):
            plus = [a.copy() for a in arrays]
            minus = [a.copy() for a in arrays]
            plus[k][i] += FD_EPS
            minus[k][i] -= FD_EPS
            num[i] = (loss(*plus) - loss(*minus)) / (2 * FD_EPS)
        np.testing.assert_allclose(leaf.grad, num, **FD_TOL)


def test_layer_norm_errors():
    with pytest.raises(ValueError, match="normalized_shape"):
        nn.LayerNorm(0)
    with pytest.raises(ValueError, match=r"expected shape \(\*, 4\)"):
        nn.LayerNorm(4)(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="CPU only"):
        nn.LayerNorm(4, device="cuda")


def test_init_functions_follow_torchs_formulas():
    rnnfast.manual_seed(0)
    w = nn.Parameter(np.zeros((400, 300), np.float32))
    for fn, bound in [(nn.init.xavier_uniform_, np.sqrt(6 / 700)),
                      (lambda p: nn.init.kaiming_uniform_(p, a=np.sqrt(5)), 1 / np.sqrt(300)),
                      (lambda p: nn.init.uniform_(p, -0.1, 0.1), 0.1)]:
        out = fn(w)
        assert out is w and np.abs(w.numpy()).max() <= bound
        assert np.abs(w.numpy()).max() > 0.99 * bound       # the whole range is used
        assert abs(w.numpy().std() - bound / np.sqrt(3)) < 0.02 * bound
    nn.init.xavier_normal_(w, gain=nn.init.calculate_gain("tanh"))
    assert abs(w.numpy().std() - 5 / 3 * np.sqrt(2 / 700)) < 0.02 * 5 / 3 * np.sqrt(2 / 700)
    nn.init.orthogonal_(w)
    np.testing.assert_allclose(w.numpy().T @ w.numpy(), np.eye(300), atol=1e-4)
    nn.init.zeros_(w)
    assert not w.numpy().any()
    nn.init.constant_(w, 0.5)
    assert (w.numpy() == 0.5).all()
    assert w.requires_grad and w.grad is None
    with pytest.raises(ValueError, match="fan"):
        nn.init.xavier_uniform_(nn.Parameter(np.zeros(3, np.float32)))


@pytest.mark.parametrize("mode", ["sum", "mean", "max"])
@pytest.mark.parametrize("layout", ["offsets", "last_offset", "rows", "padding"])
def test_embedding_bag_matches_torch(torch, mode, layout):
    kw = dict(mode=mode)
    inp = np.array([1, 2, 4, 5, 4, 3, 2, 9])
    off = np.array([0, 4, 4, 6])              # bag 1 is empty
    if layout == "last_offset":
        kw["include_last_offset"] = True
        off = np.array([0, 4, 4, 6, 8])
    elif layout == "rows":
        inp, off = inp.reshape(2, 4), None
    elif layout == "padding":
        kw["padding_idx"] = 4
    t = torch.nn.EmbeddingBag(10, 3, dtype=torch.float64, **kw)
    m = nn.EmbeddingBag(10, 3, dtype=np.float64, **kw)
    assert list(m.state_dict()) == list(t.state_dict())
    if layout == "padding":
        assert not m.weight.numpy()[4].any()
    m.load_state_dict({k: v.detach().numpy() for k, v in t.state_dict().items()})
    psw = RNG.standard_normal(inp.shape) if mode == "sum" else None
    po = None if psw is None else rnnfast.tensor(psw, requires_grad=True)
    pt = None if psw is None else torch.tensor(psw, requires_grad=True)
    oo = None if off is None else rnnfast.tensor(off)
    ot = None if off is None else torch.tensor(off)
    yo, yt = m(rnnfast.tensor(inp), oo, per_sample_weights=po), t(torch.tensor(inp), ot,
                                                                    per_sample_weights=pt)
    assert_same(yo, yt)
    cot = RNG.standard_normal(tuple(yt.shape))
    (yo * cot).sum().backward()
    (yt * torch.tensor(cot)).sum().backward()
    np.testing.assert_allclose(m.weight.grad, t.weight.grad.numpy(), **tol(np.float64))
    if psw is not None:
        np.testing.assert_allclose(po.grad, pt.grad.numpy(), **tol(np.float64))


@pytest.mark.parametrize("cls", ["Embedding", "EmbeddingBag"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("freeze", [True, False])
@pytest.mark.parametrize("padding_idx", [None, 1, -2])
def test_from_pretrained_matches_torch(torch, cls, dtype, freeze, padding_idx):
    vectors = RNG.standard_normal((6, 3)).astype(dtype)        # the padding row is not zero
    src, tsrc = rnnfast.tensor(vectors.copy()), torch.tensor(vectors.copy())
    kw = dict(freeze=freeze, padding_idx=padding_idx)
    if cls == "EmbeddingBag":
        kw["mode"] = "sum"
    m = getattr(nn, cls).from_pretrained(src, **kw)
    t = getattr(torch.nn, cls).from_pretrained(tsrc, **kw)
    assert (m.num_embeddings, m.embedding_dim, m.padding_idx) == \
        (t.num_embeddings, t.embedding_dim, t.padding_idx)
    assert m.weight.requires_grad == t.weight.requires_grad == (not freeze)
    assert_same(m.weight, t.weight)                            # same dtype, rows kept as given
    assert np.shares_memory(m.weight.data, src.data)           # no copy, as torch's
    assert t.weight.data_ptr() == tsrc.data_ptr()
    assert list(m.state_dict()) == list(t.state_dict())
    idx = np.array([[1, 4, 1], [0, 5, 4]])
    yo, yt = m(rnnfast.tensor(idx)), t(torch.tensor(idx))
    assert_same(yo, yt)
    assert yo.requires_grad == yt.requires_grad == (not freeze)
    if not freeze:
        cot = RNG.standard_normal(tuple(yt.shape))
        (yo * cot).sum().backward()
        (yt * torch.tensor(cot, dtype=yt.dtype)).sum().backward()
        np.testing.assert_allclose(m.weight.grad, t.weight.grad.numpy(), **tol(dtype))
        if padding_idx is not None:
            assert not m.weight.grad[padding_idx].any()
        rnnfast.optim.SGD(m.parameters(), lr=0.5).step()
        torch.optim.SGD(t.parameters(), lr=0.5).step()
        assert_same(src, tsrc)                                  # trained through the share


def test_from_pretrained_errors(torch):
    w = rnnfast.randn(4, 3)
    tw = torch.randn(4, 3)
    for name in ("Embedding", "EmbeddingBag"):
        ours, theirs = getattr(nn, name), getattr(torch.nn, name)
        with pytest.raises(AssertionError, match="2-dimensional"):
            theirs.from_pretrained(tw[0])
        with pytest.raises(ValueError, match=r"embeddings: expected 2 dims .* got shape \(3,\)"):
            ours.from_pretrained(w[0])
        with pytest.raises(TypeError, match="embeddings: expected float32 or float64 data, "
                                            "got dtype int64"):
            ours.from_pretrained(rnnfast.ones(4, 3, dtype=rnnfast.long))
        with pytest.raises(ValueError, match="max_norm"):
            ours.from_pretrained(w, max_norm=1.0)
        with pytest.raises(ValueError, match="scale_grad_by_freq"):
            ours.from_pretrained(w, scale_grad_by_freq=True)
        with pytest.raises(AssertionError):
            theirs.from_pretrained(tw, padding_idx=4)
        with pytest.raises(ValueError, match=r"padding_idx: expected a value in \[-4, 3\], got 4"):
            ours.from_pretrained(w, padding_idx=4)
    with pytest.raises(ValueError, match="sparse"):
        nn.Embedding.from_pretrained(w, sparse=True)
    bag = nn.EmbeddingBag.from_pretrained(w, sparse=True)       # accepted: a dense gradient
    assert bag.sparse and bag(rnnfast.tensor([[0, 1]])).shape == (1, 3)
    with pytest.raises(ValueError, match=r"_weight: expected shape \(5, 3\)"):
        nn.Embedding(5, 3, _weight=w)


def test_embedding_bag_errors():
    bag = nn.EmbeddingBag(5, 2, mode="mean")
    with pytest.raises(ValueError, match="offsets: required"):
        bag(rnnfast.tensor([1, 2]))
    with pytest.raises(ValueError, match="offsets"):
        bag(rnnfast.tensor([1, 2]), rnnfast.tensor([1]))
    with pytest.raises(ValueError, match="per_sample_weights"):
        bag(rnnfast.tensor([1, 2]), rnnfast.tensor([0]), per_sample_weights=rnnfast.ones(2))
    with pytest.raises(IndexError, match="out of range"):
        bag(rnnfast.tensor([1, 7]), rnnfast.tensor([0]))
    with pytest.raises(ValueError, match="max_norm"):
        nn.EmbeddingBag(5, 2, max_norm=1.0)


@pytest.mark.parametrize("cls", ["RNN", "LSTM", "GRU"])
def test_dropout_on_one_layer_warns_as_torch(torch, cls):
    with warnings.catch_warnings(record=True) as ours:
        warnings.simplefilter("always")
        getattr(nn, cls)(3, 4, dropout=0.2)
    with warnings.catch_warnings(record=True) as theirs:
        warnings.simplefilter("always")
        getattr(torch.nn, cls)(3, 4, dropout=0.2)
    assert [str(w.message) for w in ours] == [str(w.message) for w in theirs]
    assert ours[0].category is theirs[0].category is UserWarning
    assert ours[0].filename == __file__        # points at the caller, not at rnnfast
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        getattr(nn, cls)(3, 4, num_layers=2, dropout=0.2)
        getattr(nn, cls)(3, 4)


# ----------------------------------------------------------------------------------------------
# Packed sequences.


def _twin(torch, cls, **kw):
    t = getattr(torch.nn, cls)(3, 5, dtype=torch.float64, **kw)
    m = getattr(nn, cls)(3, 5, dtype=np.float64, **kw)
    m.load_state_dict({k: v.detach().numpy() for k, v in t.state_dict().items()})
    return m, t


@pytest.mark.parametrize("cls", ["RNN", "LSTM", "GRU"])
@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_packed_sequences_through_recurrent_layers_match_torch(torch, cls, batch_first,
                                                               bidirectional):
    m, t = _twin(torch, cls, num_layers=2, batch_first=batch_first, bidirectional=bidirectional)
    lengths = [4, 6, 1, 6, 3]
    shape = (5, 7, 3) if batch_first else (7, 5, 3)
    x = RNG.standard_normal(shape)
    xo, xt = rnnfast.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    po = rnn_utils.pack_padded_sequence(xo, rnnfast.tensor(lengths), batch_first=batch_first,
                                        enforce_sorted=False)
    pt = torch.nn.utils.rnn.pack_padded_sequence(xt, torch.tensor(lengths),
                                                 batch_first=batch_first, enforce_sorted=False)
    for a, b in zip(po, pt):                     # data, batch_sizes, sorted/unsorted indices
        assert_same(a, b)
    out_o, state_o = m(po)
    out_t, state_t = t(pt)
    assert isinstance(out_o, rnn_utils.PackedSequence)
    assert_same(out_o.data, out_t.data)
    h_o, h_t = (state_o[0], state_t[0]) if cls == "LSTM" else (state_o, state_t)
    assert_same(h_o, h_t)
    pad_o, len_o = rnn_utils.pad_packed_sequence(out_o, batch_first=batch_first,
                                                 padding_value=-1.0, total_length=8)
    pad_t, len_t = torch.nn.utils.rnn.pad_packed_sequence(out_t, batch_first=batch_first,
                                                          padding_value=-1.0, total_length=8)
    assert_same(pad_o, pad_t)
    assert_same(len_o, len_t)
    cot_p = RNG.standard_normal(tuple(pad_t.shape))
    cot_h = RNG.standard_normal(tuple(h_t.shape))
    ((pad_o * cot_p).sum() + (h_o * cot_h).sum()).backward()
    ((pad_t * torch.tensor(cot_p)).sum() + (h_t * torch.tensor(cot_h)).sum()).backward()
    np.testing.assert_allclose(xo.grad, xt.grad.numpy(), **tol(np.float64))
    for (name, p), (_, q) in zip(m.named_parameters(), t.named_parameters()):
        np.testing.assert_allclose(p.grad, q.grad.numpy(), **tol(np.float64), err_msg=name)


def test_packed_data_gradient_and_sorted_batches_match_torch(torch):
    m, t = _twin(torch, "GRU")
    x = RNG.standard_normal((4, 3, 3))
    h0 = RNG.standard_normal((1, 3, 5))
    xo, xt = rnnfast.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    ho, ht = rnnfast.tensor(h0, requires_grad=True), torch.tensor(h0, requires_grad=True)
    po = rnn_utils.pack_padded_sequence(xo, [4, 2, 2])        # sorted: enforce_sorted default
    pt = torch.nn.utils.rnn.pack_padded_sequence(xt, [4, 2, 2])
    assert po.sorted_indices is None and pt.sorted_indices is None
    out_o, hn_o = m(po, ho)
    out_t, hn_t = t(pt, ht)
    cot = RNG.standard_normal(tuple(out_t.data.shape))
    ((out_o.data * cot).sum() + hn_o.sum()).backward()
    ((out_t.data * torch.tensor(cot)).sum() + hn_t.sum()).backward()
    np.testing.assert_allclose(xo.grad, xt.grad.numpy(), **tol(np.float64))
    np.testing.assert_allclose(ho.grad, ht.grad.numpy(), **tol(np.float64))
    # torch's fields rebuild the same PackedSequence
    again = rnn_utils.PackedSequence(out_o.data, out_o.batch_sizes)
    np.testing.assert_array_equal(again.padded.numpy(), out_o.padded.numpy())
    np.testing.assert_array_equal(again.lengths, [4, 2, 2])


def test_pad_sequence_and_pack_sequence_match_torch(torch):
    arrays = [RNG.standard_normal((n, 2)) for n in (3, 5, 1)]
    for kw in (dict(), dict(batch_first=True, padding_value=9.0),
               dict(batch_first=True, padding_side="left")):
        grads_match(lambda *s, kw=kw: rnn_utils.pad_sequence(list(s), **kw),
                    lambda *s, kw=kw: torch.nn.utils.rnn.pad_sequence(list(s), **kw), torch,
                    *arrays)
    po = rnn_utils.pack_sequence([rnnfast.tensor(a) for a in arrays], enforce_sorted=False)
    pt = torch.nn.utils.rnn.pack_sequence([torch.tensor(a) for a in arrays],
                                          enforce_sorted=False)
    for a, b in zip(po, pt):
        assert_same(a, b)
    for a, b in zip(rnn_utils.unpack_sequence(po), torch.nn.utils.rnn.unpack_sequence(pt)):
        assert_same(a, b)
    padded = rnn_utils.pad_sequence([rnnfast.tensor(a) for a in arrays])
    for a, b in zip(rnn_utils.unpad_sequence(padded, [3, 5, 1]), arrays):
        np.testing.assert_array_equal(a.numpy(), b)


def test_packing_errors_are_torchs():
    x = rnnfast.zeros(5, 3, 2)
    with pytest.raises(ValueError, match="sorted in decreasing order"):
        rnn_utils.pack_padded_sequence(x, [2, 5, 3])
    with pytest.raises(ValueError, match="greater than 0"):
        rnn_utils.pack_padded_sequence(x, [5, 0, 0])
    with pytest.raises(ValueError, match="exceeds"):
        rnn_utils.pack_padded_sequence(x, [6, 2, 1])
    with pytest.raises(ValueError, match="one length per sequence"):
        rnn_utils.pack_padded_sequence(x, [5, 2])
    with pytest.raises(TypeError, match="integer"):
        rnn_utils.pack_padded_sequence(x, [5.0, 2.0, 1.0])
    packed = rnn_utils.pack_padded_sequence(x, [5, 2, 1])
    with pytest.raises(ValueError, match="total_length"):
        rnn_utils.pad_packed_sequence(packed, total_length=4)
    with pytest.raises(ValueError, match="lengths"):
        nn.GRU(2, 3)(packed, lengths=[5, 2, 1])
    assert packed.to("cpu") is packed
    with pytest.raises(ValueError, match="CPU only"):
        packed.to("cuda")


# ----------------------------------------------------------------------------------------------
# save / load of a state_dict, torch-style.


def test_save_and_load_a_state_dict_with_torchs_call(tmp_path):
    model = nn.GRU(3, 4)
    rnnfast.save(model.state_dict(), tmp_path / "m.pt")
    other = nn.GRU(3, 4)
    other.load_state_dict(rnnfast.load(tmp_path / "m.pt", map_location="cpu",
                                       weights_only=True))
    np.testing.assert_array_equal(other.weight_hh_l0.numpy(), model.weight_hh_l0.numpy())
    with pytest.raises(ValueError, match="CPU only"):
        rnnfast.load(tmp_path / "m.pt", map_location="cuda:0")


# ----------------------------------------------------------------------------------------------
# Demo: tutorial-style programs that run with only their imports changed.

TORCH_IMPORTS = """\
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import optim
from torch.utils.data import DataLoader, TensorDataset, SequentialSampler
"""

RNNFAST_IMPORTS = """\
import numpy as np
import rnnfast as torch
import rnnfast.nn as nn
import rnnfast.nn.functional as F
from rnnfast import optim
from rnnfast.utils.data import DataLoader, TensorDataset, SequentialSampler
"""

# An Embedding + GRU classifier trained as the PyTorch tutorials do.
GRU_CLASSIFIER = """
class GRUClassifier(nn.Module):
    def __init__(self, vocab_size, embed_dim, hidden_size, num_classes):
        super().__init__()
        self.hidden_size = hidden_size
        self.embedding = nn.Embedding(vocab_size, embed_dim)
        self.gru = nn.GRU(embed_dim, hidden_size, batch_first=True)
        self.fc = nn.Linear(hidden_size, num_classes)

    def init_hidden(self, batch_size):
        return torch.zeros(1, batch_size, self.hidden_size)

    def forward(self, x):
        hidden = self.init_hidden(x.size(0))
        output, hidden = self.gru(self.embedding(x), hidden)
        return self.fc(output[:, -1, :])


def make_model():
    torch.manual_seed(0)
    return GRUClassifier(vocab_size=20, embed_dim=8, hidden_size=16, num_classes=3)


def train(model, X, y, epochs=3):
    dataset = TensorDataset(torch.from_numpy(X), torch.from_numpy(y))
    loader = DataLoader(dataset, batch_size=16, shuffle=False)
    criterion = nn.CrossEntropyLoss()
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    losses, accuracy = [], 0.0
    for epoch in range(epochs):
        correct, total = 0, 0
        for inputs, labels in loader:
            optimizer.zero_grad()
            output = model(inputs)
            loss = criterion(output, labels)
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
            _, predicted = output.max(1)
            total += labels.size(0)
            correct += (predicted == labels).sum().item()
        accuracy = correct / total
    model.eval()
    with torch.no_grad():
        probs = F.softmax(model(torch.from_numpy(X[:4])), dim=1)
    return losses, accuracy, probs.numpy()
"""

# The char-RNN name classifier of the PyTorch tutorial: one-hot inputs built by item
# assignment, nn.RNN, LogSoftmax + NLLLoss, topk, gradient clipping, SGD.
CHAR_RNN = """
all_letters = "abcdefghij"


def line_to_tensor(line):
    tensor = torch.zeros(len(line), 1, len(all_letters))
    for li, letter in enumerate(line):
        tensor[li][0][all_letters.find(letter)] = 1
    return tensor


class CharRNN(nn.Module):
    def __init__(self, input_size, hidden_size, output_size):
        super(CharRNN, self).__init__()
        self.rnn = nn.RNN(input_size, hidden_size)
        self.h2o = nn.Linear(hidden_size, output_size)
        self.softmax = nn.LogSoftmax(dim=1)

    def forward(self, line_tensor):
        rnn_out, hidden = self.rnn(line_tensor)
        output = self.h2o(hidden[0])
        return self.softmax(output)


def make_model():
    return CharRNN(len(all_letters), 12, 2)


def train(model, names, labels, epochs=2):
    criterion = nn.NLLLoss()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
    losses, guesses = [], []
    for epoch in range(epochs):
        for name, label in zip(names, labels):
            label_tensor = torch.tensor([label], dtype=torch.long)
            output = model(line_to_tensor(name))
            loss = criterion(output, label_tensor)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 3)
            optimizer.step()
            optimizer.zero_grad()
            losses.append(loss.item())
            top_n, top_i = output.topk(1)
            guesses.append(["even", "odd"][top_i[0].item()])
    return losses, guesses
"""


# The text-classification tutorial: EmbeddingBag over offsets built by a collate_fn, SGD with
# StepLR, gradient clipping, accuracy from argmax.
TEXT_CLASSIFICATION = """
device = torch.device("cuda" if torch.cuda.is_available() else "cpu")


class TextClassificationModel(nn.Module):
    def __init__(self, vocab_size, embed_dim, num_class):
        super(TextClassificationModel, self).__init__()
        self.embedding = nn.EmbeddingBag(vocab_size, embed_dim, sparse=False)
        self.fc = nn.Linear(embed_dim, num_class)
        self.init_weights()

    def init_weights(self):
        initrange = 0.5
        nn.init.uniform_(self.embedding.weight, -initrange, initrange)
        nn.init.uniform_(self.fc.weight, -initrange, initrange)
        nn.init.zeros_(self.fc.bias)

    def forward(self, text, offsets):
        embedded = self.embedding(text, offsets)
        return self.fc(embedded)


def collate_batch(batch):
    label_list, text_list, offsets = [], [], [0]
    for _label, _text in batch:
        label_list.append(_label)
        processed_text = torch.tensor(_text, dtype=torch.int64)
        text_list.append(processed_text)
        offsets.append(processed_text.size(0))
    label_list = torch.tensor(label_list, dtype=torch.int64)
    offsets = torch.tensor(offsets[:-1]).cumsum(dim=0)
    text_list = torch.cat(text_list)
    return label_list.to(device), text_list.to(device), offsets.to(device)


def make_model():
    return TextClassificationModel(30, 8, 2).to(device)


def train(model, dataset, epochs=3):
    dataloader = DataLoader(dataset, batch_size=8, shuffle=False, collate_fn=collate_batch)
    criterion = torch.nn.CrossEntropyLoss()
    optimizer = torch.optim.SGD(model.parameters(), lr=5)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, 1, gamma=0.5)
    losses, accuracies = [], []
    for epoch in range(epochs):
        model.train()
        total_acc, total_count = 0, 0
        for idx, (label, text, offsets) in enumerate(dataloader):
            optimizer.zero_grad()
            predicted_label = model(text, offsets)
            loss = criterion(predicted_label, label)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 0.1)
            optimizer.step()
            total_acc += (predicted_label.argmax(1) == label).sum().item()
            total_count += label.size(0)
            losses.append(loss.item())
        accuracies.append(total_acc / total_count)
        scheduler.step()
    return losses, accuracies
"""


# The seq2seq translation tutorial: GRU encoder, Bahdanau attention written out with Linear,
# tanh, softmax and bmm, a decoding loop with teacher forcing and topk, a DataLoader over
# LongTensors with a sampler, NLLLoss, two Adam optimizers. (Dropout is switched off by eval()
# so both libraries compute the same numbers.)
SEQ2SEQ_ATTENTION = """
MAX_LENGTH = 6
SOS_token, EOS_token = 0, 1
device = torch.device("cuda" if torch.cuda.is_available() else "cpu")

class EncoderRNN(nn.Module):
    def __init__(self, input_size, hidden_size, dropout_p=0.1):
        super(EncoderRNN, self).__init__()
        self.hidden_size = hidden_size
        self.embedding = nn.Embedding(input_size, hidden_size)
        self.gru = nn.GRU(hidden_size, hidden_size, batch_first=True)
        self.dropout = nn.Dropout(dropout_p)

    def forward(self, input):
        embedded = self.dropout(self.embedding(input))
        output, hidden = self.gru(embedded)
        return output, hidden

class BahdanauAttention(nn.Module):
    def __init__(self, hidden_size):
        super(BahdanauAttention, self).__init__()
        self.Wa = nn.Linear(hidden_size, hidden_size)
        self.Ua = nn.Linear(hidden_size, hidden_size)
        self.Va = nn.Linear(hidden_size, 1)

    def forward(self, query, keys):
        scores = self.Va(torch.tanh(self.Wa(query) + self.Ua(keys)))
        scores = scores.squeeze(2).unsqueeze(1)
        weights = F.softmax(scores, dim=-1)
        context = torch.bmm(weights, keys)
        return context, weights

class AttnDecoderRNN(nn.Module):
    def __init__(self, hidden_size, output_size, dropout_p=0.1):
        super(AttnDecoderRNN, self).__init__()
        self.embedding = nn.Embedding(output_size, hidden_size)
        self.attention = BahdanauAttention(hidden_size)
        self.gru = nn.GRU(2 * hidden_size, hidden_size, batch_first=True)
        self.out = nn.Linear(hidden_size, output_size)
        self.dropout = nn.Dropout(dropout_p)

    def forward(self, encoder_outputs, encoder_hidden, target_tensor=None):
        batch_size = encoder_outputs.size(0)
        decoder_input = torch.empty(batch_size, 1, dtype=torch.long,
                                    device=device).fill_(SOS_token)
        decoder_hidden = encoder_hidden
        decoder_outputs = []
        attentions = []
        for i in range(MAX_LENGTH):
            decoder_output, decoder_hidden, attn_weights = self.forward_step(
                decoder_input, decoder_hidden, encoder_outputs)
            decoder_outputs.append(decoder_output)
            attentions.append(attn_weights)
            if target_tensor is not None:
                decoder_input = target_tensor[:, i].unsqueeze(1)
            else:
                _, topi = decoder_output.topk(1)
                decoder_input = topi.squeeze(-1).detach()
        decoder_outputs = torch.cat(decoder_outputs, dim=1)
        decoder_outputs = F.log_softmax(decoder_outputs, dim=-1)
        attentions = torch.cat(attentions, dim=1)
        return decoder_outputs, decoder_hidden, attentions

    def forward_step(self, input, hidden, encoder_outputs):
        embedded = self.dropout(self.embedding(input))
        query = hidden.permute(1, 0, 2)
        context, attn_weights = self.attention(query, encoder_outputs)
        input_gru = torch.cat((embedded, context), dim=2)
        output, hidden = self.gru(input_gru, hidden)
        output = self.out(output)
        return output, hidden, attn_weights

def get_dataloader(batch_size, pairs_in, pairs_out):
    n = len(pairs_in)
    input_ids = np.zeros((n, MAX_LENGTH), dtype=np.int32)
    target_ids = np.zeros((n, MAX_LENGTH), dtype=np.int32)
    for idx, (inp, tgt) in enumerate(zip(pairs_in, pairs_out)):
        inp = inp + [EOS_token]; tgt = tgt + [EOS_token]
        input_ids[idx, :len(inp)] = inp
        target_ids[idx, :len(tgt)] = tgt
    train_data = TensorDataset(torch.LongTensor(input_ids).to(device),
                               torch.LongTensor(target_ids).to(device))
    train_sampler = SequentialSampler(train_data)
    return DataLoader(train_data, sampler=train_sampler, batch_size=batch_size)

def train_epoch(dataloader, encoder, decoder, encoder_optimizer, decoder_optimizer, criterion):
    total_loss = 0
    for data in dataloader:
        input_tensor, target_tensor = data
        encoder_optimizer.zero_grad()
        decoder_optimizer.zero_grad()
        encoder_outputs, encoder_hidden = encoder(input_tensor)
        decoder_outputs, _, _ = decoder(encoder_outputs, encoder_hidden, target_tensor)
        loss = criterion(
            decoder_outputs.view(-1, decoder_outputs.size(-1)),
            target_tensor.view(-1)
        )
        loss.backward()
        encoder_optimizer.step()
        decoder_optimizer.step()
        total_loss += loss.item()
    return total_loss / len(dataloader)

def evaluate(encoder, decoder, input_ids):
    with torch.no_grad():
        input_tensor = torch.tensor(input_ids + [EOS_token], dtype=torch.long,
                                    device=device).view(1, -1)
        encoder_outputs, encoder_hidden = encoder(input_tensor)
        decoder_outputs, decoder_hidden, decoder_attn = decoder(encoder_outputs, encoder_hidden)
        _, topi = decoder_outputs.topk(1)
        decoded_ids = topi.squeeze()
        decoded_words = []
        for idx in decoded_ids:
            if idx.item() == EOS_token:
                decoded_words.append('<EOS>')
                break
            decoded_words.append(idx.item())
    return decoded_words, decoder_attn

def make_models(vocab, hidden):
    torch.manual_seed(0)
    return EncoderRNN(vocab, hidden), AttnDecoderRNN(hidden, vocab)

def run(encoder, decoder, pairs_in, pairs_out, epochs=5):
    encoder.eval()                   # no dropout: the same in both libraries
    decoder.eval()
    loader = get_dataloader(4, pairs_in, pairs_out)
    encoder_optimizer = optim.Adam(encoder.parameters(), lr=0.01)
    decoder_optimizer = optim.Adam(decoder.parameters(), lr=0.01)
    criterion = nn.NLLLoss()
    losses = [train_epoch(loader, encoder, decoder, encoder_optimizer, decoder_optimizer,
                          criterion) for _ in range(epochs)]
    words, attn = evaluate(encoder, decoder, pairs_in[0])
    return losses, words, attn.cpu().numpy()
"""


def run_program(body, imports):
    namespace = {}
    exec(compile(imports + body, "<tutorial>", "exec"), namespace)
    return namespace


def test_gru_classifier_program_runs_unchanged_with_rnnfast(torch):
    rng = np.random.default_rng(0)
    X = rng.integers(0, 20, size=(64, 12)).astype(np.int64)
    y = (X[:, -3:].sum(axis=1) % 3).astype(np.int64)
    ours, theirs = run_program(GRU_CLASSIFIER, RNNFAST_IMPORTS), run_program(GRU_CLASSIFIER,
                                                                                TORCH_IMPORTS)
    assert ours["torch"] is rnnfast and theirs["torch"] is torch
    model_t = theirs["make_model"]()
    model_o = ours["make_model"]()
    model_o.load_state_dict({k: v.detach().numpy() for k, v in model_t.state_dict().items()})
    losses_o, acc_o, probs_o = ours["train"](model_o, X, y)
    losses_t, acc_t, probs_t = theirs["train"](model_t, X, y)
    assert len(losses_o) == len(losses_t) == 12
    # float32 training: the two runs agree closely, step after step
    np.testing.assert_allclose(losses_o, losses_t, rtol=1e-3)
    assert np.mean(losses_o[-4:]) < np.mean(losses_o[:4])    # the last epoch beats the first
    assert abs(acc_o - acc_t) <= 2 / 64
    np.testing.assert_allclose(probs_o, probs_t, rtol=2e-3, atol=2e-3)


def test_char_rnn_tutorial_program_runs_unchanged_with_rnnfast(torch):
    names = ["abc", "jihgf", "aa", "bcdefg", "ijij", "e", "hhg", "acegi"]
    labels = [len(n) % 2 for n in names]
    ours, theirs = run_program(CHAR_RNN, RNNFAST_IMPORTS), run_program(CHAR_RNN, TORCH_IMPORTS)
    model_t = theirs["make_model"]()
    model_o = ours["make_model"]()
    model_o.load_state_dict({k: v.detach().numpy() for k, v in model_t.state_dict().items()})
    losses_o, guesses_o = ours["train"](model_o, names, labels)
    losses_t, guesses_t = theirs["train"](model_t, names, labels)
    np.testing.assert_allclose(losses_o, losses_t, rtol=1e-4)
    assert guesses_o == guesses_t


def test_text_classification_program_runs_unchanged_with_rnnfast(torch):
    rng = np.random.default_rng(1)
    dataset = []
    for i in range(48):
        label = i % 2
        words = rng.integers(0, 30, size=rng.integers(3, 12))
        words[0] = 5 + 20 * label                 # a word that gives the label away
        dataset.append((label, words.tolist()))
    ours, theirs = (run_program(TEXT_CLASSIFICATION, RNNFAST_IMPORTS),
                    run_program(TEXT_CLASSIFICATION, TORCH_IMPORTS))
    model_t = theirs["make_model"]()
    model_o = ours["make_model"]()
    model_o.load_state_dict({k: v.detach().numpy() for k, v in model_t.state_dict().items()})
    losses_o, acc_o = ours["train"](model_o, dataset)
    losses_t, acc_t = theirs["train"](model_t, dataset)
    np.testing.assert_allclose(losses_o, losses_t, rtol=1e-4)
    assert acc_o == acc_t
    assert acc_o[-1] > acc_o[0]


def test_seq2seq_attention_tutorial_program_runs_unchanged_with_rnnfast(torch):
    rng = np.random.default_rng(0)
    pairs_in = [list(rng.integers(2, 12, size=rng.integers(2, 5))) for _ in range(16)]
    pairs_out = [list(reversed(p)) for p in pairs_in]
    ours, theirs = (run_program(SEQ2SEQ_ATTENTION, RNNFAST_IMPORTS),
                    run_program(SEQ2SEQ_ATTENTION, TORCH_IMPORTS))
    enc_t, dec_t = theirs["make_models"](12, 16)
    enc_o, dec_o = ours["make_models"](12, 16)
    for mo, mt in ((enc_o, enc_t), (dec_o, dec_t)):
        mo.load_state_dict({k: v.detach().numpy() for k, v in mt.state_dict().items()})
    losses_o, words_o, attn_o = ours["run"](enc_o, dec_o, pairs_in, pairs_out)
    losses_t, words_t, attn_t = theirs["run"](enc_t, dec_t, pairs_in, pairs_out)
    np.testing.assert_allclose(losses_o, losses_t, rtol=1e-4)
    assert losses_o[-1] < losses_o[0]
    assert words_o == words_t
    np.testing.assert_allclose(attn_o, attn_t, atol=1e-4)
