"""rnnfast.nn recurrent layers and cells against torch.nn with the same state_dict: outputs,
final states and every gradient, for every option; plus recurrent/input dropout and argument
checks. (Torch comparisons skip cleanly without torch; .ci/run installs torch.)
"""


import numpy as np
import pytest

import rnnfast
from rnnfast import nn
from rnnfast.nn.rnn import _run_layer  # noqa: F401  (the node under test)

TOL64 = dict(rtol=1e-9, atol=1e-9)

KINDS = {"rnn_tanh": (nn.RNN, "RNN", dict(nonlinearity="tanh")),
         "rnn_relu": (nn.RNN, "RNN", dict(nonlinearity="relu")),
         "lstm": (nn.LSTM, "LSTM", {}),
         "gru": (nn.GRU, "GRU", {})}


def _torch():
    return pytest.importorskip("torch")


def _pair(kind, I, H, **opts):
    torch = _torch()
    ours_cls, torch_name, extra = KINDS[kind]
    torch_cls = getattr(torch.nn, torch_name)
    kw = dict(extra, **opts)
    ours = ours_cls(I, H, dtype=np.float64, **kw)
    theirs = torch_cls(I, H, dtype=torch.float64, **kw)
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    return ours, theirs


def _compare(kind, T, B, I, H, *, lengths=None, hx=True, batched=True, seed=0, **opts):
    torch = _torch()
    rng = np.random.default_rng(seed)
    ours, theirs = _pair(kind, I, H, **opts)
    L = opts.get("num_layers", 1)
    D = 2 if opts.get("bidirectional") else 1
    H_out = opts.get("proj_size", 0) or H
    bf = opts.get("batch_first", False)
    xs = (B, T, I) if bf else (T, B, I)
    x = rng.standard_normal(xs if batched else (T, I))
    h0 = rng.standard_normal((L * D, B, H_out) if batched else (L * D, H_out)) * 0.5
    c0 = rng.standard_normal((L * D, B, H) if batched else (L * D, H)) * 0.5

    xt = torch.tensor(x, requires_grad=True)
    h0t = torch.tensor(h0, requires_grad=True)
    c0t = torch.tensor(c0, requires_grad=True)
    hx_t = ((h0t, c0t) if kind == "lstm" else h0t) if hx else None
    if lengths is not None:
        packed = torch.nn.utils.rnn.pack_padded_sequence(
            xt, torch.tensor(lengths), batch_first=bf, enforce_sorted=False)
        out_p, st = theirs(packed, hx_t)
        out_t, _ = torch.nn.utils.rnn.pad_packed_sequence(out_p, batch_first=bf, total_length=T)
    else:
        out_t, st = theirs(xt, hx_t)
    h_t, c_t = st if kind == "lstm" else (st, None)

    xo = rnnfast.tensor(x, requires_grad=True)
    h0o = rnnfast.tensor(h0, requires_grad=True)
    c0o = rnnfast.tensor(c0, requires_grad=True)
    hx_o = ((h0o, c0o) if kind == "lstm" else h0o) if hx else None
    out_o, st_o = ours(xo, hx_o, lengths=lengths)
    h_o, c_o = st_o if kind == "lstm" else (st_o, None)

    np.testing.assert_allclose(out_o.numpy(), out_t.detach().numpy(), **TOL64)
    np.testing.assert_allclose(h_o.numpy(), h_t.detach().numpy(), **TOL64)
    if kind == "lstm":
        np.testing.assert_allclose(c_o.numpy(), c_t.detach().numpy(), **TOL64)

    # one random loss over every output
    wy = rng.standard_normal(out_o.shape)
    wh = rng.standard_normal(h_o.shape)
    wc = rng.standard_normal(c_o.shape) if kind == "lstm" else None
    lt = (out_t * torch.tensor(wy)).sum() + (h_t * torch.tensor(wh)).sum()
    lo = (out_o * wy).sum() + (h_o * wh).sum()
    if kind == "lstm":
        lt = lt + (c_t * torch.tensor(wc)).sum()
        lo = lo + (c_o * wc).sum()
    lt.backward()
    lo.backward()
    np.testing.assert_allclose(xo.grad, xt.grad.numpy(), **TOL64)
    if hx:
        np.testing.assert_allclose(h0o.grad, h0t.grad.numpy(), **TOL64)
        if kind == "lstm":
            np.testing.assert_allclose(c0o.grad, c0t.grad.numpy(), **TOL64)
    tp = dict(theirs.named_parameters())
    names = [n for n, _ in ours.named_parameters()]
    assert names == list(tp), (names, list(tp))
    for n, p in ours.named_parameters():
        np.testing.assert_allclose(p.grad, tp[n].grad.numpy(), **TOL64, err_msg=n)


