"""rnnfast.torch's cell variants torch.nn lacks: GRU(reset_after=False) ("gru_reset_before":
n = tanh(W_in x + b_in + W_hn (r * h) + b_hn)) and LSTM(peephole=True) ("lstm_peephole", the
parameters weight_p_l{k}[_reverse] = (p_i|p_f|p_o)).

Oracles: rnnfast.nn's modules of the same cells with the same weights (outputs and the
gradients of the input, hx and every parameter, for every option), a plain torch-ops loop of
the cells' formulas (float64), float64 finite differences (torch.autograd.gradcheck), eager
mode for torch.compile / torch.export, and eager mode for the exported ONNX graphs run by ONNX
Runtime. The default modules (reset_after=True, peephole=False) stay torch.nn's.
"""

import contextlib
import io
import warnings

import numpy as np
import pytest

from _tools import onnx_exporters

torch = pytest.importorskip("torch")

from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence  # noqa: E402

import rnnfast  # noqa: E402
import rnnfast.nn as rnn_nn  # noqa: E402
import rnnfast.torch as rt  # noqa: E402

TDT = {np.float32: torch.float32, np.float64: torch.float64}
TOL = {np.float32: dict(rtol=1e-5, atol=1e-5), np.float64: dict(rtol=1e-10, atol=1e-10)}
I, H = 3, 4


def _module(kind, dtype=np.float64, seed=0, input_size=I, **kw):
    """An rnnfast.torch module of the variant ``kind`` with every parameter random (the
    peepholes too, which start at zero)."""
    torch.manual_seed(seed)
    if kind == "gru_reset_before":
        m = rt.GRU(input_size, H, reset_after=False, dtype=TDT[dtype], **kw)
    else:
        m = rt.LSTM(input_size, H, peephole=True, dtype=TDT[dtype], **kw)
    with torch.no_grad():
        for p in m.parameters():
            p.uniform_(-0.6, 0.6)
    return m


def _twin(m, kind, dtype, **kw):
    """rnnfast.nn's module of the same cell and options, loaded with m's weights (NumPy)."""
    if kind == "gru_reset_before":
        twin = rnn_nn.GRU(I, H, reset_after=False, dtype=dtype, **kw)
    else:
        twin = rnn_nn.LSTM(I, H, peephole=True, dtype=dtype, **kw)
    twin.load_state_dict({k: v.detach().numpy() for k, v in m.state_dict().items()})
    return twin


def _states(kind, D_L, B, H_out, dtype, g):
    h = torch.randn(D_L, B, H_out, generator=g, dtype=TDT[dtype])
    return (h, torch.randn(D_L, B, H, generator=g, dtype=TDT[dtype])) if "lstm" in kind else h


CASES = {
    "layers2_bidirectional_batch_first_lengths_hx": dict(
        ctor=dict(num_layers=2, bidirectional=True, batch_first=True), lengths=True, hx=True),
    "layers2_lengths": dict(ctor=dict(num_layers=2), lengths=True, hx=False),
    "bidirectional_hx_no_bias": dict(ctor=dict(bidirectional=True, bias=False), lengths=False,
                                     hx=True),
    "packed_bidirectional_hx": dict(ctor=dict(bidirectional=True, num_layers=2), packed=True,
                                    hx=True),
    "proj_bidirectional_layers2_lengths_hx": dict(
        ctor=dict(proj_size=2, num_layers=2, bidirectional=True), lengths=True, hx=True,
        lstm_only=True),
    "proj_packed_batch_first": dict(ctor=dict(proj_size=3, batch_first=True), packed=True,
                                    hx=True, lstm_only=True),
}


def _case_params():
    out = []
    for name, case in CASES.items():
        for kind in ("gru_reset_before", "lstm_peephole"):
            if case.get("lstm_only") and kind != "lstm_peephole":
                continue
            for dtype in (np.float32, np.float64):
                out.append(pytest.param(kind, case, dtype,
                                        id=f"{kind}-{name}-{np.dtype(dtype).name}"))
    return out


