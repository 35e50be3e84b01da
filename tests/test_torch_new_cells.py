"""rnnfast.torch's IndRNN, MinGRU and MinLSTM (torch.nn.Modules over the diagonal and scan
cells: "indrnn_relu", "indrnn_tanh", "mingru", "minlstm").

Oracles: rnnfast.nn's modules of the same cells with the same weights (outputs and the
gradients of the input, hx and every parameter, for every option; rnnfast.nn's are checked
against the float64 NumPy reference in test_indrnn.py / test_minrnn.py), a plain torch-ops loop
of each formula (float64), float64 finite differences (torch.autograd.gradcheck), and eager
mode for torch.compile / torch.export.
"""

import io
import warnings

import numpy as np
import pytest

from _tools import onnx_exporters

torch = pytest.importorskip("torch")

import torch.nn.functional as F  # noqa: E402
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence  # noqa: E402

import rnnfast  # noqa: E402
import rnnfast.nn as rnn_nn  # noqa: E402
import rnnfast.torch as rt  # noqa: E402
from rnnfast.torch import _ops  # noqa: E402

TDT = {np.float32: torch.float32, np.float64: torch.float64}
TOL = {np.float32: dict(rtol=1e-5, atol=1e-5), np.float64: dict(rtol=1e-10, atol=1e-10)}
I, H = 3, 4
KINDS = ("indrnn_relu", "indrnn_tanh", "mingru", "minlstm")
CLASSES = {"indrnn_relu": "IndRNN", "indrnn_tanh": "IndRNN", "mingru": "MinGRU",
           "minlstm": "MinLSTM"}


def _kw(kind, kw):
    return {**kw, "nonlinearity": kind[7:]} if kind.startswith("indrnn") else kw


def _module(kind, dtype=np.float64, seed=0, input_size=I, **kw):
    """An rnnfast.torch module of ``kind`` with random parameters (u of both signs)."""
    torch.manual_seed(seed)
    m = getattr(rt, CLASSES[kind])(input_size, H, dtype=TDT[dtype], **_kw(kind, kw))
    with torch.no_grad():
        for p in m.parameters():
            p.uniform_(-0.8, 0.8)
    return m


def _twin(m, kind, dtype, **kw):
    """rnnfast.nn's module of the same cell and options, loaded with m's state_dict."""
    twin = getattr(rnn_nn, CLASSES[kind])(I, H, dtype=dtype, **_kw(kind, kw))
    twin.load_state_dict({k: v.detach().numpy() for k, v in m.state_dict().items()})
    return twin


CASES = {
    "plain": dict(ctor={}),
    "layers2_bidirectional_batch_first_lengths_hx": dict(
        ctor=dict(num_layers=2, bidirectional=True, batch_first=True), lengths=True, hx=True),
    "layers2_lengths": dict(ctor=dict(num_layers=2), lengths=True),
    "bidirectional_hx_no_bias": dict(ctor=dict(bidirectional=True, bias=False), hx=True),
    "packed_sorted_batch_first": dict(ctor=dict(batch_first=True, num_layers=2), packed=True,
                                      sorted=True),
    "packed_unsorted_bidirectional_hx": dict(ctor=dict(bidirectional=True, num_layers=2),
                                             packed=True, hx=True),
    "unbatched_bidirectional_hx": dict(ctor=dict(bidirectional=True), unbatched=True, hx=True),
    "unbatched_batch_first_lengths": dict(ctor=dict(batch_first=True, num_layers=2),
                                          unbatched=True, lengths=True),
}


def _case_params():
    return [pytest.param(kind, case, dtype, id=f"{kind}-{name}-{np.dtype(dtype).name}")
            for name, case in CASES.items() for kind in KINDS
            for dtype in (np.float32, np.float64)]