OPTION_SETS = [
    dict(),
    dict(num_layers=2),
    dict(bidirectional=True),
    dict(num_layers=3, bidirectional=True),
    dict(batch_first=True),
    dict(bias=False),
    dict(num_layers=2, bidirectional=True, batch_first=True, bias=False),
]


@pytest.mark.parametrize("opts", OPTION_SETS,
                         ids=lambda o: "-".join(f"{k}={v}" for k, v in o.items()) or "default")
@pytest.mark.parametrize("kind", list(KINDS))
def test_layers_match_torch(kind, opts):
    _compare(kind, T=5, B=3, I=4, H=6, **opts)


@pytest.mark.parametrize("opts", [dict(), dict(num_layers=2, bidirectional=True),
                                  dict(batch_first=True, bidirectional=True)],
                         ids=["default", "2layer-bi", "batch_first-bi"])
@pytest.mark.parametrize("kind", list(KINDS))
def test_lengths_match_packed_sequences(kind, opts):
    _compare(kind, T=6, B=4, I=3, H=5, lengths=[6, 2, 4, 1], **opts)


@pytest.mark.parametrize("opts", [dict(proj_size=3),
                                  dict(proj_size=2, num_layers=2, bidirectional=True)])
def test_lstm_projection_matches_torch(opts):
    _compare("lstm", T=5, B=3, I=4, H=6, **opts)
    _compare("lstm", T=5, B=3, I=4, H=6, lengths=[5, 1, 3], **opts)


@pytest.mark.parametrize("kind", list(KINDS))
def test_unbatched_and_no_state(kind):
    _compare(kind, T=4, B=1, I=3, H=5, batched=False, num_layers=2, bidirectional=True)
    _compare(kind, T=4, B=2, I=3, H=5, hx=False, bidirectional=True)


CELLS = {"rnn_tanh": (nn.RNNCell, "RNNCell", dict(nonlinearity="tanh")),
         "rnn_relu": (nn.RNNCell, "RNNCell", dict(nonlinearity="relu")),
         "lstm": (nn.LSTMCell, "LSTMCell", {}),
         "gru": (nn.GRUCell, "GRUCell", {})}


@pytest.mark.parametrize("batched", [True, False])
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("kind", list(CELLS))
def test_cells_match_torch_over_a_loop(kind, bias, batched):
    """A hand-written loop of cell steps, trained through every step, as torch."""
    torch = _torch()
    ours_cls, torch_name, extra = CELLS[kind]
    torch_cls = getattr(torch.nn, torch_name)
    ours = ours_cls(3, 5, bias=bias, dtype=np.float64, **extra)
    theirs = torch_cls(3, 5, bias=bias, dtype=torch.float64, **extra)
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in theirs.named_parameters()]
    rng = np.random.default_rng(1)
    T, B = 4, 2
    x = rng.standard_normal((T, B, 3) if batched else (T, 3))
    xt, xo = torch.tensor(x, requires_grad=True), rnnfast.tensor(x, requires_grad=True)
    st_t = st_o = None
    lt = lo = 0
    for t in range(T):
        st_t = theirs(xt[t], st_t)
        st_o = ours(xo[t], st_o)
        ht, ho = (st_t[0], st_o[0]) if kind == "lstm" else (st_t, st_o)
        w = rng.standard_normal(ho.shape)
        lt = lt + (ht * torch.tensor(w)).sum()
        lo = lo + (ho * w).sum()
        np.testing.assert_allclose(ho.numpy(), ht.detach().numpy(), **TOL64)
    lt.backward()
    lo.backward()
    np.testing.assert_allclose(xo.grad, xt.grad.numpy(), **TOL64)
    tp = dict(theirs.named_parameters())
    for n, p in ours.named_parameters():
        np.testing.assert_allclose(p.grad, tp[n].grad.numpy(), **TOL64, err_msg=n)


