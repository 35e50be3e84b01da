"""rnnfast.torch's RNN, LSTM, GRU and cells against torch.nn itself: outputs, and the gradients
of the input, hx and every parameter, for every option (num_layers, bias, batch_first, dropout,
bidirectional, proj_size, hx, PackedSequence sorted and unsorted, lengths=, unbatched input),
float32 and float64; the modules' torch surface (constructor, parameters, state_dict), the
inference path, zero-copy hand-off to the kernels, threads and the errors for what is not
supported. torch.compile and torch.export: tests/test_torch_compile.py.
"""

import copy

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence  # noqa: E402

import rnnfast  # noqa: E402
import rnnfast.torch as rt  # noqa: E402
from rnnfast import _core, reference  # noqa: E402
from rnnfast.torch import _ops  # noqa: E402

from _problems import tol  # noqa: E402

KINDS = {"rnn_tanh": ("RNN", {}), "rnn_relu": ("RNN", {"nonlinearity": "relu"}),
         "lstm": ("LSTM", {}), "gru": ("GRU", {})}
TDT = {np.float32: torch.float32, np.float64: torch.float64}


def pair(kind, *args, dtype=np.float64, seed=0, **kw):
    """(torch's module, rnnfast.torch's) built alike from the same seed."""
    name, extra = KINDS[kind]
    kw = {**extra, **kw, "dtype": TDT[dtype]}
    torch.manual_seed(seed)
    theirs = getattr(torch.nn, name)(*args, **kw)
    torch.manual_seed(seed)
    ours = getattr(rt, name)(*args, **kw)
    return theirs, ours


def leaves(*ts):
    return [None if t is None else t.detach().clone().requires_grad_(True) for t in ts]


def flat(out):
    """The tensors of a module's result, in order."""
    if isinstance(out, torch.nn.utils.rnn.PackedSequence):
        return [out.data]
    if isinstance(out, (tuple, list)):
        return [t for o in out for t in flat(o)]
    return [out]


def run(module, x, hx, **kw):
    """Output tensors and the gradients of x, hx and every parameter of a random linear loss."""
    module.zero_grad()
    xs = leaves(x) if not isinstance(x, torch.nn.utils.rnn.PackedSequence) else [x.data]
    hxs = [] if hx is None else leaves(*(hx if isinstance(hx, tuple) else (hx,)))
    if isinstance(x, torch.nn.utils.rnn.PackedSequence):
        xs = leaves(x.data)
        xin = torch.nn.utils.rnn.PackedSequence(xs[0], x.batch_sizes, x.sorted_indices,
                                                x.unsorted_indices)
    else:
        xin = xs[0]
    h = None if hx is None else (tuple(hxs) if isinstance(hx, tuple) else hxs[0])
    out = module(xin, h, **kw)
    outs = flat(out)
    g = torch.Generator().manual_seed(7)
    loss = sum((o * torch.randn(o.shape, generator=g, dtype=o.dtype)).sum() for o in outs)
    loss.backward()
    grads = [xs[0].grad] + [t.grad for t in hxs] + [p.grad for p in module.parameters()]
    return out, outs, grads


def assert_same(theirs, ours, dtype):
    t = tol(dtype)
    assert len(theirs) == len(ours)
    for i, (a, b) in enumerate(zip(theirs, ours)):
        assert a.shape == b.shape, (i, a.shape, b.shape)
        assert a.dtype == b.dtype
        np.testing.assert_allclose(b.detach().numpy(), a.detach().numpy(), err_msg=f"#{i}", **t)


def compare(theirs, ours, x, hx=None, dtype=np.float64):
    out_t, outs_t, g_t = run(theirs, x, hx)
    out_o, outs_o, g_o = run(ours, x, hx)
    assert type(out_o) is type(out_t)
    assert_same(outs_t, outs_o, dtype)
    assert all(g is not None for g in g_o)
    assert_same(g_t, g_o, dtype)
    return out_t, out_o


def states(kind, L, D, B, H, proj=0, dtype=np.float64, batched=True, seed=3):
    g = torch.Generator().manual_seed(seed)
    H_out = proj or H
    shape = (L * D, B, H_out) if batched else (L * D, H_out)
    h = 0.5 * torch.randn(shape, generator=g, dtype=TDT[dtype])
    if kind != "lstm":
        return h
    cshape = (L * D, B, H) if batched else (L * D, H)
    return h, 0.5 * torch.randn(cshape, generator=g, dtype=TDT[dtype])


def data(*shape, dtype=np.float64, seed=1):
    return torch.randn(shape, generator=torch.Generator().manual_seed(seed), dtype=TDT[dtype])


# ---------------------------------------------------------------------------------------------
# the torch surface

