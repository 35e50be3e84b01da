"""rnnfast.torch's LayerNormLSTM and LayerNormGRU (torch.nn.Modules over the layer-normalized
cells "layernorm_lstm", "layernorm_gru").

Oracles: rnnfast.nn's modules of the same cells with the same weights (outputs and the
gradients of the input, hx and every parameter, the gains included, for every option;
rnnfast.nn's are checked against the float64 NumPy reference in test_layernorm_cells.py), the
float64 NumPy reference itself (recurrent dropout, with the module's mask), a plain torch-ops
loop of each docstring formula (float64, torch's autograd for the gradients), float64 finite
differences (torch.autograd.gradcheck), and eager mode for torch.compile / torch.export. Their
refusal of ONNX export is tested with the other cells torch lacks, in test_torch_new_cells.py.
"""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import torch.nn.functional as F  # noqa: E402
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence  # noqa: E402

import rnnfast  # noqa: E402
import rnnfast.nn as rnn_nn  # noqa: E402
import rnnfast.torch as rt  # noqa: E402
from rnnfast import reference  # noqa: E402
from rnnfast.torch import _ops  # noqa: E402

TDT = {np.float32: torch.float32, np.float64: torch.float64}
TOL = {np.float32: dict(rtol=2e-5, atol=2e-5), np.float64: dict(rtol=1e-10, atol=1e-10)}
I, H = 3, 4
KINDS = ("layernorm_lstm", "layernorm_gru")
CLASSES = {"layernorm_lstm": "LayerNormLSTM", "layernorm_gru": "LayerNormGRU"}
EXTRAS = {"layernorm_lstm": ("gamma_x", "gamma_h", "gamma_c", "beta_c"),
          "layernorm_gru": ("gamma_x", "gamma_h")}


def _module(kind, dtype=np.float64, seed=0, input_size=I, **kw):
    """An rnnfast.torch module of ``kind`` with random parameters (gains around one, shifts
    around zero, so that none is at its initial value)."""
    torch.manual_seed(seed)
    m = getattr(rt, CLASSES[kind])(input_size, H, dtype=TDT[dtype], **kw)
    with torch.no_grad():
        for n, p in m.named_parameters():
            p.uniform_(-0.8, 0.8)
            if n.startswith("gamma"):
                p.add_(1.0)
    return m


def _twin(m, kind, dtype, **kw):
    """rnnfast.nn's module of the same cell and options, loaded with m's state_dict."""
    twin = getattr(rnn_nn, CLASSES[kind])(I, H, dtype=dtype, **kw)
    twin.load_state_dict({k: v.detach().numpy() for k, v in m.state_dict().items()})
    return twin


def _states(out):
    """(h_n, c_n or None) of a module's second output."""
    return out if isinstance(out, tuple) else (out, None)


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
    "eval_layers2_dropout_recurrent_dropout": dict(  # no dropout of either kind in eval mode
        ctor=dict(num_layers=2, dropout=0.5, recurrent_dropout=0.5), hx=True, eval=True),
}


def _case_params():
    return [pytest.param(kind, case, dtype, id=f"{kind}-{name}-{np.dtype(dtype).name}")
            for name, case in CASES.items() for kind in KINDS
            for dtype in (np.float32, np.float64)]