def test_torch_state_dict_loads_unchanged_and_float32_default():
    torch = _torch()
    theirs = torch.nn.LSTM(4, 6, num_layers=2, bidirectional=True, proj_size=2)
    ours = nn.LSTM(4, 6, num_layers=2, bidirectional=True, proj_size=2)
    sd = {k: v.detach().numpy() for k, v in theirs.state_dict().items()}
    ours.load_state_dict(sd)
    assert list(ours.state_dict()) == list(sd)
    for k, v in ours.state_dict().items():
        assert v.dtype == np.float32 and v.shape == sd[k].shape
        np.testing.assert_array_equal(v, sd[k])
    x = np.random.default_rng(0).standard_normal((5, 3, 4))  # float64 data into float32 layer
    y, (h, c) = ours(x)
    assert y.dtype == np.float32
    with torch.no_grad():
        yt, _ = theirs(torch.tensor(x, dtype=torch.float32))
    np.testing.assert_allclose(y.numpy(), yt.numpy(), rtol=1e-5, atol=1e-5)


def test_initialization_is_torch_like():
    rnnfast.manual_seed(0)
    m = nn.GRU(10, 64)
    k = 1 / np.sqrt(64)
    for n, p in m.named_parameters():
        a = p.numpy()
        assert a.min() >= -k and a.max() <= k, n
        assert a.std() > 0.8 * k / np.sqrt(3), n  # roughly uniform over the whole range


# ---------------------------------------------------------------------------- dropout

@pytest.mark.parametrize("kind", list(KINDS))
def test_recurrent_dropout_zero_is_the_plain_layer(kind):
    ours_cls, _, extra = KINDS[kind]
    rnnfast.manual_seed(3)
    a = ours_cls(3, 5, dtype=np.float64, recurrent_dropout=0.0, input_dropout=0.0, **extra)
    b = ours_cls(3, 5, dtype=np.float64, recurrent_dropout=0.5, input_dropout=0.5, **extra)
    b.load_state_dict(a.state_dict())
    x = np.random.default_rng(0).standard_normal((6, 2, 3))
    ya = a(x)[0].numpy()
    b.eval()  # no dropout in eval mode
    np.testing.assert_array_equal(b(x)[0].numpy(), ya)
    b.train()
    assert not np.allclose(b(x)[0].numpy(), ya)


@pytest.mark.parametrize("kind", list(KINDS))
def test_recurrent_dropout_uses_one_mask_per_sequence(kind, monkeypatch):
    """In training the layer draws one [B, H_out] mask per layer and direction, applied to
    h_{t-1} at every step inside the kernel: equal to the reference with that mask, and
    reproducible from manual_seed."""
    from rnnfast import reference
    from rnnfast.nn import rnn as rnn_mod

    ours_cls, _, extra = KINDS[kind]
    m = ours_cls(3, 5, dtype=np.float64, recurrent_dropout=0.4, **extra)
    masks = []
    orig = rnn_mod._dropout_mask

    def spy(shape, p, dtype):
        mk = orig(shape, p, dtype)
        masks.append(mk)
        return mk

    monkeypatch.setattr(rnn_mod, "_dropout_mask", spy)
    x = np.random.default_rng(1).standard_normal((7, 4, 3))
    rnnfast.manual_seed(11)
    y = m(x)[0].numpy()
    assert len(masks) == 1 and masks[0].shape == (4, 5)
    assert set(np.unique(masks[0])) <= {0.0, 1 / 0.6}
    w = {k: v for k, v in m.state_dict().items()}
    y_ref = reference.forward(m.mode, x, w["weight_ih_l0"], w["weight_hh_l0"], w["bias_ih_l0"],
                              w["bias_hh_l0"], h_mask=masks[0])[0]
    np.testing.assert_allclose(y, y_ref, rtol=1e-12, atol=1e-12)
    rnnfast.manual_seed(11)
    np.testing.assert_array_equal(m(x)[0].numpy(), y)


