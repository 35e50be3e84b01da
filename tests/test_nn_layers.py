"""rnnfast.nn feed-forward layers and Module bookkeeping: outputs and gradients against torch.nn
with the same weights (loaded from torch's state_dict), finite differences in float64, and the
Module machinery (names, state_dict, dtypes, modes, repr, errors)."""

from __future__ import annotations

import copy
import pickle
from collections import OrderedDict

import numpy as np
import pytest

import rnnfast
from rnnfast import nn
from rnnfast.nn import functional as F

from _problems import tol

RNG = np.random.default_rng(99)


def _torch_sd(module):
    return {k: v.detach().numpy() for k, v in module.state_dict().items()}


def _compare_with_torch(ours, theirs, x, dtype):
    """Same input through both modules; compare output, input grad and every parameter grad."""
    torch = pytest.importorskip("torch")
    xo = rnnfast.tensor(x, requires_grad=True)
    xt = torch.tensor(x, requires_grad=True)
    yo, yt = ours(xo), theirs(xt)
    assert yo.dtype == dtype and yo.shape == tuple(yt.shape)
    np.testing.assert_allclose(yo.data, yt.detach().numpy(), **tol(dtype))
    cot = RNG.standard_normal(yo.shape).astype(dtype)
    yo.backward(cot)
    yt.backward(torch.tensor(cot))
    np.testing.assert_allclose(xo.grad, xt.grad.numpy(), **tol(dtype))
    tparams = dict(theirs.named_parameters())
    names = [n for n, _ in ours.named_parameters()]
    assert names == list(tparams)
    for name, p in ours.named_parameters():
        assert p.grad.dtype == dtype
        np.testing.assert_allclose(p.grad, tparams[name].grad.numpy(), **tol(dtype),
                                   err_msg=name)


# --------------------------------------------------------------------------------- Linear


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape,bias", [((5, 3), True), ((2, 4, 3), False), ((3,), True)])
def test_linear_matches_torch(dtype, shape, bias):
    torch = pytest.importorskip("torch")
    tdt = torch.float32 if dtype == np.float32 else torch.float64
    theirs = torch.nn.Linear(3, 4, bias=bias, dtype=tdt)
    ours = nn.Linear(3, 4, bias=bias, dtype=dtype)
    ours.load_state_dict(_torch_sd(theirs))
    _compare_with_torch(ours, theirs, RNG.standard_normal(shape).astype(dtype), dtype)


def test_linear_init_and_parameters():
    rnnfast.manual_seed(0)
    lin = nn.Linear(16, 8)
    assert lin.weight.shape == (8, 16) and lin.bias.shape == (8,)
    assert lin.weight.dtype == np.float32 and lin.weight.requires_grad
    bound = 1 / np.sqrt(16)
    assert np.abs(lin.weight.data).max() <= bound and np.abs(lin.bias.data).max() <= bound
    assert lin.weight.data.std() > bound / 3       # spread over the interval, not all zeros
    rnnfast.manual_seed(0)
    np.testing.assert_array_equal(nn.Linear(16, 8).weight.data, lin.weight.data)
    no_bias = nn.Linear(2, 3, bias=False)
    assert no_bias.bias is None and list(no_bias.state_dict()) == ["weight"]


def test_linear_input_dtype_rules():
    lin = nn.Linear(3, 2)
    assert lin(np.ones((4, 3))).dtype == np.float32                  # arrays take its dtype
    assert lin([[1.0, 2.0, 3.0]]).dtype == np.float32                # so do Python sequences
    x = rnnfast.tensor(np.ones((4, 3)), requires_grad=True)          # a Tensor keeps its own
    y = lin(x)
    assert y.dtype == np.float64
    y.sum().backward()
    assert lin.weight.grad.dtype == np.float32 and x.grad.dtype == np.float64
    lin64 = nn.Linear(3, 2, dtype=np.float64)
    assert lin64.weight.dtype == np.float64 and lin64(np.ones(3, np.float32)).dtype == np.float64