@pytest.mark.parametrize("kind", KINDS)
def test_constructor_parameters_and_init_are_torchs(kind):
    theirs, ours = pair(kind, 3, 6, 2, bias=True, batch_first=True, dropout=0.25,
                        bidirectional=True, dtype=np.float32)
    name = KINDS[kind][0]
    assert isinstance(ours, getattr(torch.nn, name)) and isinstance(ours, torch.nn.RNNBase)
    assert repr(ours) == repr(theirs)
    pt, po = dict(theirs.named_parameters()), dict(ours.named_parameters())
    assert list(pt) == list(po)
    for k in pt:
        assert type(po[k]) is torch.nn.Parameter
        assert torch.equal(pt[k], po[k]), k      # same init from the same seed: torch's own
    assert ours._flat_weights[0] is ours.weight_ih_l0
    m = getattr(rt, name)(2, 4, device="cpu", dtype=torch.float64)
    assert m.weight_ih_l0.dtype == torch.float64 and m.weight_ih_l0.device.type == "cpu"
    if kind == "lstm":
        p = rt.LSTM(2, 5, proj_size=3)
        assert p.weight_hr_l0.shape == (3, 5) and p.weight_hh_l0.shape == (20, 3)


@pytest.mark.parametrize("kind", KINDS)
def test_state_dict_loads_both_ways(kind):
    theirs, ours = pair(kind, 3, 4, 2, bidirectional=True, seed=0)
    _, other = pair(kind, 3, 4, 2, bidirectional=True, seed=5)
    other.load_state_dict(theirs.state_dict())
    assert all(torch.equal(a, b) for a, b in zip(theirs.parameters(), other.parameters()))
    torch.manual_seed(9)
    fresh = getattr(torch.nn, KINDS[kind][0])(3, 4, 2, bidirectional=True, dtype=torch.float64,
                                              **KINDS[kind][1])
    fresh.load_state_dict(ours.state_dict())
    assert ours.state_dict().keys() == theirs.state_dict().keys()
    x = data(5, 2, 3)
    assert torch.allclose(fresh(x)[0], ours(x)[0], **tol(np.float64))


def test_copies_and_pickles_stay_rnnfast_modules():
    import copy
    import io
    import pickle
    m = rt.LSTM(3, 4, num_layers=2, recurrent_dropout=0.1, dtype=torch.float64).eval()
    buf = io.BytesIO()
    torch.save(m, buf)
    buf.seek(0)
    x = data(5, 2, 3)
    for c in (copy.deepcopy(m), pickle.loads(pickle.dumps(m)), torch.load(buf, weights_only=False)):
        assert type(c) is rt.LSTM and c.recurrent_dropout == 0.1
        assert torch.equal(c(x)[0], m(x)[0])


# ---------------------------------------------------------------------------------------------
# forward and backward against torch.nn

CONFIGS = [
    dict(),
    dict(num_layers=2, bidirectional=True, hx=True, batch_first=True),
    dict(num_layers=2, bias=False, hx=True),
    dict(num_layers=3, dropout=0.5, eval=True, bidirectional=True),
    dict(bidirectional=True, hx=True, unbatched=True),
    dict(batch_first=True, unbatched=True, num_layers=2),
]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("cfg", range(len(CONFIGS)))
@pytest.mark.parametrize("kind", KINDS)
def test_matches_torch(kind, cfg, dtype):
    c = dict(CONFIGS[cfg])
    hx, unbatched, ev = c.pop("hx", False), c.pop("unbatched", False), c.pop("eval", False)
    T, B, I, H = 5, 3, 4, 6
    theirs, ours = pair(kind, I, H, dtype=dtype, **c)
    if ev:
        theirs.eval()
        ours.eval()
    L, D = c.get("num_layers", 1), 2 if c.get("bidirectional") else 1
    shape = (T, I) if unbatched else ((B, T, I) if c.get("batch_first") else (T, B, I))
    x = data(*shape, dtype=dtype)
    h = states(kind, L, D, B, H, dtype=dtype, batched=not unbatched) if hx else None
    compare(theirs, ours, x, h, dtype)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("cfg", [dict(), dict(num_layers=2, bidirectional=True, hx=True),
                                 dict(batch_first=True, bias=False, hx=True, num_layers=2)])
def test_lstm_projection_matches_torch(cfg, dtype):
    c = dict(cfg)
    hx = c.pop("hx", False)
    theirs, ours = pair("lstm", 4, 7, proj_size=3, dtype=dtype, **c)
    L, D = c.get("num_layers", 1), 2 if c.get("bidirectional") else 1
    x = data(*((3, 5, 4) if c.get("batch_first") else (5, 3, 4)), dtype=dtype)
    h = states("lstm", L, D, 3, 7, proj=3, dtype=dtype) if hx else None
    compare(theirs, ours, x, h, dtype)


def _packed_batch(lengths, I, dtype=np.float64, batch_first=False, enforce_sorted=False):
    lengths = torch.tensor(lengths)
    T, B = int(lengths.max()), len(lengths)
    x = data(B, T, I, dtype=dtype) if batch_first else data(T, B, I, dtype=dtype)
    return pack_padded_sequence(x, lengths, batch_first=batch_first,
                                enforce_sorted=enforce_sorted)