@pytest.mark.parametrize("kind, case, dtype", _case_params())
def test_variants_match_rnnfast_nn(kind, case, dtype):
    """Outputs and the gradients of the input, hx and every parameter (weight_p included) are
    rnnfast.nn's for the same weights; a PackedSequence is rnnfast.nn's padded batch with
    lengths=."""
    ctor = case["ctor"]
    m = _module(kind, dtype, **ctor)
    twin = _twin(m, kind, dtype, **ctor)
    T, B = 5, 3
    bf = ctor.get("batch_first", False)
    D_L = (2 if ctor.get("bidirectional") else 1) * ctor.get("num_layers", 1)
    H_out = ctor.get("proj_size") or H
    g = torch.Generator().manual_seed(1)
    x = torch.randn((B, T, I) if bf else (T, B, I), generator=g, dtype=TDT[dtype])
    lens = torch.tensor([4, 5, 2])
    hx = _states(kind, D_L, B, H_out, dtype, g) if case.get("hx") else None
    hxs = () if hx is None else ((hx,) if isinstance(hx, torch.Tensor) else hx)

    x.requires_grad_(True)
    for s in hxs:
        s.requires_grad_(True)
    if case.get("packed"):
        packed = pack_padded_sequence(x, lens, batch_first=bf, enforce_sorted=False)
        y, st = m(packed, hx)
        y = pad_packed_sequence(y, batch_first=bf, total_length=T)[0]
    else:
        y, st = m(x, hx, lengths=lens if case.get("lengths") else None)
    sts = (st,) if isinstance(st, torch.Tensor) else st
    g = torch.Generator().manual_seed(2)
    ws = [torch.randn(t.shape, generator=g, dtype=t.dtype) for t in (y, *sts)]
    sum((t * w).sum() for t, w in zip((y, *sts), ws)).backward()

    xr = rnnfast.tensor(x.detach().numpy(), requires_grad=True)
    hr = [rnnfast.tensor(s.detach().numpy(), requires_grad=True) for s in hxs]
    hx_r = None if hx is None else (hr[0] if len(hr) == 1 else tuple(hr))
    use_lens = case.get("lengths") or case.get("packed")
    yr, str_ = twin(xr, hx_r, lengths=lens.numpy() if use_lens else None)
    strs = (str_,) if len(sts) == 1 else str_
    total = (yr * rnnfast.tensor(ws[0].numpy())).sum()
    for t, w in zip(strs, ws[1:]):
        total = total + (t * rnnfast.tensor(w.numpy())).sum()
    total.backward()

    tol = TOL[dtype]
    for name, a, b in (("y", y, yr), *[(f"state{k}", a, b) for k, (a, b) in
                                       enumerate(zip(sts, strs))]):
        np.testing.assert_allclose(a.detach().numpy(), b.numpy(), err_msg=name, **tol)
    np.testing.assert_allclose(x.grad.numpy(), xr.grad, err_msg="dx", **tol)
    for k, (s, r) in enumerate(zip(hxs, hr)):
        np.testing.assert_allclose(s.grad.numpy(), r.grad, err_msg=f"dhx[{k}]", **tol)
    twin_params = dict(twin.named_parameters())
    names = [n for n, _ in m.named_parameters()]
    assert sorted(names) == sorted(twin_params)
    if kind == "lstm_peephole":
        assert sum(n.startswith("weight_p_l") for n in names) == D_L
    for name, p in m.named_parameters():
        assert p.grad is not None, name
        np.testing.assert_allclose(p.grad.numpy(), twin_params[name].grad, err_msg=name, **tol)


# ---------------------------------------------------------------------------------------------
# the cells' formulas in plain torch ops

def _reference_layer(kind, x, h, c, w_ih, w_hh, b_ih, b_hh, w_p):
    """One layer, one direction, time-major, float64: the formulas written out."""
    sig = torch.sigmoid
    ys = []
    for t in range(x.shape[0]):
        gi = x[t] @ w_ih.T + b_ih
        if kind == "gru_reset_before":
            r = sig(gi[:, :H] + h @ w_hh[:H].T + b_hh[:H])
            z = sig(gi[:, H:2 * H] + h @ w_hh[H:2 * H].T + b_hh[H:2 * H])
            n = torch.tanh(gi[:, 2 * H:] + (r * h) @ w_hh[2 * H:].T + b_hh[2 * H:])
            h = (1 - z) * n + z * h
        else:
            a = gi + h @ w_hh.T + b_hh
            i = sig(a[:, :H] + w_p[:H] * c)
            f = sig(a[:, H:2 * H] + w_p[H:2 * H] * c)
            c = f * c + i * torch.tanh(a[:, 2 * H:3 * H])
            o = sig(a[:, 3 * H:] + w_p[2 * H:] * c)
            h = o * torch.tanh(c)
        ys.append(h)
    return torch.stack(ys), h, c