@pytest.mark.parametrize("kind, case, dtype", _case_params())
def test_modules_match_rnnfast_nn(kind, case, dtype):
    """Outputs and the gradients of the input, hx (h_0 and c_0) and every parameter (the gains
    and shift included) are rnnfast.nn's for the same weights; a PackedSequence is rnnfast.nn's
    padded batch with lengths=."""
    ctor = case["ctor"]
    m = _module(kind, dtype, **ctor)
    twin = _twin(m, kind, dtype, **ctor)
    if case.get("eval"):
        m.eval()
        twin.eval()
    lstm = kind == "layernorm_lstm"
    T, B = 5, 3
    bf = ctor.get("batch_first", False)
    D_L = (2 if ctor.get("bidirectional") else 1) * ctor.get("num_layers", 1)
    g = torch.Generator().manual_seed(1)
    tdt = TDT[dtype]
    if case.get("unbatched"):
        B = 1
        x = torch.randn(T, I, generator=g, dtype=tdt)
        lens = torch.tensor([3])
        state_shape = (D_L, H)
    else:
        x = torch.randn((B, T, I) if bf else (T, B, I), generator=g, dtype=tdt)
        lens = torch.tensor([5, 4, 2] if case.get("sorted") else [4, 5, 2])
        state_shape = (D_L, B, H)
    hx = None
    if case.get("hx"):
        hx = tuple(torch.randn(state_shape, generator=g, dtype=tdt).requires_grad_(True)
                   for _ in range(2 if lstm else 1))
    x.requires_grad_(True)
    hx_arg = None if hx is None else (hx if lstm else hx[0])
    if case.get("packed"):
        packed = pack_padded_sequence(x, lens, batch_first=bf,
                                      enforce_sorted=bool(case.get("sorted")))
        y, st = m(packed, hx_arg)
        assert isinstance(y, torch.nn.utils.rnn.PackedSequence)
        y = pad_packed_sequence(y, batch_first=bf, total_length=T)[0]
    else:
        y, st = m(x, hx_arg, lengths=lens if case.get("lengths") else None)
    assert isinstance(st, tuple) == lstm
    h_n, c_n = _states(st)
    g = torch.Generator().manual_seed(2)
    wy = torch.randn(y.shape, generator=g, dtype=tdt)
    wh = torch.randn(h_n.shape, generator=g, dtype=tdt)
    wc = torch.randn(h_n.shape, generator=g, dtype=tdt)
    loss = (y * wy).sum() + (h_n * wh).sum() + (0 if c_n is None else (c_n * wc).sum())
    loss.backward()

    xr = rnnfast.tensor(x.detach().numpy(), requires_grad=True)
    hr = None if hx is None else tuple(rnnfast.tensor(s.detach().numpy(), requires_grad=True)
                                       for s in hx)
    use_lens = case.get("lengths") or case.get("packed")
    yr, str_ = twin(xr, None if hr is None else (hr if lstm else hr[0]),
                    lengths=lens.numpy() if use_lens else None)
    hr_n, cr_n = _states(str_)
    loss_r = (yr * rnnfast.tensor(wy.numpy())).sum() + (hr_n * rnnfast.tensor(wh.numpy())).sum()
    if lstm:
        loss_r = loss_r + (cr_n * rnnfast.tensor(wc.numpy())).sum()
    loss_r.backward()

    tol = TOL[dtype]
    assert y.shape == yr.shape and h_n.shape == hr_n.shape
    assert y.dtype == tdt and h_n.dtype == tdt
    np.testing.assert_allclose(y.detach().numpy(), yr.numpy(), err_msg="y", **tol)
    np.testing.assert_allclose(h_n.detach().numpy(), hr_n.numpy(), err_msg="h_n", **tol)
    if lstm:
        assert c_n.shape == cr_n.shape and c_n.dtype == tdt
        np.testing.assert_allclose(c_n.detach().numpy(), cr_n.numpy(), err_msg="c_n", **tol)
    np.testing.assert_allclose(x.grad.numpy(), xr.grad, err_msg="dx", **tol)
    if hx is not None:
        for k, (a, b) in enumerate(zip(hx, hr)):
            np.testing.assert_allclose(a.grad.numpy(), b.grad, err_msg=f"dhx[{k}]", **tol)
    twin_params = dict(twin.named_parameters())
    assert [n for n, _ in m.named_parameters()] == list(twin_params)
    for name, p in m.named_parameters():
        assert p.grad is not None, name
        assert p.grad.shape == p.shape, name
        np.testing.assert_allclose(p.grad.numpy(), twin_params[name].grad, err_msg=name, **tol)


# ---------------------------------------------------------------------------------------------
# the formulas in plain torch ops

def _ln(v):
    return (v - v.mean(-1, keepdim=True)) / torch.sqrt(v.var(-1, unbiased=False, keepdim=True)
                                                       + 1e-5)