@pytest.mark.parametrize("kind", list(KINDS))
def test_input_dropout_mask_is_constant_in_time(kind, monkeypatch):
    """input_dropout draws one [1, B, I] mask per layer: the layer equals the plain layer run
    on x * mask (the same mask at every step), and the gradient flows through the mask."""
    from rnnfast import reference
    from rnnfast.nn import rnn as rnn_mod

    ours_cls, _, extra = KINDS[kind]
    m = ours_cls(4, 5, dtype=np.float64, input_dropout=0.5, **extra)
    masks = []
    orig = rnn_mod._dropout_mask
    monkeypatch.setattr(rnn_mod, "_dropout_mask",
                        lambda shape, p, dtype: masks.append(orig(shape, p, dtype)) or masks[-1])
    x = rnnfast.tensor(np.random.default_rng(4).standard_normal((6, 3, 4)), requires_grad=True)
    y = m(x)[0]
    assert len(masks) == 1 and masks[0].shape == (1, 3, 4)
    w = m.state_dict()
    y_ref, _, _, cache = reference.forward(m.mode, x.numpy() * masks[0], w["weight_ih_l0"],
                                           w["weight_hh_l0"], w["bias_ih_l0"], w["bias_hh_l0"])
    np.testing.assert_allclose(y.numpy(), y_ref, rtol=1e-12, atol=1e-12)
    dy = np.random.default_rng(5).standard_normal(y.shape)
    (y * dy).sum().backward()
    dx_ref = reference.backward(cache, dy=dy)["dx"] * masks[0]
    np.testing.assert_allclose(x.grad, dx_ref, rtol=1e-12, atol=1e-12)


def test_inter_layer_dropout_only_in_training():
    rnnfast.manual_seed(0)
    m = nn.LSTM(3, 4, num_layers=2, dropout=0.5, dtype=np.float64)
    x = np.random.default_rng(2).standard_normal((5, 2, 3))
    m.eval()
    y_eval = m(x)[0].numpy()
    ref = nn.LSTM(3, 4, num_layers=2, dtype=np.float64)
    ref.load_state_dict(m.state_dict())
    np.testing.assert_array_equal(ref(x)[0].numpy(), y_eval)
    m.train()
    assert not np.allclose(m(x)[0].numpy(), y_eval)


# ---------------------------------------------------------------------------- arguments

@pytest.mark.parametrize("make, exc, words", [
    (lambda: nn.LSTM(0, 4), ValueError, ["input_size", ">= 1", "0"]),
    (lambda: nn.GRU(3, -2), ValueError, ["hidden_size", "-2"]),
    (lambda: nn.RNN(3, 4, num_layers=0), ValueError, ["num_layers", "0"]),
    (lambda: nn.RNN(3, 4, nonlinearity="sigmoid"), ValueError, ["nonlinearity", "'sigmoid'"]),
    (lambda: nn.LSTM(3, 4, dropout=1.5), ValueError, ["dropout", "1.5"]),
    (lambda: nn.LSTM(3, 4, recurrent_dropout=1.0), ValueError, ["recurrent_dropout", "[0, 1)"]),
    (lambda: nn.GRU(3, 4, input_dropout=-0.1), ValueError, ["input_dropout", "-0.1"]),
    (lambda: nn.LSTM(3, 4, proj_size=4), ValueError, ["proj_size", "< hidden_size (4)", "4"]),
    (lambda: nn.LSTM(3, 4, proj_size=-1), ValueError, ["proj_size", "-1"]),
    (lambda: nn.LSTM(3.5, 4), TypeError, ["input_size", "int"]),
    (lambda: nn.LSTM(3, 4, dtype=np.int32), TypeError, ["dtype", "int32"]),
])
def test_constructor_arguments(make, exc, words):
    with pytest.raises(exc) as e:
        make()
    for w in words:
        assert w in str(e.value), (w, str(e.value))