@pytest.mark.parametrize("kind", ["gru_reset_before", "lstm_peephole"])
def test_variants_compute_their_formulas(kind):
    """Outputs and gradients equal a torch-ops loop of the cell's formulas (one layer, both
    directions, given hx), so the variants are the cells the docstrings describe."""
    m = _module(kind, bidirectional=True)
    T, B = 4, 2
    g = torch.Generator().manual_seed(3)
    x = torch.randn(T, B, I, generator=g, dtype=torch.float64, requires_grad=True)
    hx = _states(kind, 2, B, H, np.float64, g)
    y, st = m(x, hx)
    h0, c0 = hx if kind == "lstm_peephole" else (hx, torch.zeros(2, B, H, dtype=torch.float64))
    outs = []
    for d, sfx in enumerate(("_l0", "_l0_reverse")):
        w = [getattr(m, n + sfx) for n in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")]
        w_p = getattr(m, "weight_p" + sfx, None)
        xd = x if d == 0 else x.flip(0)
        yd, hd, cd = _reference_layer(kind, xd, h0[d], c0[d], *w, w_p)
        outs.append((yd if d == 0 else yd.flip(0), hd, cd))
    y_ref = torch.cat([outs[0][0], outs[1][0]], 2)
    h_ref = torch.stack([outs[0][1], outs[1][1]])
    got = [y, st[0], st[1]] if kind == "lstm_peephole" else [y, st]
    want = [y_ref, h_ref, torch.stack([outs[0][2], outs[1][2]])][:len(got)]
    for a, b in zip(got, want):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)
    params = list(m.parameters())
    loss = sum((t ** 2).sum() for t in got)
    loss_ref = sum((t ** 2).sum() for t in want)
    g_ours = torch.autograd.grad(loss, [x, *params])
    g_ref = torch.autograd.grad(loss_ref, [x, *params])
    for a, b in zip(g_ours, g_ref):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("kind, ctor", [
    ("gru_reset_before", dict(num_layers=2, bidirectional=True)),
    ("lstm_peephole", dict(bidirectional=True)),
    ("lstm_peephole", dict(proj_size=2, batch_first=True)),
])
def test_gradcheck(kind, ctor):
    """Finite differences (float64) of the input, hx and every parameter, weight_p included."""
    m = _module(kind, **ctor)
    T, B = 3, 2
    D_L = (2 if ctor.get("bidirectional") else 1) * ctor.get("num_layers", 1)
    g = torch.Generator().manual_seed(4)
    bf = ctor.get("batch_first", False)
    x = torch.randn((B, T, I) if bf else (T, B, I), generator=g, dtype=torch.float64)
    hx = _states(kind, D_L, B, ctor.get("proj_size") or H, np.float64, g)
    hxs = (hx,) if isinstance(hx, torch.Tensor) else hx
    names = [n for n, _ in m.named_parameters()]
    assert kind != "lstm_peephole" or any(n.startswith("weight_p") for n in names)
    params = [p.detach().clone().requires_grad_(True) for p in m.parameters()]
    inputs = (x.requires_grad_(True), *[s.requires_grad_(True) for s in hxs], *params)
    ns = len(hxs)

    def f(x, *rest):
        states, ps = rest[:ns], rest[ns:]
        h = states[0] if ns == 1 else tuple(states)
        y, st = torch.func.functional_call(m, dict(zip(names, ps)), (x, h),
                                           {"lengths": torch.tensor([3, 2])})
        return (y, *((st,) if ns == 1 else st))

    assert torch.autograd.gradcheck(f, inputs, eps=1e-6, atol=1e-6, rtol=1e-5)


# ---------------------------------------------------------------------------------------------
# torch.compile, torch.export, the custom op

class Pair(torch.nn.Module):
    """Both variants in one model, with projection and hx."""

    def __init__(self):
        super().__init__()
        self.gru = _module("gru_reset_before", num_layers=2, bidirectional=True,
                           batch_first=True)
        self.lstm = _module("lstm_peephole", seed=1, input_size=2 * H, proj_size=3,
                            bidirectional=True)

    def forward(self, x, h0):
        y, h = self.gru(x, h0)
        y2, (h2, c2) = self.lstm(y.transpose(0, 1))
        return y2, h.sum(0) + h2.sum() + c2.sum()