def _reference_layer(kind, x, h, c, p, mask=None):
    """One layer, one direction, time-major, float64: the docstring's formula written out; p
    the layer-direction's parameters by name without the suffix; mask the recurrent dropout
    mask on the h_(t-1) that W_hh sees."""
    ys = []
    for t in range(x.shape[0]):
        hm = h if mask is None else h * mask
        u = _ln(x[t] @ p["weight_ih"].T) * p["gamma_x"] + p["bias_ih"]
        v = _ln(hm @ p["weight_hh"].T) * p["gamma_h"] + p["bias_hh"]
        if kind == "layernorm_lstm":
            a = u + v
            i, f, gg, o = (a[:, k * H:(k + 1) * H] for k in range(4))
            c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(gg)
            h = torch.sigmoid(o) * torch.tanh(_ln(c) * p["gamma_c"] + p["beta_c"])
        else:
            r = torch.sigmoid(u[:, :H] + v[:, :H])
            z = torch.sigmoid(u[:, H:2 * H] + v[:, H:2 * H])
            n = torch.tanh(u[:, 2 * H:] + r * v[:, 2 * H:])
            h = (1 - z) * n + z * h
        ys.append(h)
    return torch.stack(ys), h, c


def _formula(kind, m, x, h0, c0, masks=None):
    """A one-layer bidirectional module's outputs from _reference_layer."""
    outs = []
    for d, sfx in enumerate(("_l0", "_l0_reverse")):
        p = {n[:-len(sfx)]: v for n, v in m.named_parameters() if n.endswith(sfx)}
        xd = x if d == 0 else x.flip(0)
        yd, hd, cd = _reference_layer(kind, xd, h0[d], None if c0 is None else c0[d], p,
                                      None if masks is None else masks[d])
        outs.append((yd if d == 0 else yd.flip(0), hd, cd))
    y = torch.cat([outs[0][0], outs[1][0]], 2)
    h = torch.stack([outs[0][1], outs[1][1]])
    c = None if c0 is None else torch.stack([outs[0][2], outs[1][2]])
    return y, h, c


@pytest.mark.parametrize("kind", KINDS)
def test_modules_compute_their_formulas(kind):
    """Outputs and gradients equal a torch-ops loop of the formula the docstring gives (one
    layer, both directions, given hx)."""
    m = _module(kind, bidirectional=True)
    lstm = kind == "layernorm_lstm"
    T, B = 4, 2
    g = torch.Generator().manual_seed(3)
    x = torch.randn(T, B, I, generator=g, dtype=torch.float64, requires_grad=True)
    h0 = torch.randn(2, B, H, generator=g, dtype=torch.float64, requires_grad=True)
    c0 = torch.randn(2, B, H, generator=g, dtype=torch.float64, requires_grad=True)
    y, st = m(x, (h0, c0) if lstm else h0)
    h_n, c_n = _states(st)
    y_ref, h_ref, c_ref = _formula(kind, m, x, h0, c0 if lstm else None)
    torch.testing.assert_close(y, y_ref, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(h_n, h_ref, rtol=1e-12, atol=1e-12)
    inputs = [x, h0, *m.parameters()]
    loss, loss_ref = (y ** 2).sum() + (h_n ** 3).sum(), (y_ref ** 2).sum() + (h_ref ** 3).sum()
    if lstm:
        torch.testing.assert_close(c_n, c_ref, rtol=1e-12, atol=1e-12)
        inputs.append(c0)
        loss, loss_ref = loss + c_n.sin().sum(), loss_ref + c_ref.sin().sum()
    g_ours = torch.autograd.grad(loss, inputs)
    g_ref = torch.autograd.grad(loss_ref, inputs)
    names = ["x", "h0", *[n for n, _ in m.named_parameters()], "c0"]
    for name, a, b in zip(names, g_ours, g_ref):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-10, msg=name)