@pytest.mark.parametrize("kind, case, dtype", _case_params())
def test_modules_match_rnnfast_nn(kind, case, dtype):
    """Outputs and the gradients of the input, hx and every parameter are rnnfast.nn's for the
    same weights; a PackedSequence is rnnfast.nn's padded batch with lengths=."""
    ctor = case["ctor"]
    m = _module(kind, dtype, **ctor)
    twin = _twin(m, kind, dtype, **ctor)
    T, B = 5, 3
    bf = ctor.get("batch_first", False)
    D_L = (2 if ctor.get("bidirectional") else 1) * ctor.get("num_layers", 1)
    g = torch.Generator().manual_seed(1)
    if case.get("unbatched"):
        B = 1
        x = torch.randn(T, I, generator=g, dtype=TDT[dtype])
        lens = torch.tensor([3])
        hx = torch.randn(D_L, H, generator=g, dtype=TDT[dtype]) if case.get("hx") else None
    else:
        x = torch.randn((B, T, I) if bf else (T, B, I), generator=g, dtype=TDT[dtype])
        lens = torch.tensor([5, 4, 2] if case.get("sorted") else [4, 5, 2])
        hx = torch.randn(D_L, B, H, generator=g, dtype=TDT[dtype]) if case.get("hx") else None
    x.requires_grad_(True)
    if hx is not None:
        hx.requires_grad_(True)
    if case.get("packed"):
        packed = pack_padded_sequence(x, lens, batch_first=bf,
                                      enforce_sorted=bool(case.get("sorted")))
        y, h_n = m(packed, hx)
        assert isinstance(y, torch.nn.utils.rnn.PackedSequence)
        y = pad_packed_sequence(y, batch_first=bf, total_length=T)[0]
    else:
        y, h_n = m(x, hx, lengths=lens if case.get("lengths") else None)
    g = torch.Generator().manual_seed(2)
    wy = torch.randn(y.shape, generator=g, dtype=y.dtype)
    wh = torch.randn(h_n.shape, generator=g, dtype=y.dtype)
    ((y * wy).sum() + (h_n * wh).sum()).backward()

    xr = rnnfast.tensor(x.detach().numpy(), requires_grad=True)
    hr = None if hx is None else rnnfast.tensor(hx.detach().numpy(), requires_grad=True)
    use_lens = case.get("lengths") or case.get("packed")
    yr, hr_n = twin(xr, hr, lengths=lens.numpy() if use_lens else None)
    ((yr * rnnfast.tensor(wy.numpy())).sum()
     + (hr_n * rnnfast.tensor(wh.numpy())).sum()).backward()

    tol = TOL[dtype]
    assert y.shape == yr.shape and h_n.shape == hr_n.shape
    assert y.dtype == TDT[dtype] and h_n.dtype == TDT[dtype]
    np.testing.assert_allclose(y.detach().numpy(), yr.numpy(), err_msg="y", **tol)
    np.testing.assert_allclose(h_n.detach().numpy(), hr_n.numpy(), err_msg="h_n", **tol)
    np.testing.assert_allclose(x.grad.numpy(), xr.grad, err_msg="dx", **tol)
    if hx is not None:
        np.testing.assert_allclose(hx.grad.numpy(), hr.grad, err_msg="dhx", **tol)
    twin_params = dict(twin.named_parameters())
    assert [n for n, _ in m.named_parameters()] == list(twin_params)
    for name, p in m.named_parameters():
        assert p.grad is not None, name
        assert p.grad.shape == p.shape, name
        np.testing.assert_allclose(p.grad.numpy(), twin_params[name].grad, err_msg=name, **tol)


# ---------------------------------------------------------------------------------------------
# the formulas in plain torch ops

def _reference_layer(kind, x, h, w_ih, w_hh, b_ih):
    """One layer, one direction, time-major, float64: the cell's formula written out."""
    ys = []
    for t in range(x.shape[0]):
        a = x[t] @ w_ih.T + b_ih
        if kind == "indrnn_relu":
            h = torch.relu(a + w_hh * h)
        elif kind == "indrnn_tanh":
            h = torch.tanh(a + w_hh * h)
        elif kind == "mingru":
            z = torch.sigmoid(a[:, :H])
            h = (1 - z) * h + z * a[:, H:]
        else:
            f, i = torch.sigmoid(a[:, :H]), torch.sigmoid(a[:, H:2 * H])
            h = f / (f + i) * h + i / (f + i) * a[:, 2 * H:]
        ys.append(h)
    return torch.stack(ys), h