def _compile_inputs(T):
    g = torch.Generator().manual_seed(T)
    return [torch.randn(s, generator=g, dtype=torch.float64).requires_grad_(True)
            for s in ((2, T, I), (4, 2, H))]


def _loss_and_grads(model, args):
    model.zero_grad()
    y, h = model(*args)
    (y.pow(2).sum() + h.sum()).backward()
    return [y, h] + [a.grad for a in args] + [p.grad for p in model.parameters()]


def test_compile_fullgraph_matches_eager():
    """Caches off: a graph from an earlier run, made with another rnnfast.torch (another
    schema of the custom op), would test that one."""
    import torch._dynamo
    import torch._inductor.config
    model = Pair()
    assert any(n.startswith("lstm.weight_p") for n, _ in model.named_parameters())
    torch._dynamo.reset()
    with torch._dynamo.config.patch(allow_rnn=True), \
            torch._inductor.config.patch(force_disable_caches=True):
        compiled = torch.compile(model, fullgraph=True)
        for T in (4, 4):  # the second call reuses the graph
            got = _loss_and_grads(compiled, _compile_inputs(T))
            want = _loss_and_grads(model, _compile_inputs(T))
            assert len(got) == len(want)
            for k, (a, b) in enumerate(zip(got, want)):
                assert a is not None and b is not None, k
                torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)


def test_export_keeps_the_kernels_in_the_graph():
    model = Pair()
    args = tuple(a.detach() for a in _compile_inputs(5))
    ep = torch.export.export(model, args)
    targets = {n.target for n in ep.graph.nodes if n.op == "call_function"}
    assert torch.ops.rnnfast.rnn_layer.default in targets
    for a, b in zip(model(*args), ep.module()(*args)):
        torch.testing.assert_close(b, a, rtol=1e-12, atol=1e-12)


def test_fake_implementation_knows_the_peephole_weights():
    """opcheck (schema, fake tensors, autograd) of rnn_layer with w_p, w_p_r."""
    T, B = 3, 2

    def w(*s):
        return (0.3 * torch.randn(s, dtype=torch.float64)).requires_grad_(True)

    ws = []
    for _ in range(2):
        ws += [w(4 * H, I), w(4 * H, 2), w(4 * H), w(4 * H), w(2, H)]
    args = ("lstm_peephole", w(T, B, I), *ws, w(2, B, 2), w(2, B, H), torch.tensor([3, 2]),
            None, True, False, w(3 * H), w(3 * H))
    torch.library.opcheck(torch.ops.rnnfast.rnn_layer.default, args)
    args = ("gru_reset_before", w(B, T, I), w(3 * H, I), w(3 * H, H), w(3 * H), w(3 * H),
            None, None, None, None, None, None, w(1, B, H), None, None, None, True, True)
    torch.library.opcheck(torch.ops.rnnfast.rnn_layer.default, args)


# ---------------------------------------------------------------------------------------------
# ONNX export

def _onnx_deps():
    pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")