@pytest.mark.parametrize("enforce_sorted", [True, False])
@pytest.mark.parametrize("kind", KINDS)
def test_packed_sequence_matches_torch(kind, enforce_sorted):
    lengths = [6, 4, 4, 1] if enforce_sorted else [3, 6, 1, 4]
    theirs, ours = pair(kind, 3, 5, num_layers=2, bidirectional=True)
    packed = _packed_batch(lengths, 3, enforce_sorted=enforce_sorted)
    h = states(kind, 2, 2, len(lengths), 5)
    out_t, out_o = compare(theirs, ours, packed, h)
    pt, po = out_t[0], out_o[0]
    assert isinstance(po, torch.nn.utils.rnn.PackedSequence)
    assert torch.equal(po.batch_sizes, pt.batch_sizes)
    for a, b in ((po.sorted_indices, pt.sorted_indices),
                 (po.unsorted_indices, pt.unsorted_indices)):
        assert (a is None and b is None) or torch.equal(a, b)
    # without hx, float32, a projected LSTM: the same
    if kind == "lstm":
        theirs, ours = pair(kind, 3, 5, proj_size=2, dtype=np.float32)
        compare(theirs, ours, _packed_batch(lengths, 3, np.float32), None, np.float32)


@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("kind", ["lstm", "gru", "rnn_tanh"])
def test_lengths_keyword_matches_torch_packing(kind, batch_first):
    lengths = [2, 5, 3]
    T, B, I = 5, 3, 4
    theirs, ours = pair(kind, I, 6, num_layers=2, bidirectional=True, batch_first=batch_first)
    x = data(*((B, T, I) if batch_first else (T, B, I)))
    h = states(kind, 2, 2, B, 6)
    xo, xt = leaves(x, x)
    out_o, hn_o = ours(xo, h, lengths=lengths)
    packed = pack_padded_sequence(xt, torch.tensor(lengths), batch_first=batch_first,
                                  enforce_sorted=False)
    pt, hn_t = theirs(packed, h)
    out_t, _ = pad_packed_sequence(pt, batch_first=batch_first, total_length=T)
    assert_same([out_t] + flat(hn_t), [out_o] + flat(hn_o), np.float64)
    cot = data(*out_t.shape, seed=4)
    ((out_o * cot).sum() + sum(t.sum() for t in flat(hn_o))).backward()
    ((out_t * cot).sum() + sum(t.sum() for t in flat(hn_t))).backward()
    assert_same([xt.grad] + [p.grad for p in theirs.parameters()],
                [xo.grad] + [p.grad for p in ours.parameters()], np.float64)
    # a tensor of lengths and a single unbatched length work alike
    y2, _ = ours(x, h, lengths=torch.tensor(lengths))
    assert torch.equal(y2, out_o)
    # unbatched input with one length: the steps before it as a shorter sequence, zeros after
    x1 = x[0] if batch_first else x[:, 0]
    y1, h1 = ours(x1, lengths=2)
    y_short, h_short = ours(x1[:2])
    assert torch.all(y1[2:] == 0)
    assert_same([y_short] + flat(h_short), [y1[:2]] + flat(h1), np.float64)


@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_dropout_in_training_uses_torchs_masks(kind):
    # torch draws its inter-layer masks with at::dropout on each layer's (T, B, D*H) output;
    # rnnfast.torch applies F.dropout to the same tensors in the same order
    theirs, ours = pair(kind, 4, 5, num_layers=3, dropout=0.4, bidirectional=True)
    x = data(6, 3, 4)
    h = states(kind, 3, 2, 3, 5)
    torch.manual_seed(11)
    out_t, outs_t, g_t = run(theirs, x, h)
    torch.manual_seed(11)
    out_o, outs_o, g_o = run(ours, x, h)
    assert_same(outs_t, outs_o, np.float64)
    assert_same(g_t, g_o, np.float64)
    torch.manual_seed(12)
    other = ours(x, h)[0]
    assert not torch.allclose(other, outs_o[0])   # another seed, other masks
    ours.eval()
    theirs.eval()
    assert torch.allclose(ours(x, h)[0], theirs(x, h)[0], **tol(np.float64))


def test_dropout_p_one_and_packed_statistics():
    # p = 1 drops every unit between layers: the last layer sees zeros, as in torch
    theirs, ours = pair("gru", 3, 4, num_layers=2, dropout=1.0)
    x = data(4, 2, 3)
    assert torch.allclose(ours(x)[0], theirs(x)[0], **tol(np.float64))
    # a packed batch: torch draws its masks on the packed rows, rnnfast.torch on the padded
    # batch, so the draws differ; their distributions agree: the mean and variance of the
    # output over many draws match torch's within sampling error
    theirs, ours = pair("rnn_tanh", 3, 4, num_layers=2, dropout=0.5)
    packed = _packed_batch([3, 5, 2], 3)
    n = 400
    with torch.no_grad():
        torch.manual_seed(0)
        a = torch.stack([theirs(packed)[0].data for _ in range(n)])
        torch.manual_seed(1)
        b = torch.stack([ours(packed)[0].data for _ in range(n)])
    assert a.std(0).min() > 0.01                          # dropout acts
    se = ((a.var(0) + b.var(0)) / n).sqrt()
    assert torch.all((a.mean(0) - b.mean(0)).abs() < 5 * se)
    ratio = b.var(0) / a.var(0)
    assert ratio.min() > 0.6 and ratio.max() < 1.6