@pytest.mark.parametrize("kind", KINDS)
def test_gradcheck(kind):
    """Finite differences (float64) of the input, hx and every parameter: two bidirectional
    layers, lengths, batch_first."""
    m = _module(kind, num_layers=2, bidirectional=True, batch_first=True)
    T, B = 3, 2
    g = torch.Generator().manual_seed(4)
    x = torch.randn(B, T, I, generator=g, dtype=torch.float64, requires_grad=True)
    h0 = torch.randn(4, B, H, generator=g, dtype=torch.float64, requires_grad=True)
    c0 = torch.randn(4, B, H, generator=g, dtype=torch.float64, requires_grad=True)
    names = [n for n, _ in m.named_parameters()]
    params = [p.detach().clone().requires_grad_(True) for p in m.parameters()]
    lstm = kind == "layernorm_lstm"

    def f(x, h0, c0, *ps):
        y, st = torch.func.functional_call(m, dict(zip(names, ps)),
                                           (x, (h0, c0) if lstm else h0),
                                           {"lengths": torch.tensor([3, 2])})
        return (y, *st) if lstm else (y, st)

    assert torch.autograd.gradcheck(f, (x, h0, c0, *params), eps=1e-6, atol=1e-6, rtol=1e-5)


# ---------------------------------------------------------------------------------------------
# dropout, recurrent dropout