@pytest.mark.parametrize("kind", KINDS)
def test_modules_compute_their_formulas(kind):
    """Outputs and gradients equal a torch-ops loop of the formula the docstring gives (one
    layer, both directions, given hx)."""
    m = _module(kind, bidirectional=True)
    T, B = 4, 2
    g = torch.Generator().manual_seed(3)
    x = torch.randn(T, B, I, generator=g, dtype=torch.float64, requires_grad=True)
    hx = torch.randn(2, B, H, generator=g, dtype=torch.float64, requires_grad=True)
    y, h_n = m(x, hx)
    outs = []
    for d, sfx in enumerate(("_l0", "_l0_reverse")):
        w_ih, b_ih = getattr(m, "weight_ih" + sfx), getattr(m, "bias_ih" + sfx)
        w_hh = getattr(m, "weight_hh" + sfx, None)
        yd, hd = _reference_layer(kind, x if d == 0 else x.flip(0), hx[d], w_ih, w_hh, b_ih)
        outs.append((yd if d == 0 else yd.flip(0), hd))
    y_ref = torch.cat([outs[0][0], outs[1][0]], 2)
    h_ref = torch.stack([outs[0][1], outs[1][1]])
    torch.testing.assert_close(y, y_ref, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(h_n, h_ref, rtol=1e-12, atol=1e-12)
    inputs = [x, hx, *m.parameters()]
    g_ours = torch.autograd.grad((y ** 2).sum() + (h_n ** 3).sum(), inputs)
    g_ref = torch.autograd.grad((y_ref ** 2).sum() + (h_ref ** 3).sum(), inputs)
    for a, b in zip(g_ours, g_ref):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("kind", KINDS)
def test_gradcheck(kind):
    """Finite differences (float64) of the input, hx and every parameter: two bidirectional
    layers, lengths, batch_first."""
    m = _module(kind, num_layers=2, bidirectional=True, batch_first=True)
    if kind == "indrnn_relu":  # keep the relu's arguments away from its kink
        with torch.no_grad():
            for n, p in m.named_parameters():
                if n.startswith("bias"):
                    p.add_(1.0)
    T, B = 3, 2
    g = torch.Generator().manual_seed(4)
    x = torch.randn(B, T, I, generator=g, dtype=torch.float64, requires_grad=True)
    hx = torch.randn(4, B, H, generator=g, dtype=torch.float64, requires_grad=True)
    names = [n for n, _ in m.named_parameters()]
    params = [p.detach().clone().requires_grad_(True) for p in m.parameters()]

    def f(x, hx, *ps):
        return torch.func.functional_call(m, dict(zip(names, ps)), (x, hx),
                                          {"lengths": torch.tensor([3, 2])})

    assert torch.autograd.gradcheck(f, (x, hx, *params), eps=1e-6, atol=1e-6, rtol=1e-5)


# ---------------------------------------------------------------------------------------------
# dropout, recurrent dropout, recurrent_max_abs

def test_indrnn_recurrent_dropout_is_the_kernels_mask():
    """In training, h_(t-1) is multiplied by one mask per (layer, direction) drawn as
    rnnfast.torch.RNN draws it (bernoulli(1 - p) / (1 - p), shape (D, B, H)): the output is
    rnnfast.reference's with that h_mask; in eval mode no mask applies."""
    from rnnfast import reference
    m = _module("indrnn_tanh", bidirectional=True, recurrent_dropout=0.5)
    assert "recurrent_dropout=0.5" in repr(m)
    T, B = 5, 3
    x = torch.randn(T, B, I, dtype=torch.float64)
    torch.manual_seed(7)
    y, h_n = m(x)
    torch.manual_seed(7)
    mask = torch.empty(2, B, H, dtype=torch.float64).bernoulli_(0.5).div_(0.5)
    assert 0 < int((mask == 0).sum()) < mask.numel()
    ys = []
    for d, sfx in enumerate(("_l0", "_l0_reverse")):
        w = [getattr(m, n + sfx).detach().numpy() for n in ("weight_ih", "weight_hh", "bias_ih")]
        ys.append(reference.forward("indrnn_tanh", x.numpy(), w[0], w[1], w[2],
                                    reverse=bool(d), h_mask=mask[d].numpy())[0])
    np.testing.assert_allclose(y.detach().numpy(), np.concatenate(ys, 2), rtol=1e-10,
                               atol=1e-12)
    m.eval()
    twin = _twin(m, "indrnn_tanh", np.float64, bidirectional=True)
    np.testing.assert_allclose(m(x)[0].detach().numpy(), twin(x.numpy())[0].numpy(),
                               rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("kind", KINDS)
def test_dropout_between_layers(kind):
    """Training with dropout: layer 2 reads F.dropout of layer 1's output, drawn from torch's
    generator (two one-layer modules with the same weights and seed give the same result)."""
    m = _module(kind, num_layers=2, dropout=0.5)
    one = _module(kind)
    two = _module(kind, input_size=H)
    with torch.no_grad():
        for sfx, mod in (("_l0", one), ("_l1", two)):
            for n, p in mod.named_parameters():
                p.copy_(getattr(m, n.replace("_l0", sfx)))
    x = torch.randn(5, 3, I, dtype=torch.float64)
    torch.manual_seed(11)
    y, h_n = m(x)
    torch.manual_seed(11)
    y1, h1 = one(x)
    y2, h2 = two(F.dropout(y1, 0.5, True))
    torch.testing.assert_close(y, y2, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(h_n, torch.cat((h1, h2)), rtol=1e-12, atol=1e-12)
    m.eval()  # no dropout
    torch.testing.assert_close(m(x)[0], two(one(x)[0])[0], rtol=1e-12, atol=1e-12)


def test_indrnn_recurrent_max_abs_clips_u_in_training():
    m = _module("indrnn_relu", num_layers=2, bidirectional=True, recurrent_max_abs=0.5)
    assert "recurrent_max_abs=0.5" in repr(m)
    with torch.no_grad():
        m.weight_hh_l0.fill_(2.0)
        m.weight_hh_l1_reverse.fill_(-3.0)
    m.eval()
    m(torch.randn(3, 2, I, dtype=torch.float64))
    assert m.weight_hh_l0.max() == 2.0  # not in eval mode
    twin = _twin(m, "indrnn_relu", np.float64, num_layers=2, bidirectional=True,
                 recurrent_max_abs=0.5)
    m.train()
    x = torch.randn(3, 2, I, dtype=torch.float64)
    y = m(x)[0]
    for n, p in m.named_parameters():
        if n.startswith("weight_hh"):
            assert p.abs().max() <= 0.5, n
            assert p.requires_grad and isinstance(p, torch.nn.Parameter)
    assert torch.all(m.weight_hh_l0 == 0.5) and torch.all(m.weight_hh_l1_reverse == -0.5)
    yr = twin(x.numpy())[0]  # rnnfast.nn's clips the same way
    np.testing.assert_allclose(y.detach().numpy(), yr.numpy(), rtol=1e-10, atol=1e-12)


# ---------------------------------------------------------------------------------------------
# parameters, state_dict, surface

@pytest.mark.parametrize("kind", KINDS)
def test_parameters_are_rnnfast_nns(kind):
    """Names, shapes, order and dtypes as rnnfast.nn's; the initialization's ranges."""
    kw = dict(num_layers=2, bidirectional=True)
    m = getattr(rt, CLASSES[kind])(I, H, **_kw(kind, kw))
    twin = getattr(rnn_nn, CLASSES[kind])(I, H, **_kw(kind, kw))
    assert [(n, tuple(p.shape)) for n, p in m.named_parameters()] == \
        [(n, tuple(p.shape)) for n, p in twin.named_parameters()]
    k = 1 / np.sqrt(H)
    for n, p in m.named_parameters():
        assert isinstance(p, torch.nn.Parameter) and p.dtype == torch.get_default_dtype()
        lo, hi = (0.0, 1.0) if n.startswith("weight_hh") else (-k, k)
        assert lo <= p.min() and p.max() <= hi and p.std() > 0, n
    m64 = getattr(rt, CLASSES[kind])(I, H, dtype=torch.float64, bias=False, **_kw(kind, {}))
    assert {p.dtype for p in m64.parameters()} == {torch.float64}
    assert not any("bias" in n for n, _ in m64.named_parameters())
    assert m64.double() is m64 and {p.dtype for p in m64.float().parameters()} == {torch.float32}


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_state_dict_both_ways(kind, dtype):
    """rnnfast.nn -> rnnfast.torch (its NumPy state_dict as it is, or as tensors) and back give
    the same results."""
    kw = dict(num_layers=2, bidirectional=True)
    rnnfast.manual_seed(5)
    src = getattr(rnn_nn, CLASSES[kind])(I, H, dtype=dtype, **_kw(kind, kw))
    x = np.random.default_rng(0).standard_normal((5, 2, I)).astype(dtype)
    want = src(x)
    for sd in (src.state_dict(), {k: torch.from_numpy(v) for k, v in src.state_dict().items()}):
        m = getattr(rt, CLASSES[kind])(I, H, dtype=TDT[dtype], **_kw(kind, kw))
        m.load_state_dict(sd)
        got = m(torch.from_numpy(x))
        for a, b in zip(got, want):
            np.testing.assert_allclose(a.detach().numpy(), b.numpy(), **TOL[dtype])
    back = getattr(rnn_nn, CLASSES[kind])(I, H, dtype=dtype, **_kw(kind, kw))
    back.load_state_dict(m.state_dict())
    for a, b in zip(back(x), want):
        np.testing.assert_allclose(a.numpy(), b.numpy(), **TOL[dtype])
    with pytest.raises(RuntimeError, match="weight_ih_l1"):
        getattr(rt, CLASSES[kind])(I, H, **_kw(kind, {})).load_state_dict(sd)


def test_repr_and_exports():
    assert {"IndRNN", "MinGRU", "MinLSTM"} <= set(rt.__all__)
    assert repr(rt.IndRNN(I, H, num_layers=2, nonlinearity="tanh", bias=False)) == \
        "IndRNN(3, 4, num_layers=2, nonlinearity='tanh', bias=False)"
    assert repr(rt.MinGRU(I, H, batch_first=True, bidirectional=True)) == \
        "MinGRU(3, 4, batch_first=True, bidirectional=True)"
    assert repr(rt.MinLSTM(I, H)) == "MinLSTM(3, 4)"
    for cls in (rt.IndRNN, rt.MinGRU, rt.MinLSTM):
        assert type(cls).__mro__ and issubclass(cls, torch.nn.Module)
        assert not issubclass(cls, torch.nn.RNNBase)
        assert "h_t" in cls.__doc__


# ---------------------------------------------------------------------------------------------
# the custom op, torch.compile, torch.export

@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("bi", [False, True])
def test_custom_op_fake_shapes(kind, bi):
    """opcheck (schema, fake tensors, autograd) of rnn_layer with IndRNN's u (H,) or no w_hh;
    the reserve's size is reserve_size's."""
    T, B = 3, 2
    G = rnnfast._cells.GATES[kind]

    def w(*s):
        return (0.3 * torch.randn(s, dtype=torch.float64)).requires_grad_(True)

    ws = []
    for _ in range(2 if bi else 1):
        ws += [w(G * H, I), w(H) if kind.startswith("indrnn") else None, w(G * H), None, None]
    ws += [None] * (10 - len(ws))
    D = 2 if bi else 1
    args = (kind, w(T, B, I), *ws, w(D, B, H), None, torch.tensor([3, 2]), None, True, False)
    torch.library.opcheck(torch.ops.rnnfast.rnn_layer.default, args)
    out = torch.ops.rnnfast.rnn_layer.default(*args)
    assert out[4].numel() == _ops.reserve_size(kind, T, B, H, H)
    fake = _ops._rnn_layer_fake(*args)
    assert [tuple(t.shape) for t in fake] == [tuple(t.shape) for t in out]
    dy = torch.randn(T, B, H, dtype=torch.float64)
    bargs = (kind, *args[1:12], args[14], None, out[0], out[1], out[4], out[5], dy,
             dy if bi else None, None, None, False)
    g = torch.ops.rnnfast.rnn_layer_backward.default(*bargs)
    fg = _ops._rnn_layer_backward_fake(*bargs)
    assert [tuple(t.shape) for t in fg] == [tuple(t.shape) for t in g]
    if kind.startswith("indrnn"):
        assert tuple(g[4].shape) == (H,)  # dw_hh = du


class Zoo(torch.nn.Module):
    """The three modules in one model, with hx, lengths and batch_first."""

    def __init__(self):
        super().__init__()
        self.ind = _module("indrnn_relu", num_layers=2, bidirectional=True, batch_first=True,
                           recurrent_max_abs=0.7)
        self.gru = _module("mingru", seed=1, input_size=2 * H, bidirectional=True)
        self.lstm = _module("minlstm", seed=2, input_size=2 * H, num_layers=2)

    def forward(self, x, h0, lens):
        y, h = self.ind(x, h0, lengths=lens)
        y2, h2 = self.gru(y.transpose(0, 1), lengths=lens)
        y3, h3 = self.lstm(y2)
        return y3, h.sum(0) + h2.sum() + h3.sum()


def _compile_inputs(T):
    g = torch.Generator().manual_seed(T)
    return [torch.randn(s, generator=g, dtype=torch.float64).requires_grad_(True)
            for s in ((2, T, I), (4, 2, H))] + [torch.tensor([T, T - 1])]


def _loss_and_grads(model, args):
    model.zero_grad()
    y, h = model(*args)
    (y.pow(2).sum() + h.sum()).backward()
    return [y, h] + [a.grad for a in args[:2]] + [p.grad for p in model.parameters()]


def test_compile_fullgraph_matches_eager():
    """Forward and backward of the compiled model are eager mode's (caches off: a graph from
    an earlier run, made with another rnnfast.torch, would test that one)."""
    import torch._dynamo
    import torch._inductor.config
    model = Zoo()
    torch._dynamo.reset()
    with torch.no_grad():
        model.ind.weight_hh_l0.fill_(2.0)
    with torch._inductor.config.patch(force_disable_caches=True):
        compiled = torch.compile(model, fullgraph=True)
        compiled(*_compile_inputs(4))
        assert torch.all(model.ind.weight_hh_l0 == 0.7)  # recurrent_max_abs under compile
        _compile_matches_eager(model, compiled)


def _compile_matches_eager(model, compiled):
    for T in (4, 4):  # the second call reuses the graph
        got = _loss_and_grads(compiled, _compile_inputs(T))
        want = _loss_and_grads(model, _compile_inputs(T))
        assert len(got) == len(want) == 4 + len(list(model.parameters()))
        for k, (a, b) in enumerate(zip(got, want)):
            assert a is not None and b is not None, k
            torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)


def test_export_keeps_the_kernels_in_the_graph():
    model = Zoo().eval()
    args = tuple(a.detach() for a in _compile_inputs(5))
    ep = torch.export.export(model, args)
    calls = [n for n in ep.graph.nodes if n.op == "call_function"
             and n.target == torch.ops.rnnfast.rnn_layer.default]
    assert sorted(n.args[0] for n in calls) == ["indrnn_relu"] * 2 + ["mingru"] + ["minlstm"] * 2
    for a, b in zip(model(*args), ep.module()(*args)):
        torch.testing.assert_close(b, a, rtol=1e-12, atol=1e-12)


# ---------------------------------------------------------------------------------------------
# what is refused

@pytest.mark.parametrize("kind", KINDS)
def test_refusals(kind):
    cls = getattr(rt, CLASSES[kind])
    m = _module(kind)
    x = torch.randn(4, 2, I, dtype=torch.float64)
    with pytest.raises(ValueError, match="CPU only.*meta"):
        cls(I, H, device="meta", **_kw(kind, {}))(x.float())
    with pytest.raises(ValueError, match="CPU only.*meta"):
        m(x.to("meta"))
    with pytest.raises(TypeError, match="float16"):
        cls(I, H, dtype=torch.float16, **_kw(kind, {}))(x.half())
    with pytest.raises(ValueError, match="dtype"):
        m(x.float())
    with pytest.raises(rt.InputError, match="input_size. Expected 3, got 5"):
        m(torch.randn(4, 2, 5, dtype=torch.float64))
    with pytest.raises(rt.InputError, match=r"hx: expected hidden size \(1, 2, 4\)"):
        m(x, torch.zeros(1, 3, H, dtype=torch.float64))
    with pytest.raises(rt.InputError, match="lengths"):
        m(x, lengths=[4, 2, 1])
    with pytest.raises((ValueError, IndexError), match="lengths"):
        m(x, lengths=[5, 2])
    with pytest.raises(TypeError, match="hidden_size"):
        cls(I, 2.5)
    with pytest.raises(ValueError, match="dropout"):
        cls(I, H, dropout=1.5)
    y, h_n = m(x.requires_grad_(True))
    (dx,) = torch.autograd.grad(y.sum() + h_n.sum(), x, create_graph=True)
    with pytest.raises(NotImplementedError, match="double backward"):
        dx.sum().backward()


def test_cell_options_are_checked():
    with pytest.raises(ValueError, match="nonlinearity"):
        rt.IndRNN(I, H, nonlinearity="sigmoid")
    with pytest.raises(ValueError, match="recurrent_max_abs"):
        rt.IndRNN(I, H, recurrent_max_abs=0.0)
    with pytest.raises(ValueError, match="recurrent_dropout"):
        rt.IndRNN(I, H, recurrent_dropout=1.0)
    for cls in (rt.MinGRU, rt.MinLSTM):
        with pytest.raises(TypeError, match="recurrent_dropout"):
            cls(I, H, recurrent_dropout=0.1)
        with pytest.raises(TypeError, match="nonlinearity"):
            cls(I, H, nonlinearity="tanh")


@pytest.mark.parametrize("dynamo", onnx_exporters())
@pytest.mark.parametrize("cls", ["IndRNN", "MinGRU", "MinLSTM", "LayerNormLSTM", "LayerNormGRU"])
def test_onnx_export_is_refused(cls, dynamo):
    """Either exporter: NotImplementedError naming the module (no standard ONNX operator)."""
    pytest.importorskip("onnx")

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.rnn = getattr(rt, cls)(I, H)

        def forward(self, x):
            return self.rnn(x)[0]

    message = f"{cls}: ONNX has no standard operator"
    # the dynamo-based exporter wraps what its captures raised in its TorchExportError
    with pytest.raises(NotImplementedError if not dynamo else Exception, match=message) as ei:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(Net().eval(), (torch.randn(4, 2, I),), io.BytesIO(),
                              dynamo=dynamo)
    e, chain = ei.value, []
    while e is not None:
        chain.append(e)
        e = e.__cause__ or e.__context__
    assert any(isinstance(e, NotImplementedError) and message in str(e) for e in chain)


@pytest.mark.parametrize("kind", KINDS)
def test_torch_func_grad(kind):
    """torch.func.grad over functional_call (the _Layer path) gives the eager gradients,
    checked above against rnnfast.nn and finite differences."""
    m = _module(kind, bidirectional=True, num_layers=2)
    x = torch.randn(5, 2, I, dtype=torch.float64)
    params = {k: v.detach() for k, v in m.named_parameters()}
    got = torch.func.grad(
        lambda p: torch.func.functional_call(m, p, (x,))[0].pow(2).sum())(params)
    m(x)[0].pow(2).sum().backward()
    assert set(got) == set(params)
    for k, p in m.named_parameters():
        torch.testing.assert_close(got[k], p.grad, rtol=1e-12, atol=1e-12)