class OnnxZoo(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.gru = _module("gru_reset_before", np.float32, num_layers=2, bidirectional=True)
        self.gru_bf = _module("gru_reset_before", np.float32, seed=1, batch_first=True,
                              bias=False)
        self.lstm = _module("lstm_peephole", np.float32, seed=2, num_layers=2,
                            bidirectional=True)
        self.proj = _module("lstm_peephole", np.float32, seed=3, proj_size=2,
                            bidirectional=True, batch_first=True)

    def forward(self, x, lens, h_gru, h_lstm, c_lstm, h_proj):
        xb = x.transpose(0, 1)
        y1, h1 = self.gru(x, h_gru, lengths=lens)
        y2, h2 = self.gru_bf(xb)
        y3, (h3, c3) = self.lstm(x, (h_lstm, c_lstm), lengths=lens)
        y4, (h4, c4) = self.proj(xb, (h_proj, c_lstm[:2]), lengths=lens)
        y5, (h5, c5) = self.lstm(x)
        return y1, h1, y2, h2, y3, h3, c3, y4, h4, c4, y5, h5, c5


@pytest.mark.parametrize("dynamo", onnx_exporters())
def test_onnx_export_round_trip(dynamo):
    """GRU(reset_after=False) exports as ONNX's GRU with linear_before_reset=0, LSTM(peephole=
    True) as ONNX's LSTM with its input P; ONNX Runtime gives eager mode's results."""
    _onnx_deps()
    import onnx
    import onnxruntime as ort
    model = OnnxZoo().eval()
    T, B = 5, 3
    g = torch.Generator().manual_seed(0)
    shapes = {"x": (T, B, I), "h_gru": (4, B, H), "h_lstm": (4, B, H), "c_lstm": (4, B, H),
              "h_proj": (2, B, 2)}
    feeds = {k: torch.randn(*v, generator=g) for k, v in shapes.items()}
    feeds = {"x": feeds.pop("x"), "lens": torch.tensor([5, 2, 4]), **feeds}
    names = list(feeds)
    f = io.BytesIO()
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()), \
            contextlib.redirect_stderr(io.StringIO()):
        warnings.simplefilter("ignore")
        torch.onnx.export(model, tuple(feeds.values()), f, dynamo=dynamo, input_names=names)
    graph = onnx.load_from_string(f.getvalue()).graph
    for n in graph.node:
        assert n.domain in ("", "ai.onnx") and onnx.defs.has(n.op_type), (n.domain, n.op_type)
    grus = [n for n in graph.node if n.op_type == "GRU"]
    lstms = [n for n in graph.node if n.op_type == "LSTM"]
    assert len(grus) == 3 and len(lstms) == 5
    for n in grus:
        lbr = [a.i for a in n.attribute if a.name == "linear_before_reset"]
        assert lbr in ([], [0]), lbr  # 0 is ONNX's default
    for n in lstms:
        assert len(n.input) == 8 and n.input[7], list(n.input)  # P given
    sess = ort.InferenceSession(f.getvalue(), providers=["CPUExecutionProvider"])
    got = sess.run(None, {i.name: feeds[i.name].numpy() for i in sess.get_inputs()})
    with torch.no_grad():
        want = model(*feeds.values())
    assert len(got) == len(want)
    for k, (a, b) in enumerate(zip(got, want)):
        np.testing.assert_allclose(a, b.numpy(), rtol=1e-5, atol=1e-6, err_msg=str(k))


class _Packed(torch.nn.Module):
    def __init__(self, m):
        super().__init__()
        self.m = m

    def forward(self, x, lens):
        return self.m(pack_padded_sequence(x, lens, enforce_sorted=False))[1]


@pytest.mark.parametrize("kind, option", [("gru_reset_before", "reset_after=False"),
                                          ("lstm_peephole", "peephole=True")])
def test_packed_sequence_under_onnx_export_is_refused(kind, option):
    """torch's own forward (which exports a PackedSequence) cannot run the variants."""
    _onnx_deps()
    model = _Packed(_module(kind, np.float32)).eval()
    with pytest.raises(ValueError, match=f"{option}.*lengths="):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(model, (torch.randn(6, 3, I), torch.tensor([6, 2, 4])),
                              io.BytesIO(), dynamo=False)


# ---------------------------------------------------------------------------------------------
# the module's surface

def test_peephole_parameters():
    m = rt.LSTM(I, H, num_layers=2, bidirectional=True, peephole=True, dtype=torch.float64)
    names = [n for n, _ in m.named_parameters() if n.startswith("weight_p")]
    assert names == ["weight_p_l0", "weight_p_l0_reverse", "weight_p_l1", "weight_p_l1_reverse"]
    for n in names:
        p = getattr(m, n)
        assert isinstance(p, torch.nn.Parameter) and p.requires_grad
        assert p.shape == (3 * H,) and p.dtype == torch.float64 and p.device.type == "cpu"
        assert not p.any()  # zeros: the plain LSTM until trained
    sd = m.state_dict()
    torch.manual_seed(0)
    plain = torch.nn.LSTM(I, H, num_layers=2, bidirectional=True, dtype=torch.float64)
    assert set(sd) - set(plain.state_dict()) == set(names)
    assert "peephole=True" in repr(m)
    # with zero peepholes it is torch.nn.LSTM
    plain.load_state_dict({k: v for k, v in sd.items() if k not in names})
    x = torch.randn(5, 2, I, dtype=torch.float64)
    torch.testing.assert_close(m(x)[0], plain(x)[0], rtol=1e-12, atol=1e-12)
    # load_state_dict restores the peepholes; reset_parameters keeps them zero
    with torch.no_grad():
        m.weight_p_l1.fill_(0.5)
    again = rt.LSTM(I, H, num_layers=2, bidirectional=True, peephole=True, dtype=torch.float64)
    again.load_state_dict(m.state_dict())
    assert torch.equal(again(x)[0], m(x)[0])
    assert not torch.allclose(m(x)[0], plain(x)[0])
    with pytest.raises(RuntimeError, match="weight_p_l0"):
        rt.LSTM(I, H, num_layers=2, bidirectional=True).load_state_dict(m.state_dict())
    with pytest.raises(RuntimeError, match="weight_p_l0"):
        m.load_state_dict(plain.state_dict())
    m.reset_parameters()
    assert all(not getattr(m, n).any() for n in names)
    assert m.weight_ih_l0.abs().max() > 0
    # dtype conversion reaches them; the optimizer sees them
    m.float()
    assert m.weight_p_l0.dtype == torch.float32
    assert sum(p is m.weight_p_l0 for p in m.parameters()) == 1
    # the constructor's dtype
    assert rt.LSTM(I, H, peephole=True).weight_p_l0.dtype == torch.get_default_dtype()