@pytest.mark.parametrize("kind", KINDS)
def test_recurrent_dropout_is_the_kernels_mask(kind):
    """In training, W_hh sees h_(t-1) times one mask per (layer, direction), drawn as
    rnnfast.torch.RNN draws it (bernoulli(1 - p) / (1 - p), shape (D, B, H)): outputs and
    gradients are the float64 reference's with that h_mask, and a torch-ops loop's; in eval
    mode no mask applies."""
    m = _module(kind, bidirectional=True, recurrent_dropout=0.5)
    assert "recurrent_dropout=0.5" in repr(m)
    lstm = kind == "layernorm_lstm"
    T, B = 5, 3
    g = torch.Generator().manual_seed(6)
    x = torch.randn(T, B, I, generator=g, dtype=torch.float64, requires_grad=True)
    dy = torch.randn(T, B, 2 * H, generator=g, dtype=torch.float64)
    torch.manual_seed(7)
    y, st = m(x)
    (y * dy).sum().backward()
    torch.manual_seed(7)
    mask = torch.empty(2, B, H, dtype=torch.float64).bernoulli_(0.5).div_(0.5)
    assert 0 < int((mask == 0).sum()) < mask.numel()
    ys, dx = [], 0
    for d, sfx in enumerate(("_l0", "_l0_reverse")):
        p = {n[:-len(sfx)]: v.detach().numpy() for n, v in m.named_parameters()
             if n.endswith(sfx)}
        yd, _, _, cache = reference.forward(
            kind, x.detach().numpy(), p["weight_ih"], p["weight_hh"], p["bias_ih"],
            p["bias_hh"], reverse=bool(d), h_mask=mask[d].numpy(),
            **{e: p[e] for e in EXTRAS[kind]})
        ys.append(yd)
        grads = reference.backward(cache, dy=dy[:, :, d * H:(d + 1) * H].numpy())
        dx = dx + grads["dx"]
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh", *EXTRAS[kind]):
            key = name.replace("weight_", "w_").replace("bias_", "b_")
            np.testing.assert_allclose(getattr(m, name + sfx).grad.numpy(), grads[key],
                                       rtol=1e-9, atol=1e-12, err_msg=name + sfx)
    np.testing.assert_allclose(y.detach().numpy(), np.concatenate(ys, 2), rtol=1e-10,
                               atol=1e-12)
    np.testing.assert_allclose(x.grad.numpy(), dx, rtol=1e-9, atol=1e-12)
    zeros = torch.zeros(2, B, H, dtype=torch.float64)
    y_loop = _formula(kind, m, x, zeros, zeros if lstm else None, mask)[0]
    torch.testing.assert_close(y, y_loop, rtol=1e-12, atol=1e-12)
    m.eval()
    twin = _twin(m, kind, np.float64, bidirectional=True)
    np.testing.assert_allclose(m(x)[0].detach().numpy(), twin(x.detach().numpy())[0].numpy(),
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
    y, st = m(x)
    torch.manual_seed(11)
    y1, st1 = one(x)
    y2, st2 = two(F.dropout(y1, 0.5, True))
    torch.testing.assert_close(y, y2, rtol=1e-12, atol=1e-12)
    for a, b, c in zip(_states(st), _states(st1), _states(st2)):
        if a is not None:
            torch.testing.assert_close(a, torch.cat((b, c)), rtol=1e-12, atol=1e-12)
    m.eval()  # no dropout
    torch.testing.assert_close(m(x)[0], two(one(x)[0])[0], rtol=1e-12, atol=1e-12)


# ---------------------------------------------------------------------------------------------
# parameters, state_dict, surface

@pytest.mark.parametrize("kind", KINDS)
def test_parameters_are_rnnfast_nns(kind):
    """Names, shapes, order and dtypes as rnnfast.nn's; the initialization: weights and biases
    U(-1/sqrt(H), 1/sqrt(H)), gains one, shifts zero (also after reset_parameters())."""
    kw = dict(num_layers=2, bidirectional=True)
    m = getattr(rt, CLASSES[kind])(I, H, **kw)
    twin = getattr(rnn_nn, CLASSES[kind])(I, H, **kw)
    assert [(n, tuple(p.shape)) for n, p in m.named_parameters()] == \
        [(n, tuple(p.shape)) for n, p in twin.named_parameters()]
    assert {n.split("_l")[0] for n, _ in m.named_parameters()} == \
        {"weight_ih", "weight_hh", "bias_ih", "bias_hh", *EXTRAS[kind]}
    k = 1 / np.sqrt(H)

    def check_init(mod):
        for n, p in mod.named_parameters():
            assert isinstance(p, torch.nn.Parameter), n
            if n.startswith("gamma"):
                assert torch.all(p == 1), n
            elif n.startswith("beta"):
                assert torch.all(p == 0), n
            else:
                assert -k <= p.min() and p.max() <= k and p.std() > 0, n

    check_init(m)
    assert {p.dtype for p in m.parameters()} == {torch.get_default_dtype()}
    with torch.no_grad():
        for p in m.parameters():
            p.fill_(5.0)
    m.reset_parameters()
    check_init(m)
    m64 = getattr(rt, CLASSES[kind])(I, H, dtype=torch.float64, bias=False)
    assert {p.dtype for p in m64.parameters()} == {torch.float64}
    assert not any("bias" in n for n, _ in m64.named_parameters())
    assert any(n.startswith("gamma") for n, _ in m64.named_parameters())
    assert m64.double() is m64 and {p.dtype for p in m64.float().parameters()} == {torch.float32}


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_state_dict_both_ways(kind, dtype):
    """rnnfast.nn -> rnnfast.torch (its NumPy state_dict as it is, or as tensors) and back give
    the same results, with gains and shifts away from their initial values."""
    kw = dict(num_layers=2, bidirectional=True)
    rnnfast.manual_seed(5)
    src = getattr(rnn_nn, CLASSES[kind])(I, H, dtype=dtype, **kw)
    rng = np.random.default_rng(1)
    for n, p in src.named_parameters():
        if n.startswith(("gamma", "beta")):
            p.data[...] = rng.uniform(0.5, 1.5, p.data.shape)
    x = rng.standard_normal((5, 2, I)).astype(dtype)

    def flat(out):
        y, st = out
        return [y, *st] if isinstance(st, tuple) else [y, st]

    want = flat(src(x))
    for sd in (src.state_dict(), {k: torch.from_numpy(v) for k, v in src.state_dict().items()}):
        m = getattr(rt, CLASSES[kind])(I, H, dtype=TDT[dtype], **kw)
        m.load_state_dict(sd)
        got = flat(m(torch.from_numpy(x)))
        assert len(got) == len(want)
        for a, b in zip(got, want):
            np.testing.assert_allclose(a.detach().numpy(), b.numpy(), **TOL[dtype])
    back = getattr(rnn_nn, CLASSES[kind])(I, H, dtype=dtype, **kw)
    back.load_state_dict(m.state_dict())
    for a, b in zip(flat(back(x)), want):
        np.testing.assert_allclose(a.numpy(), b.numpy(), **TOL[dtype])
    with pytest.raises(RuntimeError, match="gamma_x_l1"):
        getattr(rt, CLASSES[kind])(I, H).load_state_dict(sd)


def test_repr_and_exports():
    assert {"LayerNormLSTM", "LayerNormGRU"} <= set(rt.__all__)
    assert repr(rt.LayerNormLSTM(I, H, num_layers=2, bias=False)) == \
        "LayerNormLSTM(3, 4, num_layers=2, bias=False)"
    assert repr(rt.LayerNormGRU(I, H, batch_first=True, bidirectional=True,
                                recurrent_dropout=0.25)) == \
        "LayerNormGRU(3, 4, batch_first=True, bidirectional=True, recurrent_dropout=0.25)"
    for cls in (rt.LayerNormLSTM, rt.LayerNormGRU):
        assert issubclass(cls, torch.nn.Module) and not issubclass(cls, torch.nn.RNNBase)
        assert "LN(" in cls.__doc__ and "haste" in cls.__doc__ and "h_t" in cls.__doc__


# ---------------------------------------------------------------------------------------------
# the custom op, torch.compile, torch.export

@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("bi", [False, True])
def test_custom_op_with_the_extras(kind, bi):
    """opcheck (schema, fake tensors, autograd) of rnn_layer with the cell's extras as its
    interleaved e0, e0_r, ... arguments; the reserve's size is reserve_size's; the fake
    backward's shapes (the extras' gradients included) are the kernels'."""
    T, B = 3, 2
    G = rnnfast._cells.GATES[kind]
    D = 2 if bi else 1

    def w(*s):
        return (0.3 * torch.randn(s, dtype=torch.float64)).requires_grad_(True)

    ws, extras = [], []
    for _ in range(D):
        ws += [w(G * H, I), w(G * H, H), w(G * H), w(G * H), None]
        extras.append([w(b * H) for _, b in rnnfast._cells.CELLS[kind].extras])
    ws += [None] * (10 - len(ws))
    es = _ops.pairs(extras[0], extras[1] if bi else None)
    lstm = kind == "layernorm_lstm"
    args = (kind, w(T, B, I), *ws, w(D, B, H), w(D, B, H) if lstm else None,
            torch.tensor([3, 2]), None, True, False, *es)
    torch.library.opcheck(torch.ops.rnnfast.rnn_layer.default, args)
    out = torch.ops.rnnfast.rnn_layer.default(*args)
    assert out[4].numel() == _ops.reserve_size(kind, T, B, H, H)
    fake = _ops._rnn_layer_fake(*args)
    assert [tuple(t.shape) for t in fake] == [tuple(t.shape) for t in out]
    dy = torch.randn(T, B, H, dtype=torch.float64)
    bargs = (kind, *args[1:12], args[14], None, out[0], out[1], out[4], out[5], dy,
             dy if bi else None, None, None, False, *es)
    g = torch.ops.rnnfast.rnn_layer_backward.default(*bargs)
    fg = _ops._rnn_layer_backward_fake(*bargs)
    assert len(g) == 13 + 2 * _ops.MAX_EXTRAS
    assert [tuple(t.shape) for t in fg] == [tuple(t.shape) for t in g]
    for k, e in enumerate(es):  # each extra's gradient, in the extras' order
        assert (e is None) == (g[13 + k].numel() == 0), k
        if e is not None:
            assert g[13 + k].shape == e.shape and g[13 + k].abs().sum() > 0, k
    # a gap among the extras is refused
    with pytest.raises(ValueError, match="e0: expected a tensor"):
        torch.ops.rnnfast.rnn_layer.default(*args[:18], None, *es[1:])


class Zoo(torch.nn.Module):
    """The two modules in one model, with hx, lengths and batch_first."""

    def __init__(self):
        super().__init__()
        self.lstm = _module("layernorm_lstm", num_layers=2, bidirectional=True,
                            batch_first=True)
        self.gru = _module("layernorm_gru", seed=1, input_size=2 * H, bidirectional=True)

    def forward(self, x, h0, c0, lens):
        y, (h, c) = self.lstm(x, (h0, c0), lengths=lens)
        y2, h2 = self.gru(y.transpose(0, 1), lengths=lens)
        return y2, h.sum(0) + c.sum() + h2.sum()


def _compile_inputs(T):
    g = torch.Generator().manual_seed(T)
    return [torch.randn(s, generator=g, dtype=torch.float64).requires_grad_(True)
            for s in ((2, T, I), (4, 2, H), (4, 2, H))] + [torch.tensor([T, T - 1])]


def _loss_and_grads(model, args):
    model.zero_grad()
    y, h = model(*args)
    (y.pow(2).sum() + h.sum()).backward()
    return [y, h] + [a.grad for a in args[:3]] + [p.grad for p in model.parameters()]


def test_compile_fullgraph_matches_eager():
    """Forward and backward of the compiled model are eager mode's, every parameter's gradient
    included (caches off: a graph from an earlier run, made with another rnnfast.torch, would
    test that one)."""
    import torch._dynamo
    import torch._inductor.config
    model = Zoo()
    torch._dynamo.reset()
    with torch._inductor.config.patch(force_disable_caches=True):
        compiled = torch.compile(model, fullgraph=True)
        for T in (4, 4):  # the second call reuses the graph
            got = _loss_and_grads(compiled, _compile_inputs(T))
            want = _loss_and_grads(model, _compile_inputs(T))
            assert len(got) == len(want) == 5 + len(list(model.parameters()))
            for k, (a, b) in enumerate(zip(got, want)):
                assert a is not None and b is not None, k
                torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)


