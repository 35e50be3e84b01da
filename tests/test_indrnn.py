"""IndRNN (issue #21): the kernels ("indrnn_relu", "indrnn_tanh", rnnfast.functional) and the
module rnnfast.nn.IndRNN.

Oracles: the float64 NumPy reference (itself held to a literal transcription of the formula and
to finite differences in tests/test_reference_indrnn.py) for the kernels, every option alone and
in combination, odd sizes, and both ways the time loop's team splits its work; the kernels
themselves for 1 against 2 threads (bitwise) and for the two directions at once against one
after the other; central finite differences in float64 for the module's gradients; the
reference composed layer by layer for the module's stacking.
"""

import itertools

import numpy as np
import pytest

import rnnfast
from rnnfast import functional as F, nn, reference as R

from _problems import TOL, assert_module_fd

MODES = ("indrnn_relu", "indrnn_tanh")
OPTIONS = ("bias", "reverse", "lengths", "h_mask", "h0", "batch_first")


def _problem(opts, dtype, T=6, B=4, I=5, H=7, seed=0, u_max=1.0):
    """x, forward's keyword arguments and the cotangents (dy, dh_n) of a random problem with the
    options opts; u ~ U(-u_max, u_max) (below 1 over long sequences: |u| * mask > 1 makes relu
    units grow geometrically, and float32's relative error with them)."""
    rng = np.random.default_rng(seed)
    k = 1 / np.sqrt(H)
    x = rng.standard_normal((T, B, I)).astype(dtype)
    kw = dict(w_ih=rng.uniform(-k, k, (H, I)).astype(dtype),
              w_hh=rng.uniform(-u_max, u_max, H).astype(dtype))
    if "bias" in opts:
        kw["b_ih"] = rng.uniform(-k, k, H).astype(dtype)
    if "lengths" in opts:
        kw["lengths"] = rng.integers(1, T + 1, B).astype(np.int64)
        kw["lengths"][B // 2] = T
    if "h_mask" in opts:
        kw["h_mask"] = ((rng.random((B, H)) > 0.3) / 0.7).astype(dtype)
    if "reverse" in opts:
        kw["reverse"] = True
    if "h0" in opts:
        kw["h0"] = rng.standard_normal((B, H)).astype(dtype)
    cot = dict(dy=rng.standard_normal((T, B, H)).astype(dtype),
               dh_n=rng.standard_normal((B, H)).astype(dtype))
    return x, kw, cot


def _against_reference(mode, x, kw, cot, dtype, batch_first=False, tol=None):
    """Runs the kernels (in the batch_first layout when asked) and the float64 reference on
    the same problem and compares y, h_n and every gradient."""
    tol = tol or TOL[dtype]
    bf = batch_first
    xk = np.ascontiguousarray(x.transpose(1, 0, 2)) if bf else x
    y, h_n, c_n, res = F.forward(mode, xk, **kw, batch_first=bf)
    assert y.dtype == dtype and c_n is None
    f64 = {k: (v.astype(np.float64) if isinstance(v, np.ndarray) and v.dtype.kind == "f"
               else v) for k, v in kw.items()}
    y_r, h_r, _, cache = R.forward(mode, x.astype(np.float64), **f64)
    np.testing.assert_allclose(y.transpose(1, 0, 2) if bf else y, y_r, **tol)
    np.testing.assert_allclose(h_n, h_r, **tol)
    dy = np.ascontiguousarray(cot["dy"].transpose(1, 0, 2)) if bf else cot["dy"]
    kw_b = {k: v for k, v in kw.items() if k != "h0"}
    g = F.backward(mode, res, xk, **kw_b, y=y, batch_first=bf, dy=dy, dh_n=cot["dh_n"])
    g_r = R.backward(cache, **{k: v.astype(np.float64) for k, v in cot.items()})
    for k, want in g_r.items():
        got = g[k]
        if want is None:
            assert got is None, k
            continue
        if k == "dx" and bf:
            got = got.transpose(1, 0, 2)
        assert got.shape == want.shape and got.dtype == dtype, k
        scale = max(1.0, float(np.abs(want).max()))  # sums over steps: at their own scale
        np.testing.assert_allclose(got, want, rtol=tol["rtol"], atol=tol["atol"] * scale,
                                   err_msg=k)
    return y, h_n, g


def _cases():
    combos = [c for k in range(len(OPTIONS) + 1) for c in itertools.combinations(OPTIONS, k)]
    rng = np.random.default_rng(7)  # every option alone and with every other, then a sample
    keep = [c for c in combos if len(c) <= 2]
    rest = [c for c in combos if len(c) > 2]
    return keep + [rest[i] for i in rng.choice(len(rest), size=12, replace=False)] + [OPTIONS]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("opts", _cases(), ids=lambda v: ",".join(v) or "plain")
def test_kernels_match_the_reference(mode, opts, dtype):
    x, kw, cot = _problem(opts, dtype)
    _against_reference(mode, x, kw, cot, dtype, batch_first="batch_first" in opts)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("T,B,I,H", [(1, 1, 1, 1), (1, 3, 2, 17), (7, 1, 3, 15), (4, 5, 9, 33),
                                     (3, 2, 1, 64), (9, 17, 4, 31)])
def test_odd_sizes(mode, T, B, I, H):
    for dtype in (np.float64, np.float32):
        x, kw, cot = _problem(("bias", "h0", "lengths", "h_mask", "reverse"), dtype, T, B, I, H,
                              seed=T * 100 + H)
        _against_reference(mode, x, kw, cot, dtype)


# Large enough that the kernels' loops run a team (from about 2.5e4 positions x units, with
# lengths too): by units (H = 48), and by sequences (H = 8: fewer than 16 units per thread).
TEAM_SIZES = [(60, 24, 6, 48), (120, 64, 3, 8)]


def _with_threads(n, f):
    old = rnnfast.get_num_threads()
    rnnfast.set_num_threads(n)
    try:
        return f()
    finally:
        rnnfast.set_num_threads(old)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("T,B,I,H", TEAM_SIZES)
@pytest.mark.parametrize("opts", [("bias", "h0", "h_mask"), ("lengths", "reverse", "bias"),
                                  ("lengths", "h_mask", "batch_first")],
                         ids=lambda v: ",".join(v))
def test_one_and_two_threads_bitwise_and_right(mode, T, B, I, H, opts):
    x, kw, cot = _problem(opts, np.float32, T, B, I, H, seed=11, u_max=0.6)
    bf = "batch_first" in opts

    def run():
        return _against_reference(mode, x, kw, cot, np.float32, batch_first=bf,
                                  tol=TOL[np.float32])

    one = _with_threads(1, run)
    two = _with_threads(2, run)
    for a, b in [(one[0], two[0]), (one[1], two[1])] + [
            (one[2][k], two[2][k]) for k in one[2] if one[2][k] is not None]:
        assert a.tobytes() == b.tobytes()


@pytest.mark.parametrize("mode", MODES)
def test_both_directions_at_once(mode):
    """forward_pair / backward_pair (a bidirectional layer's two directions in one call) give
    the results of the two calls one after the other, bitwise, with 1 and 2 threads."""
    x, kw, cot = _problem(("bias", "lengths", "h0", "h_mask"), np.float32, 9, 6, 5, 20, seed=4)
    fwd = dict(kw, x=x)
    rev = dict(fwd, reverse=True)
    want = [F.forward(mode, **fwd), F.forward(mode, **rev)]
    gwant = [F.backward(mode, w[3], x, **{k: v for k, v in a.items() if k not in ("x", "h0")},
                        y=w[0], **cot) for w, a in zip(want, (fwd, rev))]
    for n in (1, 2):
        got = _with_threads(n, lambda: F.forward_pair(mode, fwd, rev))
        for w, gt in zip(want, got):
            assert w[0].tobytes() == gt[0].tobytes() and w[1].tobytes() == gt[1].tobytes()
        calls = [dict({k: v for k, v in a.items() if k != "h0"}, reserve=gt[3], y=gt[0], **cot)
                 for gt, a in zip(got, (fwd, rev))]
        grads = _with_threads(n, lambda c=calls: F.backward_pair(mode, c[0], c[1]))
        for gw, gg in zip(gwant, grads):
            for k in gw:
                assert (gw[k] is None) == (gg[k] is None), k
                if gw[k] is not None:
                    assert gw[k].tobytes() == gg[k].tobytes(), k


def test_bad_inputs_name_the_argument():
    x, kw, cot = _problem(("bias", "h0"), np.float32, 4, 3, 5, 6)
    u, b = kw["w_hh"], kw["b_ih"]
    base = {k: v for k, v in kw.items() if k not in ("w_hh", "b_ih")}
    bad = [
        (dict(w_hh=np.diag(u), b_ih=b), ValueError, r"^w_hh: expected a 1-D array \(H,\)"),
        (dict(w_hh=u[:5], b_ih=b), ValueError, r"^w_hh: expected shape \(6,\), got \(5,\)"),
        (dict(w_hh=u, b_ih=b, b_hh=b), ValueError, r"^b_hh: expected None \(indrnn_relu has one"),
        (dict(w_hh=u, b_ih=b[:5]), ValueError, r"^b_ih: expected shape \(6,\), got \(5,\)"),
        (dict(w_hh=u, b_ih=b, w_hr=np.zeros((3, 6), np.float32)), ValueError, r"^w_hr"),
        (dict(w_hh=u, b_ih=b, c0=np.zeros((3, 6), np.float32)), ValueError, r"^c0: expected None"),
        (dict(w_hh=u, b_ih=b, h_mask=np.ones((3, 5), np.float32)), ValueError, r"^h_mask"),
        (dict(w_hh=u, b_ih=b, w_p=np.zeros(18, np.float32)), ValueError, r"^w_p: expected None"),
        (dict(w_hh=np.array(["a"] * 6), b_ih=b), TypeError, r"^w_hh: expected numeric data"),
        (dict(w_hh=None, b_ih=b), ValueError, r"^w_hh: expected an array, got None"),
    ]
    for extra, exc, msg in bad:
        with pytest.raises(exc, match=msg):
            F.forward("indrnn_relu", x, **base, **extra)
    y, _, _, res = F.forward("indrnn_tanh", x, **base, w_hh=u, b_ih=b)
    with pytest.raises(ValueError, match=r"^dc_n: expected None"):
        F.backward("indrnn_tanh", res, x, w_ih=kw["w_ih"], w_hh=u, b_ih=b, y=y,
                   dc_n=np.zeros((3, 6), np.float32))
    with pytest.raises(ValueError, match=r"^b_hh: expected None"):
        F.backward("indrnn_tanh", res, x, w_ih=kw["w_ih"], w_hh=u, b_ih=b, b_hh=b, y=y)
    with pytest.raises(ValueError, match=r"^y: expected the output y of the forward"):
        F.backward("indrnn_tanh", res, x, w_ih=kw["w_ih"], w_hh=u, b_ih=b, y=y + 1)
    with pytest.raises(ValueError, match=r"^reserve: expected shape"):
        F.backward("indrnn_tanh", res[:-1], x, w_ih=kw["w_ih"], w_hh=u, b_ih=b, y=y)


# ------------------------------------------------------------------------------ the module

def _stacked_reference(m, x, h0, lengths):
    """The module's forward composed from rnnfast.reference (eval mode), time-major x."""
    D = 2 if m.bidirectional else 1
    sd = m.state_dict()
    layer_in, h_n = x, []
    for layer in range(m.num_layers):
        outs = []
        for d in range(D):
            sfx = f"_l{layer}" + ("_reverse" if d else "")
            y, h, _, _ = R.forward(m.mode, layer_in, sd["weight_ih" + sfx],
                                   sd["weight_hh" + sfx], sd.get("bias_ih" + sfx),
                                   h0=None if h0 is None else h0[layer * D + d],
                                   lengths=lengths, reverse=bool(d))
            outs.append(y)
            h_n.append(h)
        layer_in = np.concatenate(outs, axis=2)
    return layer_in, np.stack(h_n)


@pytest.mark.parametrize("nonlinearity", ["relu", "tanh"])
@pytest.mark.parametrize("kw", [dict(num_layers=2, bidirectional=True),
                                dict(num_layers=3, batch_first=True, bias=False),
                                dict(bidirectional=True)], ids=str)
def test_module_is_the_reference_stacked(nonlinearity, kw):
    rnnfast.manual_seed(3)
    m = nn.IndRNN(4, 6, nonlinearity=nonlinearity, dtype=np.float64, **kw).eval()
    rng = np.random.default_rng(1)
    T, B = 5, 3
    D = 2 if kw.get("bidirectional") else 1
    x = rng.standard_normal((T, B, 4))
    h0 = rng.standard_normal((kw.get("num_layers", 1) * D, B, 6))
    lengths = [5, 2, 4]
    bf = kw.get("batch_first", False)
    out, h_n = m(x.transpose(1, 0, 2) if bf else x, h0, lengths=lengths)
    want_out, want_h = _stacked_reference(m, x, h0, np.array(lengths))
    got = out.numpy().transpose(1, 0, 2) if bf else out.numpy()
    np.testing.assert_allclose(got, want_out, **TOL[np.float64])
    np.testing.assert_allclose(h_n.numpy(), want_h, **TOL[np.float64])
    # unbatched: one sequence, the batch's first
    out1, h1 = m(x[:, 0], h0[:, 0])
    want1, wh1 = _stacked_reference(m, x[:, :1], h0[:, :1], None)
    np.testing.assert_allclose(out1.numpy(), want1[:, 0], **TOL[np.float64])
    np.testing.assert_allclose(h1.numpy(), wh1[:, 0], **TOL[np.float64])


@pytest.mark.parametrize("nonlinearity", ["relu", "tanh"])
@pytest.mark.parametrize("kw", [dict(num_layers=2, bidirectional=True),
                                dict(num_layers=2, bidirectional=True, batch_first=True,
                                     recurrent_dropout=0.3, dropout=0.4)], ids=str)
def test_module_gradients_match_finite_differences(nonlinearity, kw):
    rnnfast.manual_seed(4)
    m = nn.IndRNN(3, 4, nonlinearity=nonlinearity, dtype=np.float64, **kw)
    rng = np.random.default_rng(2)
    T, B, L, D = 5, 3, 2, 2
    bf = kw.get("batch_first", False)
    x = rng.standard_normal((B, T, 3) if bf else (T, B, 3))
    h0 = rng.standard_normal((L * D, B, 4))
    lengths = [5, 2, 4]
    w_out = rng.standard_normal((B, T, D * 4) if bf else (T, B, D * 4))
    w_h = rng.standard_normal((L * D, B, 4))

    def loss(xv, h0v):
        rnnfast.manual_seed(9)  # the same dropout masks at every call
        out, h_n = m(xv, h0v, lengths=lengths)
        return (out * rnnfast.tensor(w_out)).sum() + (h_n * rnnfast.tensor(w_h)).sum()

    xt, ht = (rnnfast.tensor(a, requires_grad=True) for a in (x, h0))
    m.zero_grad()
    loss(xt, ht).backward()
    checks = [("input", x, xt.grad), ("h0", h0, ht.grad)]
    checks += [(name, p.data, p.grad) for name, p in m.named_parameters()]
    assert {n for n, _, _ in checks} >= {"weight_hh_l1_reverse", "bias_ih_l0"}
    for name, arr, grad in checks:
        assert grad.shape == arr.shape, name

    def fd_loss():
        with rnnfast.no_grad():
            return float(loss(rnnfast.tensor(x), rnnfast.tensor(h0)).item())

    assert_module_fd(checks, fd_loss)


def test_module_parameters_init_and_state_dict():
    rnnfast.manual_seed(0)
    m = nn.IndRNN(3, 50, num_layers=2, bidirectional=True)
    names = [n for n, _ in m.named_parameters()]
    assert names == [f"{w}_l{k}{s}" for k in range(2) for s in ("", "_reverse")
                     for w in ("weight_ih", "weight_hh", "bias_ih")]
    assert m.weight_ih_l0.shape == (50, 3) and m.weight_ih_l1.shape == (50, 100)
    assert m.weight_hh_l1_reverse.shape == (50,) and m.bias_ih_l0.shape == (50,)
    assert all(p.dtype == np.float32 for p in m.parameters())
    k = 1 / np.sqrt(50)
    for n, p in m.named_parameters():
        lo, hi = (0.0, 1.0) if n.startswith("weight_hh") else (-k, k)
        assert lo <= p.data.min() and p.data.max() < hi, n
        assert p.data.max() - p.data.min() > 0.8 * (hi - lo), n  # drawn over the whole range
    assert [n for n, _ in nn.IndRNN(3, 5, bias=False).named_parameters()] == [
        "weight_ih_l0", "weight_hh_l0"]
    # state_dict round trip: another module with the loaded state computes the same
    again = nn.IndRNN(3, 50, num_layers=2, bidirectional=True)
    assert not np.array_equal(again.weight_hh_l0.data, m.weight_hh_l0.data)
    again.load_state_dict(m.state_dict())
    x = rnnfast.randn(4, 2, 3)
    assert np.array_equal(again(x)[0].numpy(), m(x)[0].numpy())
    assert set(m.state_dict()) == set(names)
    with pytest.raises(RuntimeError, match='Unexpected key.*"bias_ih_l0"'):  # torch's error
        nn.IndRNN(3, 50, num_layers=2, bidirectional=True, bias=False).load_state_dict(
            m.state_dict())


def test_module_repr_and_exported():
    assert "IndRNN" in nn.__all__ and nn.IndRNN is rnnfast.nn.indrnn.IndRNN
    assert repr(nn.IndRNN(3, 5)) == "IndRNN(3, 5)"
    r = repr(nn.IndRNN(3, 5, 2, nonlinearity="tanh", bias=False, recurrent_max_abs=2))
    assert r == "IndRNN(3, 5, num_layers=2, nonlinearity='tanh', bias=False, " \
                "recurrent_max_abs=2.0)"


def test_recurrent_max_abs_clips_u_in_training_only():
    m = nn.IndRNN(3, 6, num_layers=2, recurrent_max_abs=0.5, dtype=np.float64)
    for p in (m.weight_hh_l0, m.weight_hh_l1):
        p.data[...] = np.linspace(-2, 2, 6)
    x = rnnfast.randn(4, 2, 3)
    m.eval()
    m(x)
    assert np.array_equal(m.weight_hh_l0.data, np.linspace(-2, 2, 6))
    m.train()
    out, _ = m(x)
    want = np.clip(np.linspace(-2, 2, 6), -0.5, 0.5)
    assert np.array_equal(m.weight_hh_l0.data, want)
    assert np.array_equal(m.weight_hh_l1.data, want)
    m.eval()  # the clipped weights are the ones used
    np.testing.assert_allclose(m(x)[0].numpy(), out.numpy(), **TOL[np.float64])
    unclipped = nn.IndRNN(3, 6, dtype=np.float64)
    unclipped.weight_hh_l0.data[...] = np.linspace(-2, 2, 6)
    unclipped(x)
    assert np.array_equal(unclipped.weight_hh_l0.data, np.linspace(-2, 2, 6))


def test_module_contract_errors():
    with pytest.raises(ValueError, match="^nonlinearity: expected 'relu' or 'tanh', got 'gelu'"):
        nn.IndRNN(3, 5, nonlinearity="gelu")
    with pytest.raises(ValueError, match="^recurrent_max_abs: expected None or a finite float"):
        nn.IndRNN(3, 5, recurrent_max_abs=0)
    with pytest.raises(TypeError, match="^recurrent_max_abs: expected None or a float"):
        nn.IndRNN(3, 5, recurrent_max_abs="1")
    with pytest.raises(ValueError, match="^recurrent_dropout: expected a probability"):
        nn.IndRNN(3, 5, recurrent_dropout=1.0)
    with pytest.raises(ValueError, match="^hidden_size"):
        nn.IndRNN(3, 0)
    with pytest.raises(ValueError, match="^device"):
        nn.IndRNN(3, 5, device="cuda")
    m = nn.IndRNN(3, 5, num_layers=2)
    with pytest.raises(ValueError, match=r"^input: expected 3 features"):
        m(rnnfast.randn(4, 2, 4))
    with pytest.raises(ValueError, match=r"^hx: expected shape \(2, 2, 5\)"):
        m(rnnfast.randn(4, 2, 3), rnnfast.randn(1, 2, 5))
    with pytest.raises(ValueError, match=r"^lengths: expected every length in \[1, 4\]"):
        m(rnnfast.randn(4, 2, 3), lengths=[5, 1])
    with pytest.raises(TypeError, match="^input: expected numeric data"):
        m(np.array([["a"]]))
    out, h_n = m(rnnfast.randn(4, 2, 3))
    assert tuple(out.shape) == (4, 2, 5) and tuple(h_n.shape) == (2, 2, 5)