@pytest.mark.parametrize("call, exc, words", [
    (lambda m: m(np.zeros((5, 2, 4))), ValueError, ["input", "3 features", "got 4"]),
    (lambda m: m(np.zeros((5, 2, 3, 1))), ValueError, ["input", "4-D"]),
    (lambda m: m(np.zeros((5, 2, 3)), (np.zeros((1, 3, 4)), np.zeros((1, 2, 4)))), ValueError,
     ["h_0", "(1, 2, 4)", "(1, 3, 4)"]),
    (lambda m: m(np.zeros((5, 2, 3)), (np.zeros((1, 2, 4)), np.zeros((2, 2, 4)))), ValueError,
     ["c_0", "(1, 2, 4)", "(2, 2, 4)"]),
    (lambda m: m(np.zeros((5, 2, 3)), np.zeros((1, 2, 4))), TypeError, ["hx", "tuple"]),
    (lambda m: m(np.zeros((5, 2, 3)), lengths=[5, 6]), ValueError, ["lengths", "[1, 5]", "6"]),
    (lambda m: m(np.zeros((5, 2, 3)), lengths=[5, 0]), ValueError, ["lengths", "0"]),
    (lambda m: m(np.zeros((5, 2, 3)), lengths=[5]), ValueError, ["lengths", "(2,)", "(1,)"]),
    (lambda m: m(np.zeros((5, 2, 3)), lengths=[5.0, 1.0]), TypeError, ["lengths", "integers"]),
    (lambda m: m(np.zeros((0, 2, 3))), ValueError, ["input", "T=0"]),
    (lambda m: m(np.array([["a", "b", "c"]])), TypeError, ["input", "numeric"]),
])
def test_call_arguments(call, exc, words):
    m = nn.LSTM(3, 4)
    with pytest.raises(exc) as e:
        call(m)
    for w in words:
        assert w in str(e.value), (w, str(e.value))


def test_layer_is_one_node_and_graph_is_freed():
    m = nn.GRU(3, 4, num_layers=1)
    y, h = m(np.random.default_rng(0).standard_normal((50, 2, 3)))
    loss = y.sum()
    loss.backward()
    with pytest.raises(RuntimeError):
        loss.backward()


def test_no_grad_saves_nothing_and_matches():
    m = nn.LSTM(3, 4, dtype=np.float64)
    x = np.random.default_rng(0).standard_normal((5, 2, 3))
    y1 = m(x)[0]
    with rnnfast.no_grad():
        y2 = m(x)[0]
    assert not y2.requires_grad
    np.testing.assert_array_equal(y1.numpy(), y2.numpy())


def test_classifier_seed_program_reaches_100_percent():
    """Embedding + RNN + Linear text classifier, CrossEntropyLoss, plain gradient descent, on a
    small separable toy set: label = whether token 1 appears in the sequence."""
    rnnfast.manual_seed(0)
    rng = np.random.default_rng(0)
    N, T, V = 64, 8, 6
    tokens = rng.integers(2, V, size=(N, T))
    labels = rng.integers(0, 2, size=N)
    for i in np.flatnonzero(labels):
        tokens[i, rng.integers(0, T)] = 1

    class Classifier(nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = nn.Embedding(V, 8)
            self.rnn = nn.RNN(8, 16, batch_first=True)
            self.out = nn.Linear(16, 2)

        def forward(self, ids):
            y, h = self.rnn(self.emb(ids))
            return self.out(h[-1])

    model = Classifier()
    loss_fn = nn.CrossEntropyLoss()
    for _ in range(300):
        loss = loss_fn(model(tokens), labels)
        model.zero_grad()
        loss.backward()
        for p in model.parameters():
            p.data -= 0.5 * p.grad
    with rnnfast.no_grad():
        pred = model(tokens).numpy().argmax(axis=1)
    assert (pred == labels).mean() == 1.0, loss.item()