@pytest.mark.parametrize("kind", ["lstm", "gru", "rnn_tanh"])
def test_recurrent_dropout_matches_reference_with_the_same_mask(kind):
    p = 0.3
    name, extra = KINDS[kind]
    m = getattr(rt, name)(3, 4, recurrent_dropout=p, dtype=torch.float64, **extra)
    assert "recurrent_dropout=0.3" in repr(m)
    x = data(5, 2, 3)
    torch.manual_seed(3)
    y, _ = m(x)
    torch.manual_seed(3)
    mask = torch.empty(1, 2, 4, dtype=torch.float64).bernoulli_(1 - p).div_(1 - p)
    assert (mask == 0).any()
    w = [getattr(m, n + "_l0").detach().numpy() for n in ("weight_ih", "weight_hh", "bias_ih",
                                                         "bias_hh")]
    y_ref = reference.forward(kind, x.numpy(), w[0], w[1], w[2], w[3],
                              h_mask=mask[0].numpy())[0]
    np.testing.assert_allclose(y.detach().numpy(), y_ref, **tol(np.float64))
    m.eval()                       # no recurrent dropout in eval mode: torch's plain layer
    torch.manual_seed(0)
    plain = getattr(torch.nn, name)(3, 4, dtype=torch.float64, **extra)
    plain.load_state_dict(m.state_dict())
    assert torch.allclose(m(x)[0], plain(x)[0], **tol(np.float64))
    with pytest.raises(ValueError, match="recurrent_dropout"):
        rt.LSTM(3, 4, recurrent_dropout=1.0)


# ---------------------------------------------------------------------------------------------
# cells

CELLS = {"rnn_tanh": ("RNNCell", {}), "rnn_relu": ("RNNCell", {"nonlinearity": "relu"}),
         "lstm": ("LSTMCell", {}), "gru": ("GRUCell", {})}


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("case", ["hx", "no_hx", "unbatched", "no_bias"])
@pytest.mark.parametrize("kind", CELLS)
def test_cells_match_torch(kind, case, dtype):
    name, extra = CELLS[kind]
    kw = dict(extra, dtype=TDT[dtype], bias=case != "no_bias")
    torch.manual_seed(0)
    theirs = getattr(torch.nn, name)(4, 5, **kw)
    torch.manual_seed(0)
    ours = getattr(rt, name)(4, 5, **kw)
    assert isinstance(ours, getattr(torch.nn, name)) and repr(ours) == repr(theirs)
    batched = case != "unbatched"
    x = data(*((3, 4) if batched else (4,)), dtype=dtype)
    h = None
    if case != "no_hx":
        g = torch.Generator().manual_seed(2)
        shape = (3, 5) if batched else (5,)
        h = torch.randn(shape, generator=g, dtype=TDT[dtype])
        if kind == "lstm":
            h = (h, torch.randn(shape, generator=g, dtype=TDT[dtype]))
    compare(theirs, ours, x, h, dtype)


def test_cells_loop_over_time_matches_torch():
    torch.manual_seed(0)
    theirs = torch.nn.LSTMCell(3, 4, dtype=torch.float64)
    ours = rt.LSTMCell(3, 4, dtype=torch.float64)
    ours.load_state_dict(theirs.state_dict())
    xs = leaves(data(6, 2, 3), data(6, 2, 3))
    res = []
    for cell, x in zip((theirs, ours), xs):
        h = None
        outs = []
        for t in range(6):
            h = cell(x[t], h)
            outs.append(h[0])
        torch.stack(outs).pow(2).sum().backward()
        res.append([torch.stack(outs), x.grad, cell.weight_hh.grad])
    assert_same(res[0], res[1], np.float64)


@pytest.mark.parametrize("grad", [False, True])
def test_cached_weight_views_follow_every_change_of_the_parameters(grad):
    # rnnfast.torch keeps NumPy views of the weights between calls: each way a user changes
    # the parameters must reach the kernels, as it reaches torch's own module
    torch.manual_seed(0)
    theirs = torch.nn.LSTM(4, 4, num_layers=2, bidirectional=True, dtype=torch.float64)
    ours = rt.convert(copy.deepcopy(theirs))
    cell_t = torch.nn.GRUCell(4, 4, dtype=torch.float64)
    cell_o = rt.convert(copy.deepcopy(cell_t))
    x = data(3, 2, 4)

    def check():
        with torch.set_grad_enabled(grad):
            assert_same([theirs(x)[0], cell_t(x[0])], [ours(x)[0], cell_o(x[0])], np.float64)

    check()
    for m in (theirs, ours, cell_t, cell_o):       # an optimizer's in-place update
        torch.optim.SGD(m.parameters(), lr=0.5).zero_grad()
        with torch.no_grad():
            for p in m.parameters():
                p.add_(0.1 * torch.ones_like(p))
    check()
    w = torch.randn(16, 4, dtype=torch.float64)
    for m in (theirs, ours):                        # .data replaced: the same Parameter object
        m.weight_hh_l1.data = w.clone()
    cell_t.weight_hh.data, cell_o.weight_hh.data = (torch.randn(12, 4, dtype=torch.float64),) * 2
    check()
    v = torch.randn(16, 8, dtype=torch.float64)
    for m in (theirs, ours):                        # a new Parameter
        m.weight_ih_l1_reverse = torch.nn.Parameter(v.clone())
    check()
    ours.load_state_dict(theirs.state_dict())       # copied in place
    check()
    sq_t, sq_o = torch.nn.RNN(4, 4, dtype=torch.float64), None
    sq_o = rt.convert(copy.deepcopy(sq_t))
    with torch.set_grad_enabled(grad):
        assert_same([sq_t(x)[0]], [sq_o(x)[0]], np.float64)
        for m in (sq_t, sq_o):                      # same memory, same shape, transposed
            m.weight_hh_l0.data = m.weight_hh_l0.data.t()
        assert not sq_o.weight_hh_l0.is_contiguous()
        assert_same([sq_t(x)[0]], [sq_o(x)[0]], np.float64)
    theirs.float()
    ours.float()                                    # a new dtype
    with torch.set_grad_enabled(grad):
        assert_same([theirs(x.float())[0]], [ours(x.float())[0]], np.float32)