def test_linear_gradient_finite_differences():
    lin = nn.Linear(3, 2, dtype=np.float64)
    x = RNG.standard_normal((4, 3))
    w0 = lin.weight.data.copy()
    y = lin(x)
    (y * y).sum().backward()
    eps, num = 1e-6, np.zeros_like(w0)
    for i in np.ndindex(w0.shape):
        for s in (1, -1):
            lin.weight.data[...] = w0
            lin.weight.data[i] += s * eps
            with rnnfast.no_grad():
                num[i] += s * float((lin(x).data ** 2).sum()) / (2 * eps)
    np.testing.assert_allclose(lin.weight.grad, num, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("kwargs,err,name", [
    (dict(in_features=0, out_features=2), ValueError, "in_features"),
    (dict(in_features=2, out_features=-1), ValueError, "out_features"),
    (dict(in_features=2.0, out_features=2), TypeError, "in_features"),
    (dict(in_features=True, out_features=2), TypeError, "in_features"),
    (dict(in_features=2, out_features=2, dtype=np.int32), TypeError, "dtype"),
])
def test_linear_argument_errors(kwargs, err, name):
    with pytest.raises(err, match=name):
        nn.Linear(**kwargs)


def test_linear_input_errors():
    lin = nn.Linear(3, 2)
    with pytest.raises(ValueError, match="in_features=3"):
        lin(np.ones((2, 4)))
    with pytest.raises(TypeError, match="input"):
        lin([["a", "b", "c"]])


# ------------------------------------------------------------------------------ Embedding


@pytest.mark.parametrize("padding_idx", [None, 2, -1])
def test_embedding_matches_torch(padding_idx):
    torch = pytest.importorskip("torch")
    theirs = torch.nn.Embedding(6, 3, padding_idx=padding_idx)
    ours = nn.Embedding(6, 3, padding_idx=padding_idx)
    ours.load_state_dict(_torch_sd(theirs))
    idx = np.array([[0, 2, 5, 2], [1, 1, 5, 3]])
    yo, yt = ours(idx), theirs(torch.tensor(idx))
    np.testing.assert_allclose(yo.data, yt.detach().numpy(), **tol(np.float32))
    cot = RNG.standard_normal(yo.shape).astype(np.float32)
    yo.backward(cot)
    yt.backward(torch.tensor(cot))
    np.testing.assert_allclose(ours.weight.grad, theirs.weight.grad.numpy(), **tol(np.float32))
    assert ours.padding_idx == theirs.padding_idx


def test_embedding_padding_row_is_zero_and_gets_no_gradient():
    emb = nn.Embedding(5, 4, padding_idx=0)
    np.testing.assert_array_equal(emb.weight.data[0], 0)
    assert emb.weight.data[1:].std() > 0.3                        # N(0, 1) elsewhere
    out = emb(rnnfast.tensor([0, 3, 0, 3]))
    out.sum().backward()
    np.testing.assert_array_equal(emb.weight.grad[0], 0)
    np.testing.assert_array_equal(emb.weight.grad[3], 2)          # repeated indices accumulate
    np.testing.assert_array_equal(emb.weight.grad[1], 0)


@pytest.mark.parametrize("bad", [[0, 5], [-1, 2], [[1], [7]]])
def test_embedding_index_out_of_range(bad):
    emb = nn.Embedding(5, 2)
    v = next(i for i in np.ravel(bad) if not 0 <= i < 5)
    with pytest.raises(IndexError, match=rf"index {v} .*0 to 4"):
        emb(bad)


@pytest.mark.parametrize("bad", [[0.0, 1.0], np.array([1.5]), rnnfast.tensor([1.0]),
                                 np.array([True])])
def test_embedding_rejects_non_integer_indices(bad):
    with pytest.raises(TypeError, match="integer"):
        nn.Embedding(5, 2)(bad)


def test_embedding_argument_errors():
    with pytest.raises(ValueError, match="num_embeddings"):
        nn.Embedding(0, 2)
    with pytest.raises(ValueError, match="embedding_dim"):
        nn.Embedding(3, 0)
    with pytest.raises(ValueError, match="padding_idx"):
        nn.Embedding(3, 2, padding_idx=3)
    assert nn.Embedding(3, 2, padding_idx=-3).padding_idx == 0
    assert nn.Embedding(3, 2)([]).shape == (0, 2)


# -------------------------------------------------------------------------------- Dropout


def test_dropout_train_and_eval():
    x = np.ones((200, 50), np.float32)
    drop = nn.Dropout(0.3)
    assert drop.training
    rnnfast.manual_seed(5)
    xt = rnnfast.tensor(x, requires_grad=True)
    y = drop(xt)
    kept = y.data != 0
    assert abs(1 - kept.mean() - 0.3) < 0.02
    np.testing.assert_allclose(y.data[kept], 1 / 0.7, rtol=1e-6)
    y.sum().backward()
    np.testing.assert_array_equal(xt.grad, y.data)                # gradient uses the same mask
    drop.eval()
    assert not drop.training
    xe = rnnfast.tensor(x)
    assert drop(xe) is xe
    np.testing.assert_array_equal(drop(x).data, x)


def test_dropout_is_reproducible_with_manual_seed():
    drop, x = nn.Dropout(0.5), np.ones((4, 8))
    rnnfast.manual_seed(123)
    a = drop(x).data
    b = drop(x).data
    rnnfast.manual_seed(123)
    np.testing.assert_array_equal(drop(x).data, a)
    np.testing.assert_array_equal(drop(x).data, b)
    assert not np.array_equal(a, b)


def test_dropout_edge_probabilities():
    x = rnnfast.tensor(np.ones((3, 4)), requires_grad=True)
    np.testing.assert_array_equal(nn.Dropout(0.0)(x).data, 1)
    y = nn.Dropout(1.0)(x)
    np.testing.assert_array_equal(y.data, 0)
    y.sum().backward()
    np.testing.assert_array_equal(x.grad, 0)
    for p in (-0.1, 1.5, "0.5", None):
        with pytest.raises(ValueError, match="p"):
            nn.Dropout(p)


# ---------------------------------------------------- Sequential, activations, Flatten, Identity


def test_sequential_matches_torch_and_loads_torch_state_dict():
    torch = pytest.importorskip("torch")
    theirs = torch.nn.Sequential(torch.nn.Linear(4, 5), torch.nn.Tanh(), torch.nn.Linear(5, 3),
                                 torch.nn.ReLU(), torch.nn.Linear(3, 2), torch.nn.Sigmoid())
    ours = nn.Sequential(nn.Linear(4, 5), nn.Tanh(), nn.Linear(5, 3), nn.ReLU(),
                         nn.Linear(3, 2), nn.Sigmoid())
    assert list(ours.state_dict()) == list(theirs.state_dict())
    ours.load_state_dict(theirs.state_dict())          # torch tensors load as they are
    _compare_with_torch(ours, theirs, RNG.standard_normal((6, 4)).astype(np.float32),
                        np.float32)


@pytest.mark.parametrize("name", ["Tanh", "Sigmoid", "ReLU", "Softmax", "LogSoftmax", "Flatten",
                                  "Identity"])
def test_activation_modules_match_torch(name):
    torch = pytest.importorskip("torch")
    args = {"Softmax": (1,), "LogSoftmax": (1,)}.get(name, ())
    ours, theirs = getattr(nn, name)(*args), getattr(torch.nn, name)(*args)
    x = RNG.standard_normal((3, 4, 2))
    _compare_with_torch(ours, theirs, x, np.float64)


def test_flatten_and_softmax_options():
    x = np.arange(24.0).reshape(2, 3, 4)
    assert nn.Flatten()(x).shape == (2, 12)
    assert nn.Flatten(0, 1)(x).shape == (6, 4)
    assert nn.Flatten(start_dim=-2)(x).shape == (2, 12)
    np.testing.assert_allclose(nn.Softmax()(x).data.sum(-1), 1)     # default: the last dim
    np.testing.assert_allclose(np.exp(nn.LogSoftmax(0)(x).data).sum(0), 1)
    with pytest.raises(TypeError, match="dim"):
        nn.Softmax(1.0)


def test_sequential_container_protocol():
    a, b, c = nn.Linear(2, 3), nn.Tanh(), nn.Linear(3, 1)
    seq = nn.Sequential(a, b)
    seq.append(c)
    assert len(seq) == 3 and list(seq) == [a, b, c]
    assert seq[0] is a and seq[-1] is c
    sub = seq[1:]
    assert isinstance(sub, nn.Sequential) and list(sub) == [b, c]
    assert list(sub.state_dict()) == ["2.weight", "2.bias"]          # keys keep their names
    with pytest.raises(IndexError, match="3"):
        seq.__getitem__(3)
    named = nn.Sequential(OrderedDict([("enc", nn.Linear(2, 2)), ("act", nn.ReLU())]))
    assert [n for n, _ in named.named_parameters()] == ["enc.weight", "enc.bias"]
    assert named.enc is named[0]
    assert seq(np.ones((5, 2))).shape == (5, 1)


def test_functional_dropout_uses_given_generator():
    g1, g2 = np.random.default_rng(3), np.random.default_rng(3)
    x = np.ones((5, 5))
    np.testing.assert_array_equal(F.dropout(x, 0.5, generator=g1).data,
                                  F.dropout(x, 0.5, generator=g2).data)
    assert F.dropout(x, 0.5, training=False).data is not None


# ------------------------------------------------------------------------ Module bookkeeping


class Encoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(10, 4)
        self.body = nn.Sequential(nn.Linear(4, 6), nn.Tanh(), nn.Dropout(0.1), nn.Linear(6, 3))
        self.scale = nn.Parameter(np.ones(3))
        self.register_parameter("offset", None)
        self.register_buffer("running", np.zeros(3))
        self.note = "plain attribute"

    def forward(self, idx):
        return self.body(self.embed(idx)) * self.scale


def test_named_parameters_children_and_modules():
    enc = Encoder()
    assert [n for n, _ in enc.named_parameters()] == [
        "scale", "embed.weight", "body.0.weight", "body.0.bias", "body.3.weight", "body.3.bias"]
    assert [n for n, _ in enc.named_children()] == ["embed", "body"]
    assert len(list(enc.modules())) == 7
    assert [n for n, _ in enc.named_parameters(recurse=False)] == ["scale"]
    assert [n for n, _ in enc.named_buffers()] == ["running"]
    assert list(enc.state_dict()) == ["scale", "running", "embed.weight", "body.0.weight",
                                      "body.0.bias", "body.3.weight", "body.3.bias"]
    assert enc.offset is None and enc.note == "plain attribute"
    assert enc.scale.dtype == np.float64                        # Parameters keep their dtype


def test_shared_parameters_are_listed_once():
    lin = nn.Linear(2, 2)
    seq = nn.Sequential(lin, nn.Tanh(), lin)
    assert len(list(seq.parameters())) == 2
    assert list(seq.state_dict()) == ["0.weight", "0.bias", "2.weight", "2.bias"]   # as torch


def test_parameter_assignment_rules():
    lin = nn.Linear(2, 2)
    with pytest.raises(TypeError, match="weight"):
        lin.weight = np.zeros((2, 2))
    lin.bias = None
    assert lin.bias is None and list(lin.state_dict()) == ["weight"]
    lin.bias = nn.Parameter(np.zeros(2, np.float32))
    assert list(lin.state_dict()) == ["weight", "bias"]
    with pytest.raises(AttributeError, match="missing"):
        _ = lin.missing
    p = nn.Parameter([1.0, 2.0])
    assert p.dtype == np.float32 and p.requires_grad and p.is_leaf
    assert repr(p).startswith("Parameter containing:\ntensor([1., 2.], requires_grad=True)")
    with pytest.raises(AttributeError, match="__init__"):
        class Broken(nn.Module):
            def __init__(self):
                self.w = nn.Parameter([1.0])
        Broken()


def test_state_dict_round_trip():
    rnnfast.manual_seed(0)
    a, b = Encoder(), Encoder()
    a.eval(), b.eval()
    idx = np.array([[1, 2, 3], [4, 5, 6]])
    sd = a.state_dict()
    assert all(isinstance(v, np.ndarray) for v in sd.values())
    sd["scale"][:] = 7                                  # a copy: the module is unchanged
    assert np.all(a.scale.data == 1)
    sd = a.state_dict()
    w = b.body[0].weight
    result = b.load_state_dict(sd)
    assert result.missing_keys == [] and result.unexpected_keys == []
    assert b.body[0].weight is w                        # copied in place
    np.testing.assert_array_equal(a(idx).data, b(idx).data)


def test_load_state_dict_casts_and_accepts_tensors():
    lin = nn.Linear(2, 3)
    lin.load_state_dict({"weight": np.ones((3, 2), np.float64),
                         "bias": rnnfast.tensor([1, 2, 3])})
    assert lin.weight.dtype == np.float32 and lin.bias.dtype == np.float32
    np.testing.assert_array_equal(lin.bias.data, [1, 2, 3])
    with pytest.raises(TypeError, match="bias"):
        lin.load_state_dict({"weight": np.ones((3, 2)), "bias": np.array(["a", "b", "c"])})


def test_load_state_dict_errors():
    lin = nn.Linear(2, 3)
    before = lin.state_dict()
    good = {"weight": np.zeros((3, 2)), "bias": np.zeros(3)}
    with pytest.raises(RuntimeError, match=r'Missing key\(s\) in state_dict: "bias"'):
        lin.load_state_dict({"weight": good["weight"]})
    with pytest.raises(RuntimeError, match=r'Unexpected key\(s\) in state_dict: "extra"'):
        lin.load_state_dict({**good, "extra": np.zeros(1)})
    with pytest.raises(RuntimeError, match=r"size mismatch for weight: .*\(2, 3\).*\(3, 2\)"):
        lin.load_state_dict({"weight": np.zeros((2, 3)), "bias": np.zeros(3)})
    with pytest.raises(RuntimeError, match="size mismatch"):        # even when not strict
        lin.load_state_dict({"weight": np.zeros((2, 3))}, strict=False)
    for k, v in before.items():                                     # nothing was modified
        np.testing.assert_array_equal(lin.state_dict()[k], v)
    result = lin.load_state_dict({"weight": np.zeros((3, 2)), "extra": 1}, strict=False)
    assert result.missing_keys == ["bias"] and result.unexpected_keys == ["extra"]
    np.testing.assert_array_equal(lin.weight.data, 0)
    np.testing.assert_array_equal(lin.bias.data, before["bias"])


def test_modules_deepcopy_and_pickle():
    enc = Encoder()
    enc.eval()
    idx = np.array([1, 2])
    for clone in (copy.deepcopy(enc), pickle.loads(pickle.dumps(enc))):
        assert clone.body[0].weight is not enc.body[0].weight
        np.testing.assert_array_equal(clone(idx).data, enc(idx).data)
        clone.body[0].weight.data += 1
        assert not np.array_equal(clone(idx).data, enc(idx).data)


def test_to_double_float():
    enc = Encoder()
    params = list(enc.parameters())
    x = np.array([[1, 2]])
    enc(x).sum().backward()
    assert enc.double() is enc
    assert all(p.dtype == np.float64 for p in enc.parameters())
    assert all(p.grad.dtype == np.float64 for p in enc.parameters())
    assert list(enc.parameters())[1] is params[1]                   # same Parameter objects
    assert enc.running.dtype == np.float64
    assert enc(x).dtype == np.float64
    enc.float()
    assert all(p.dtype == np.float32 for p in enc.parameters()) and enc(x).dtype == np.float32
    enc.to("float64")
    assert enc.body[0].weight.dtype == np.float64
    with pytest.raises(TypeError, match="dtype"):
        enc.to(np.int64)


def test_train_eval_zero_grad_apply():
    enc = Encoder()
    assert enc.eval() is enc and not any(m.training for m in enc.modules())
    enc.train()
    assert all(m.training for m in enc.modules())
    with pytest.raises(TypeError, match="mode"):
        enc.train("yes")
    enc(np.array([1, 2])).sum().backward()
    assert all(p.grad is not None for p in enc.parameters())
    enc.zero_grad(set_to_none=False)
    assert all(np.all(p.grad == 0) for p in enc.parameters())
    enc.zero_grad()
    assert all(p.grad is None for p in enc.parameters())
    seen = []
    enc.apply(lambda m: seen.append(type(m).__name__))
    assert seen[-1] == "Encoder" and seen.count("Linear") == 2 and len(seen) == 7
    enc.requires_grad_(False)
    assert not any(p.requires_grad for p in enc.parameters())


def test_repr_is_readable():
    enc = Encoder()
    assert repr(enc) == (
        "Encoder(\n"
        "  (embed): Embedding(10, 4)\n"
        "  (body): Sequential(\n"
        "    (0): Linear(in_features=4, out_features=6, bias=True)\n"
        "    (1): Tanh()\n"
        "    (2): Dropout(p=0.1)\n"
        "    (3): Linear(in_features=6, out_features=3, bias=True)\n"
        "  )\n"
        ")")
    assert repr(nn.Embedding(3, 2, padding_idx=1)) == "Embedding(3, 2, padding_idx=1)"
    assert repr(nn.Flatten()) == "Flatten(start_dim=1, end_dim=-1)"


def test_module_without_forward_and_repr_matches_torch_for_linear():
    with pytest.raises(NotImplementedError):
        nn.Module()(1)
    torch = pytest.importorskip("torch")
    assert repr(nn.Linear(3, 4)) == repr(torch.nn.Linear(3, 4))
    assert repr(nn.Sequential(nn.Linear(1, 2), nn.ReLU())) == \
        repr(torch.nn.Sequential(torch.nn.Linear(1, 2), torch.nn.ReLU()))