def test_reset_before_gru_surface():
    g = rt.GRU(I, H, reset_after=False)
    assert g.reset_after is False and "reset_after=False" in repr(g)
    torch.manual_seed(0)
    std = torch.nn.GRU(I, H)
    assert list(g.state_dict()) == list(std.state_dict())
    std.load_state_dict(g.state_dict())
    x = torch.randn(4, 2, I)
    assert not torch.allclose(g(x)[0], std(x)[0], atol=1e-4)  # another function


@pytest.mark.parametrize("cls, kw", [(rt.GRU, {"reset_after": True}), (rt.GRU, {}),
                                     (rt.LSTM, {"peephole": False}), (rt.LSTM, {})])
def test_default_modules_are_torchs(cls, kw):
    """reset_after=True / peephole=False: torch.nn's parameters, repr and results."""
    torch.manual_seed(0)
    ours = cls(I, H, num_layers=2, bidirectional=True, **kw)
    torch.manual_seed(0)
    theirs = getattr(torch.nn, cls.__name__)(I, H, num_layers=2, bidirectional=True)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    assert repr(ours) == repr(theirs)
    x = torch.randn(5, 2, I)
    for a, b in zip(ours(x), theirs(x)):
        for u, v in zip(a if isinstance(a, tuple) else (a,), b if isinstance(b, tuple) else (b,)):
            torch.testing.assert_close(u, v, rtol=1e-5, atol=1e-6)
    converted = rt.convert(getattr(torch.nn, cls.__name__)(I, H))
    assert converted._variant() is None and "reset_after" not in repr(converted)
    assert "peephole" not in repr(converted)


@pytest.mark.parametrize("kind, option", [("gru_reset_before", "reset_after=False"),
                                          ("lstm_peephole", "peephole=True")])
def test_revert_refuses_the_variants(kind, option):
    m = _module(kind)
    net = torch.nn.Sequential(rt.GRU(I, H), m)
    with pytest.raises(ValueError, match=f"'1'.*{option}"):
        rt.revert(net)
    assert type(net[0]) is rt.GRU and type(m) in (rt.GRU, rt.LSTM)  # nothing reverted


def test_bad_variant_arguments_name_them():
    with pytest.raises(TypeError, match="reset_after"):
        rt.GRU(I, H, reset_after="no")
    with pytest.raises(TypeError, match="peephole"):
        rt.LSTM(I, H, peephole=1)
    with pytest.raises(TypeError):
        rt.RNN(I, H, peephole=True)  # torch's own refusal of an unknown argument


def test_torch_func_grad_reaches_the_peepholes():
    """torch.func.grad over functional_call gives the eager gradients (checked above against
    the formulas), weight_p's included."""
    m = _module("lstm_peephole", bidirectional=True)
    x = torch.randn(5, 2, I, dtype=torch.float64)
    params = {k: v.detach() for k, v in m.named_parameters()}
    got = torch.func.grad(
        lambda p: torch.func.functional_call(m, p, (x,))[0].pow(2).sum())(params)
    m(x)[0].pow(2).sum().backward()
    assert {"weight_p_l0", "weight_p_l0_reverse"} <= set(got)
    for k, p in m.named_parameters():
        torch.testing.assert_close(got[k], p.grad, rtol=1e-12, atol=1e-12)