def test_torch_func_grad_matches_torch():
    theirs, ours = pair("lstm", 3, 4, bidirectional=True)
    x = data(5, 2, 3)

    def loss(module):
        return lambda w, x: torch.func.functional_call(
            module, {"weight_ih_l0": w}, (x,))[0].pow(2).sum()

    g_t = torch.func.grad(loss(theirs), argnums=(0, 1))(theirs.weight_ih_l0.detach(), x)
    g_o = torch.func.grad(loss(ours), argnums=(0, 1))(ours.weight_ih_l0.detach(), x)
    assert_same(g_t, g_o, np.float64)


def test_autocast_runs_the_parameters_dtype():
    # torch.autocast("cpu") hands a bfloat16 activation to a float32 layer: the kernels run it
    # in float32 (torch.nn's own layer would run bfloat16)
    torch.manual_seed(0)
    ours = rt.GRU(4, 5)
    cell = rt.LSTMCell(4, 5)
    x = data(6, 2, 4, dtype=np.float32).to(torch.bfloat16).requires_grad_(True)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y, h = ours(x)
        hc, cc = cell(x[0])
    assert y.dtype == torch.float32 and hc.dtype == torch.float32
    assert torch.equal(y, ours(x.detach().float())[0])
    assert torch.equal(hc, cell(x[0].detach().float())[0])
    y.sum().backward()
    assert x.grad.dtype == torch.bfloat16 and x.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="does not match weight dtype"):
        ours(x)                                         # outside autocast: torch's refusal


# ---------------------------------------------------------------------------------------------
# inference, zero copy, threads

@pytest.fixture
def spy(monkeypatch):
    """Records the arguments of each kernel call."""
    calls = []
    for name in ("forward", "forward_pair", "backward", "backward_pair"):
        real = getattr(_core, name)

        def wrapper(*args, _real=real, _name=name):
            calls.append((_name, args))
            return _real(*args)
        monkeypatch.setattr(_core, name, wrapper)
    return calls


def test_inference_runs_the_inference_kernels(spy):
    m = rt.LSTM(3, 4, num_layers=2, dtype=torch.float64)
    x = data(5, 2, 3)
    y_grad = m(x)[0]
    assert [c[1][-2] for c in spy] == [True, True]          # training: reserve kept
    for ctx in (torch.no_grad, torch.inference_mode):
        spy.clear()
        with ctx():
            y = m(x)[0]
        assert [c[1][-2] for c in spy] == [False, False]    # nothing saved
        assert not y.requires_grad and torch.equal(y, y_grad.detach())
    spy.clear()
    m.requires_grad_(False)
    m(x)                               # nothing requires grad: inference kernels too
    assert [c[1][-2] for c in spy] == [False, False]


def _ptr(a):
    return a.__array_interface__["data"][0]


@pytest.mark.parametrize("batch_first", [False, True])
def test_tensors_reach_the_kernels_without_copies(spy, batch_first):
    m = rt.GRU(3, 4, batch_first=batch_first, dtype=torch.float32)
    x = data(*((2, 5, 3) if batch_first else (5, 2, 3)), dtype=np.float32).requires_grad_(True)
    h0 = torch.zeros(1, 2, 4, requires_grad=True)
    y, h = m(x, h0)
    name, args = spy[0]
    assert name == "forward"
    assert _ptr(args[1]) == x.data_ptr() and _ptr(args[2]) == m.weight_ih_l0.data_ptr()
    assert _ptr(args[3]) == m.weight_hh_l0.data_ptr() and _ptr(args[7]) == h0.data_ptr()
    y.backward(torch.ones_like(y))
    name, args = spy[1]
    assert name == "backward" and _ptr(args[2]) == x.data_ptr()
    assert _ptr(args[14]) == y.data_ptr()             # the output y itself, saved as is


def test_threads_follow_torch_unless_set(monkeypatch):
    before_t, before_r = torch.get_num_threads(), rnnfast.get_num_threads()
    m = rt.RNN(3, 4)
    x = torch.randn(4, 2, 3)
    try:
        monkeypatch.setattr(rnnfast, "_threads_explicit", False)
        for n in (1, 2):
            torch.set_num_threads(n)
            m(x)
            assert rnnfast.get_num_threads() == n
        rnnfast.set_num_threads(1)          # rnnfast's own count wins from then on
        assert rnnfast._threads_explicit
        torch.set_num_threads(2)
        m(x)
        assert rnnfast.get_num_threads() == 1
    finally:
        torch.set_num_threads(before_t)
        _core.set_num_threads(before_r)


# ---------------------------------------------------------------------------------------------
# what is not supported, and bad input