def test_export_keeps_the_kernels_in_the_graph():
    model = Zoo().eval()
    args = tuple(a.detach() for a in _compile_inputs(5))
    ep = torch.export.export(model, args)
    calls = [n for n in ep.graph.nodes if n.op == "call_function"
             and n.target == torch.ops.rnnfast.rnn_layer.default]
    assert sorted(n.args[0] for n in calls) == ["layernorm_gru"] + ["layernorm_lstm"] * 2
    for n in calls:  # every extra of both directions reaches the op
        assert len(n.args) == 18 + 2 * len(EXTRAS[n.args[0]])
        assert all(a is not None for a in n.args[18:])
    for a, b in zip(model(*args), ep.module()(*args)):
        torch.testing.assert_close(b, a, rtol=1e-12, atol=1e-12)


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


# ---------------------------------------------------------------------------------------------
# what is refused

@pytest.mark.parametrize("kind", KINDS)
def test_refusals(kind):
    cls = getattr(rt, CLASSES[kind])
    m = _module(kind)
    x = torch.randn(4, 2, I, dtype=torch.float64)
    with pytest.raises(ValueError, match="CPU only.*meta"):
        cls(I, H, device="meta")(x.float())
    with pytest.raises(ValueError, match="CPU only.*meta"):
        m(x.to("meta"))
    with pytest.raises(TypeError, match="float16"):
        cls(I, H, dtype=torch.float16)(x.half())
    with pytest.raises(ValueError, match="dtype"):
        m(x.float())
    with pytest.raises(rt.InputError, match="input_size. Expected 3, got 5"):
        m(torch.randn(4, 2, 5, dtype=torch.float64))
    bad = torch.zeros(1, 3, H, dtype=torch.float64)
    if kind == "layernorm_lstm":
        with pytest.raises(TypeError, match=r"hx: expected a tuple \(h_0, c_0\)"):
            m(x, bad)
        with pytest.raises(rt.InputError, match=r"hx\[1\]: expected hidden size \(1, 2, 4\)"):
            m(x, (torch.zeros(1, 2, H, dtype=torch.float64), bad))
    else:
        with pytest.raises(rt.InputError, match=r"hx: expected hidden size \(1, 2, 4\)"):
            m(x, bad)
    with pytest.raises(rt.InputError, match="lengths"):
        m(x, lengths=[4, 2, 1])
    with pytest.raises((ValueError, IndexError), match="lengths"):
        m(x, lengths=[5, 2])
    with pytest.raises(TypeError, match="hidden_size"):
        cls(I, 2.5)
    with pytest.raises(ValueError, match="dropout"):
        cls(I, H, dropout=1.5)
    with pytest.raises(ValueError, match="recurrent_dropout"):
        cls(I, H, recurrent_dropout=1.0)
    with pytest.raises(TypeError, match="proj_size"):
        cls(I, H, proj_size=2)
    y, st = m(x.requires_grad_(True))
    (dx,) = torch.autograd.grad(y.sum() + _states(st)[0].sum(), x, create_graph=True)
    with pytest.raises(NotImplementedError, match="double backward"):
        dx.sum().backward()