def test_half_precision_and_other_devices_raise_naming_them():
    for dt in (torch.float16, torch.bfloat16):
        m = rt.LSTM(3, 4, dtype=dt)
        with pytest.raises(TypeError, match=str(dt).replace(".", r"\.") + ".*model.float"):
            m(torch.randn(5, 2, 3, dtype=dt))
        c = rt.GRUCell(3, 4, dtype=dt)
        with pytest.raises(TypeError, match="float32 and float64"):
            c(torch.randn(2, 3, dtype=dt))
    # a module on another device (meta here; cuda the same way) names it
    m = rt.GRU(3, 4, device="meta")
    with pytest.raises(ValueError, match="CPU only.*meta"):
        m(torch.randn(5, 2, 3, device="meta"))
    m = rt.GRU(3, 4)
    with pytest.raises(ValueError, match="CPU only.*meta"):
        m(torch.randn(5, 2, 3, device="meta"))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_raises_naming_the_device():
    m = rt.LSTM(3, 4).cuda()
    with pytest.raises(ValueError, match="CPU only.*cuda"):
        m(torch.randn(5, 2, 3, device="cuda"))


def test_double_backward_raises():
    m = rt.LSTM(3, 4, dtype=torch.float64)
    x = data(4, 2, 3).requires_grad_(True)
    y = m(x)[0]
    (g,) = torch.autograd.grad(y.pow(2).sum(), x, create_graph=True)   # first order works
    theirs = torch.nn.LSTM(3, 4, dtype=torch.float64)
    theirs.load_state_dict(m.state_dict())
    xt = x.detach().clone().requires_grad_(True)
    (gt,) = torch.autograd.grad(theirs(xt)[0].pow(2).sum(), xt)
    assert torch.allclose(g, gt, **tol(np.float64))
    with pytest.raises(NotImplementedError, match="double backward"):
        g.sum().backward()


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("layers, bidirectional, batch_first, bias, proj, given, dtype", [
    (1, False, False, True, 0, False, np.float64),
    (2, True, True, True, 0, True, np.float64),
    (2, False, False, False, 2, True, np.float32),
    (1, True, False, True, 3, False, np.float32),
])
def test_short_path_equals_the_general_one(kind, layers, bidirectional, batch_first, bias, proj,
                                           given, dtype, monkeypatch):
    # the modules' short path for the common call (_RNNMixin._fast: a plain batched tensor, no
    # lengths, no dropout in effect) runs the same kernels as the general one: outputs and
    # every gradient bitwise the same, with and without autograd recording
    if proj and kind != "lstm":
        proj = 0
    kw = {"proj_size": proj} if proj else {}
    _, m = pair(kind, 3, 4, layers, bias=bias, batch_first=batch_first,
                bidirectional=bidirectional, dtype=dtype, dropout=0.5 * (layers > 1), **kw)
    m.eval()  # inter-layer dropout off: the short path's case
    D = 2 if bidirectional else 1
    x = data(*((2, 5, 3) if batch_first else (5, 2, 3)), dtype=dtype)
    hx = states(kind, layers, D, 2, 4, proj, dtype) if given else None
    assert m._fast(x, hx) is not None
    fast = run(m, x, hx)
    with torch.no_grad():
        fast_infer = flat(m(x, hx))
    for p in m.parameters():
        p.grad = None
    monkeypatch.setattr(rt.modules._RNNMixin, "_fast", lambda self, input, hx: None)
    general = run(m, x, hx)
    with torch.no_grad():
        general_infer = flat(m(x, hx))
    for a, b in zip(fast[1] + fast[2] + fast_infer, general[1] + general[2] + general_infer):
        assert torch.equal(a, b)


@pytest.mark.parametrize("make, has_c", [
    (lambda: rt.LSTM(3, 4, num_layers=2, bidirectional=True, peephole=True,
                     dtype=torch.float64), True),
    (lambda: rt.LayerNormLSTM(3, 4, num_layers=2, bidirectional=True, dtype=torch.float64), True),
    (lambda: rt.LayerNormGRU(3, 4, bidirectional=True, batch_first=True, dtype=torch.float64),
     False),
    (lambda: rt.IndRNN(3, 4, num_layers=2, dtype=torch.float64), False),
    (lambda: rt.MinGRU(3, 4, bidirectional=True, dtype=torch.float64), False),
])
def test_short_path_of_the_cells_torch_lacks(make, has_c, monkeypatch):
    # the cells with extra parameters (peepholes, the normalizations' gains) and the
    # elementwise ones take the short path too: bitwise the general path's results, every
    # gradient (the gains' included), and a second-order graph that refuses a double backward
    torch.manual_seed(0)
    m = make()
    L, D = m.num_layers, 2 if m.bidirectional else 1
    x = data(*((2, 5, 3) if m.batch_first else (5, 2, 3)))
    h = 0.5 * data(L * D, 2, 4, seed=4)
    hx = (h, 0.5 * data(L * D, 2, 4, seed=5)) if has_c else h
    assert m._fast(x, hx) is not None
    fast = run(m, x, hx)
    monkeypatch.setattr(rt.modules._RNNMixin, "_fast", lambda self, input, hx: None)
    general = run(m, x, hx)
    assert len(fast[2]) == len(general[2]) == 1 + len(flat(hx)) + len(list(m.parameters()))
    for a, b in zip(fast[1] + fast[2], general[1] + general[2]):
        assert torch.equal(a, b)
    xg = x.clone().requires_grad_(True)
    (g_general,) = torch.autograd.grad(m(xg, hx)[0].pow(2).sum(), xg)
    monkeypatch.undo()
    (g,) = torch.autograd.grad(m(xg, hx)[0].pow(2).sum(), xg, create_graph=True)
    assert torch.equal(g, g_general)
    with pytest.raises(NotImplementedError, match="double backward"):
        g.sum().backward()


def test_short_path_takes_only_its_case():
    m = rt.LSTM(3, 4, num_layers=2, dropout=0.5)
    x = torch.randn(5, 2, 3)
    assert m._fast(x, None) is None                       # training with inter-layer dropout
    m.eval()
    assert m._fast(x, None) is not None
    assert m._fast(x[:, 0], None) is None                 # unbatched
    assert m._fast(x.double(), None) is None              # another dtype: _run raises
    assert m._fast(torch.randn(5, 2, 4), None) is None    # another input size: _run raises
    assert m._fast(pack_padded_sequence(x, [5, 3]), None) is None
    r = rt.GRU(3, 4, recurrent_dropout=0.3)
    assert r._fast(x, None) is None
    r.eval()
    assert r._fast(x, None) is not None
    w = rt.LSTM(3, 4)
    w(x)
    plan = rt.modules._PLANS[w]
    w.weight_hh_l0 = torch.nn.Parameter(torch.randn(16, 4))
    w(x)
    assert rt.modules._PLANS[w] is not plan               # a new Parameter: a new plan


@pytest.mark.parametrize("cls", ["LSTM", "GRU"])
@pytest.mark.parametrize("what", ["output", "weight", "input"])
def test_in_place_change_before_backward_raises_as_torch(cls, what):
    # what backward reads (the layer's input and output, the weights) is saved for torch's
    # version check: changing it in place between forward and backward raises, as torch's own
    # module does, instead of giving gradients of other values. The kernels' backward reads the
    # output, so changing it raises here (torch's LSTM raises too; its GRU saves no output). A
    # bidirectional layer's output is a concatenation, not what backward reads.
    bidirectional = what != "output"
    mods = (getattr(rt, cls),) if what == "output" else (getattr(torch.nn, cls), getattr(rt, cls))
    for M in mods:
        m = M(3, 4, bidirectional=bidirectional)
        x = torch.randn(5, 2, 3, requires_grad=True)
        inner = x * 1
        y = m(inner)[0]
        weight = m.weight_hh_l0_reverse if bidirectional else m.weight_hh_l0
        with torch.no_grad():
            {"output": y, "weight": weight, "input": inner}[what].mul_(2)
        with pytest.raises(RuntimeError, match="modified by an inplace operation"):
            y.sum().backward()


def test_bad_packed_sequences_raise():
    m = rt.GRU(2, 3)
    PS = torch.nn.utils.rnn.PackedSequence
    d = torch.randn(6, 2)
    bad = {
        "never increase": torch.tensor([2, 3, 1]),
        "positive": torch.tensor([3, 3, 0]),
        "summing to the 6 rows": torch.tensor([3, 2]),
        "1-D int64 CPU": torch.tensor([3.0, 3.0]),
    }
    for msg, bs in bad.items():
        with pytest.raises(ValueError, match=msg):
            m(PS(d, bs, None, None))
    with pytest.raises(ValueError, match="permutation"):
        m(PS(d, torch.tensor([3, 2, 1]), torch.tensor([0, 0, 1]), torch.tensor([0, 1, 2])))
    with pytest.raises(ValueError, match="inverse"):
        m(PS(d, torch.tensor([3, 2, 1]), torch.tensor([1, 2, 0]), torch.tensor([1, 2, 0])))
    with pytest.raises(ValueError, match="carries its own lengths"):
        m(_packed_batch([2, 1], 2, np.float32), lengths=[2, 1])


def test_bad_calls_raise_clearly():
    m = rt.LSTM(3, 4, num_layers=2)
    x = torch.randn(5, 2, 3)
    with pytest.raises(ValueError, match="does not match weight dtype"):
        m(x.double())
    with pytest.raises(RuntimeError, match="input_size. Expected 3, got 2"):
        m(torch.randn(5, 2, 2))
    with pytest.raises(ValueError, match="Expected input to be 2D or 3D, got 4D"):
        m(torch.randn(1, 5, 2, 3))
    with pytest.raises(rt.InputError, match=r"hx\[0\]: expected hidden size \(2, 2, 4\), got"):
        m(x, (torch.zeros(1, 2, 4), torch.zeros(2, 2, 4)))
    with pytest.raises(TypeError, match="tuple"):
        m(x, torch.zeros(2, 2, 4))
    with pytest.raises(ValueError, match="lengths.*\\[1, T=5\\]"):
        m(x, lengths=[6, 2])
    with pytest.raises(ValueError, match=r"lengths: expected shape \(2,\)"):
        m(x, lengths=[3])
    with pytest.raises(TypeError, match="lengths: expected integers"):
        m(x, lengths=[1.5, 2.0])
    with pytest.raises(RuntimeError, match="inconsistent input_size"):
        rt.GRUCell(3, 4)(torch.randn(2, 5))
    with pytest.raises(ValueError, match="hidden size"):
        rt.GRUCell(3, 4)(torch.randn(2, 3), torch.randn(3, 4))


def test_fake_implementation_matches_the_kernels():
    """The fake (meta) implementations give the real outputs' shapes, dtypes and strides,
    reserve sizes included (opcheck: schema, fake tensors, autograd registration)."""
    for mode, proj, bi in (("lstm", 2, True), ("gru", 0, False)):
        G = {"lstm": 4, "gru": 3}[mode]
        T, B, I, H = 3, 2, 4, 5
        H_out = proj or H
        D = 2 if bi else 1

        def w(*s):
            return (0.3 * torch.randn(s, dtype=torch.float64)).requires_grad_(True)

        ws = []
        for _ in range(D):
            ws += [w(G * H, I), w(G * H, H_out), w(G * H), w(G * H), w(H_out, H) if proj else None]
        ws += [None] * (10 - len(ws))
        x = w(T, B, I)
        h0 = w(D, B, H_out)
        c0 = w(D, B, H) if mode == "lstm" else None
        args = (mode, x, *ws, h0, c0, torch.tensor([3, 2]), None, True, False)
        torch.library.opcheck(torch.ops.rnnfast.rnn_layer.default, args)
        res = torch.ops.rnnfast.rnn_layer.default(*args)[4]
        assert res.numel() == _ops.reserve_size(mode, T, B, H, H_out)


# ---------------------------------------------------------------------------------------------
# convert / revert

class Net(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = torch.nn.Embedding(10, 4, dtype=torch.float64)
        self.lstm = torch.nn.LSTM(4, 5, num_layers=2, bidirectional=True, dtype=torch.float64)
        self.stack = torch.nn.ModuleList([torch.nn.RNN(10, 3, nonlinearity="relu",
                                                       dtype=torch.float64)])
        self.cell = torch.nn.GRUCell(3, 3, dtype=torch.float64)
        self.own = MyLSTM(3, 2, dtype=torch.float64)

    def forward(self, tokens):
        y, _ = self.lstm(self.emb(tokens))
        y, _ = self.stack[0](y)
        h = self.cell(y[-1])
        return h, self.own(y)[0]


class MyLSTM(torch.nn.LSTM):
    """A user's subclass: convert leaves it alone (its forward may be its own)."""


def _step(model, opt, tokens):
    opt.zero_grad()
    outs = model(tokens)
    sum(o.pow(2).sum() for o in outs).backward()
    opt.step()
    return [o.detach() for o in outs] + [p.detach().clone() for p in model.parameters()]


def test_convert_swaps_modules_in_place_keeping_parameters_and_optimizer():
    import copy
    torch.manual_seed(0)
    model = Net()
    reference = copy.deepcopy(model)
    params = list(model.parameters())
    ptrs = [p.data_ptr() for p in params]
    opt = torch.optim.Adam(model.parameters(), lr=0.01)       # made before the conversion
    opt_ref = torch.optim.Adam(reference.parameters(), lr=0.01)
    lstm = model.lstm
    assert rt.convert(model) is model
    assert model.lstm is lstm and type(lstm) is rt.LSTM and isinstance(lstm, torch.nn.LSTM)
    assert type(model.stack[0]) is rt.RNN and type(model.cell) is rt.GRUCell
    assert type(model.own) is MyLSTM
    assert all(a is b for a, b in zip(params, model.parameters()))
    assert [p.data_ptr() for p in model.parameters()] == ptrs
    assert model.state_dict().keys() == reference.state_dict().keys()
    tokens = torch.randint(0, 10, (6, 3), generator=torch.Generator().manual_seed(1))
    for _ in range(2):                       # two optimizer steps through the rnnfast modules
        assert_same(_step(reference, opt_ref, tokens), _step(model, opt, tokens), np.float64)
    assert rt.revert(model) is model
    assert type(model.lstm) is torch.nn.LSTM and type(model.cell) is torch.nn.GRUCell
    assert type(model.stack[0]) is torch.nn.RNN and "recurrent_dropout" not in repr(model)
    assert_same(_step(reference, opt_ref, tokens), _step(model, opt, tokens), np.float64)


def test_convert_a_bare_module_and_revert_refusals():
    torch.manual_seed(0)
    m = torch.nn.GRU(3, 4)
    assert rt.convert(m) is m and type(m) is rt.GRU
    x = torch.randn(5, 2, 3)
    m.recurrent_dropout = 0.2
    with pytest.raises(ValueError, match="recurrent_dropout=0.2"):
        rt.revert(torch.nn.Sequential(torch.nn.Linear(3, 3), m))
    assert type(m) is rt.GRU                   # nothing changed
    m.recurrent_dropout = 0.0
    rt.revert(m)
    assert type(m) is torch.nn.GRU
    torch.manual_seed(0)
    assert torch.equal(m(x)[0], torch.nn.GRU(3, 4)(x)[0])
    for fn in (rt.convert, rt.revert):
        with pytest.raises(TypeError, match="model: expected a torch.nn.Module"):
            fn([m])
