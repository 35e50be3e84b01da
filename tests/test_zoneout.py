"""Zoneout (Krueger et al. 2016; haste's zoneout) on every cell but the scan cells (issue
#21): h_t = d^h_t h_{t-1} + (1 - d^h_t) h~_t and, for the LSTMs, c_t likewise, with per-step
keep masks (training) or the constant p (inference).

Oracles: the float64 NumPy reference, itself held to central finite differences here, for the
kernels (values and every gradient, masks and probabilities, every option and split of the time
loop); finite differences for the modules' gradients; the plain kernels and modules (bitwise)
for zoneout 0 and all-zero masks; and the formula's own consequences (all-one masks keep h0,
the fraction of kept units in training mode).
"""

import itertools

import numpy as np
import pytest

import rnnfast
from rnnfast import functional as F, nn, reference as R
from rnnfast._cells import CELLS
from rnnfast.nn.rnn import RNNBase

from _problems import (
    FD_TOL,
    TOL,
    assert_module_fd,
    make_cotangents,
    make_problem,
    reference_fd_grad,
)

MODES = tuple(m for m, k in CELLS.items() if k.recurrence != "scan")
OTHERS = tuple(m for m in CELLS if m not in MODES)


def _masks(mode, T, B, H, dtype, seed, p=0.4, c=True):
    """Bernoulli(p) keep masks for h and (LSTMs, with c) c, [T,B,H]."""
    rng = np.random.default_rng(seed)
    zh = (rng.random((T, B, H)) < p).astype(dtype)
    zc = (rng.random((T, B, H)) < p).astype(dtype) if CELLS[mode].has_c and c else None
    return zh, zc


# ----------------------------------------------------------------------------- reference

@pytest.mark.parametrize("zo", ["masks", "probs"])
@pytest.mark.parametrize("mode", MODES)
def test_reference_gradients_match_finite_differences(mode, zo):
    T, B, I, H = 4, 3, 3, 3
    p = make_problem(mode, T, B, I, H, seed=4, lengths=[4, 2, 3])
    if zo == "masks":
        zh, zc = _masks(mode, T, B, H, np.float64, seed=5, p=0.5)
    else:
        zh, zc = 0.3, (0.6 if CELLS[mode].has_c else None)
    p.update(zoneout_h=zh, zoneout_c=zc)
    cot = make_cotangents(mode, T, B, H)
    for reverse in (False, True):
        _, _, _, cache = R.forward(mode, **p, reverse=reverse)
        g = R.backward(cache, *cot)
        names = ["x", "h0", "w_hh", "w_ih"] + (["c0"] if CELLS[mode].has_c else [])
        if mode == "layernorm_lstm":
            names.append("gamma_c")
        key = {"x": "dx", "h0": "dh0", "c0": "dc0"}
        for name in names:
            fd = reference_fd_grad(mode, p, name, cot, reverse)
            np.testing.assert_allclose(g[key.get(name, name)], fd, err_msg=name, **FD_TOL)


@pytest.mark.parametrize("mode", MODES)
def test_reference_formula(mode):
    """All-one masks keep the initial state; all-zero masks and p = 0 are the plain cell."""
    T, B, I, H = 5, 2, 3, 4
    p = make_problem(mode, T, B, I, H, seed=1)
    ones = np.ones((T, B, H))
    c = ones if CELLS[mode].has_c else None
    y, h_n, c_n, _ = R.forward(mode, **p, zoneout_h=ones, zoneout_c=c)
    np.testing.assert_array_equal(y, np.broadcast_to(p["h0"], y.shape))
    np.testing.assert_array_equal(h_n, p["h0"])
    if c_n is not None:
        np.testing.assert_array_equal(c_n, p["c0"])
    plain = R.forward(mode, **p)[:3]
    for z in (0.0, np.zeros((T, B, H))):
        got = R.forward(mode, **p, zoneout_h=z, zoneout_c=z if CELLS[mode].has_c else None)
        for a, b in zip(got[:3], plain):
            if b is not None:
                np.testing.assert_array_equal(a, b)


# ----------------------------------------------------------------------------- kernels

OPTIONS = ("bias", "reverse", "lengths", "h_mask", "h0", "batch_first")


def _cases():
    rng = np.random.default_rng(11)
    combos = [opts for k in range(len(OPTIONS) + 1)
              for opts in itertools.combinations(OPTIONS, k)]
    cases = []
    for mode in MODES:
        # every option alone, all of them, and three drawn sets, each with a zoneout kind
        picks = [(o,) for o in OPTIONS] + [OPTIONS]
        picks += [combos[i] for i in rng.choice(len(combos), size=3, replace=False)]
        for i, opts in enumerate(picks):
            cases.append((mode, opts, ("masks", "probs", "h_only")[i % 3]))
    return cases


def _kernel_vs_reference(mode, opts, zo, dtype, T=6, B=4, I=5, H=7, seed=0):
    lengths = [min(T, max(1, v)) for v in [T, 2, T - 1, 1][:B]] if "lengths" in opts else None
    proj = 3 if "proj" in opts else 0
    Ho = proj or H
    p = make_problem(mode, T, B, I, H, proj=proj, bias="bias" in opts, dtype=np.float64,
                     seed=seed, with_h0="h0" in opts, lengths=lengths)
    rng = np.random.default_rng(seed + 1)
    has_c = CELLS[mode].has_c
    if "h_mask" in opts:
        p["h_mask"] = (rng.random((B, Ho)) > 0.3) / 0.7
    if zo == "probs":
        zh, zc = 0.35, (0.55 if has_c else None)
    else:
        zh, zc = _masks(mode, T, B, H, np.float64, seed + 2, c=zo == "masks")
        zh = zh[:, :, :Ho]
    reverse = "reverse" in opts
    bf = "batch_first" in opts
    cot = make_cotangents(mode, T, B, H, proj=proj)
    y_r, h_r, c_r, cache = R.forward(mode, **p, reverse=reverse, zoneout_h=zh, zoneout_c=zc)
    g_r = R.backward(cache, *cot)

    def cast(a):
        return a.astype(dtype) if isinstance(a, np.ndarray) and a.dtype.kind == "f" else a

    def tbh(a):  # [T,B,..] -> the kernel's layout
        if not isinstance(a, np.ndarray):
            return a
        return np.ascontiguousarray(a.transpose(1, 0, 2)) if bf else a

    kp = {k: cast(v) for k, v in p.items()}
    kp["x"] = tbh(kp["x"])
    zk = dict(zoneout_h=tbh(cast(zh)), zoneout_c=tbh(cast(zc)))
    y, h_n, c_n, res = F.forward(mode, **kp, reverse=reverse, batch_first=bf, **zk)
    tol = TOL[dtype]
    back = (lambda a: a.transpose(1, 0, 2)) if bf else (lambda a: a)
    np.testing.assert_allclose(back(y), y_r, **tol)
    np.testing.assert_allclose(h_n, h_r, **tol)
    if has_c:
        np.testing.assert_allclose(c_n, c_r, **tol)
    dy, dh_n, dc_n = (cast(a) for a in cot)
    x = kp.pop("x")
    for k in ("h0", "c0"):
        kp.pop(k)
    g = F.backward(mode, res, x, **kp, y=y, reverse=reverse, batch_first=bf, dy=tbh(dy),
                   dh_n=dh_n, dc_n=dc_n, **zk)
    for k, want in g_r.items():
        got = g[k]
        if want is None:
            assert got is None, k
            continue
        if k == "dx":
            got = back(got)
        scale = max(1.0, float(np.abs(want).max()))
        np.testing.assert_allclose(got, want, rtol=tol["rtol"], atol=tol["atol"] * scale,
                                   err_msg=k)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("mode,opts,zo", _cases(),
                         ids=lambda v: v if isinstance(v, str) else ",".join(v) or "plain")
def test_kernels_match_the_reference(mode, opts, zo, dtype):
    _kernel_vs_reference(mode, opts, zo, dtype)


@pytest.mark.parametrize("split", [("RNNFAST_TIME_PARALLEL", "units"),
                                   ("RNNFAST_TIME_PARALLEL", "batch"),
                                   ("RNNFAST_FUSED_INPUT", "team"),
                                   ("RNNFAST_FUSED_INPUT", "1")])
@pytest.mark.parametrize("mode", MODES)
def test_every_split_of_the_time_loop(mode, split, monkeypatch):
    """Two threads over the units (each zones out its own block) or the batch rows, and each
    way of the input projection, against the reference."""
    monkeypatch.setenv(*split)
    old = rnnfast.get_num_threads()
    rnnfast.set_num_threads(2)
    try:
        _kernel_vs_reference(mode, ("bias", "h_mask", "h0"), "masks", np.float64, T=5, B=4,
                             I=6, H=40, seed=3)
        _kernel_vs_reference(mode, ("lengths", "reverse", "bias"), "probs", np.float64, T=5,
                             B=4, I=6, H=40, seed=3)
    finally:
        rnnfast.set_num_threads(old)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("opts", [("proj",), ("proj", "bias", "h0", "lengths"),
                                  ("proj", "reverse", "h_mask", "batch_first"),
                                  ("proj", "bias", "lengths", "reverse", "h0")],
                         ids=lambda v: ",".join(v))
@pytest.mark.parametrize("zo", ["masks", "probs", "h_only"])
@pytest.mark.parametrize("mode", ["lstm", "lstm_peephole"])
def test_projected_lstms(mode, zo, opts, dtype):
    """A projected LSTM: h's masks are [T,B,H_out], zoned out after the projection."""
    _kernel_vs_reference(mode, opts, zo, dtype)


@pytest.mark.parametrize("split", [("RNNFAST_TIME_PARALLEL", "units"),
                                   ("RNNFAST_TIME_PARALLEL", "batch")])
@pytest.mark.parametrize("mode", ["lstm", "lstm_peephole"])
def test_projected_lstms_split(mode, split, monkeypatch):
    monkeypatch.setenv(*split)
    old = rnnfast.get_num_threads()
    rnnfast.set_num_threads(2)
    try:
        _kernel_vs_reference(mode, ("proj", "bias", "h_mask", "h0", "lengths"), "masks",
                             np.float64, T=5, B=4, I=6, H=40, seed=3)
    finally:
        rnnfast.set_num_threads(old)


@pytest.mark.parametrize("T", [1, 2])
@pytest.mark.parametrize("mode", MODES)
def test_short_sequences(mode, T):
    """One or two steps: the products take the unpacked path (no packing to amortize)."""
    _kernel_vs_reference(mode, ("bias", "h0", "lengths"), "masks", np.float64, T=T, B=3, I=4,
                         H=6, seed=9)
    _kernel_vs_reference(mode, ("reverse", "h_mask"), "probs", np.float32, T=T, B=2, I=3, H=5,
                         seed=10)


@pytest.mark.parametrize("mode", MODES)
def test_zero_zoneout_is_the_plain_kernel_bitwise(mode):
    """p = 0 is no zoneout at all; all-zero masks take the zoneout path, whose every value is
    then the plain one (0 * prev + 1 * new, and dh_{t-1} + 0)."""
    T, B, I, H = 6, 3, 4, 5
    p = make_problem(mode, T, B, I, H, dtype=np.float32, seed=2, lengths=[6, 3, 5])
    has_c = CELLS[mode].has_c
    cot = make_cotangents(mode, T, B, H, dtype=np.float32)
    plain = F.forward(mode, **p)
    x = p.pop("x")
    states = {k: p.pop(k) for k in ("h0", "c0")}
    g0 = F.backward(mode, plain[3], x, **p, y=plain[0], dy=cot[0], dh_n=cot[1], dc_n=cot[2])
    zeros = np.zeros((T, B, H), np.float32)
    for zh, zc in ((0.0, 0.0 if has_c else None), (zeros, zeros if has_c else None)):
        out = F.forward(mode, x, **p, **states, zoneout_h=zh, zoneout_c=zc)
        for a, b in zip(out[:3], plain[:3]):
            if b is not None:
                np.testing.assert_array_equal(a, b)
        g = F.backward(mode, out[3], x, **p, y=out[0], dy=cot[0], dh_n=cot[1], dc_n=cot[2],
                       zoneout_h=zh, zoneout_c=zc)
        for k, v in g0.items():
            if v is not None:
                np.testing.assert_array_equal(g[k], v, err_msg=k)


@pytest.mark.parametrize("mode", MODES)
def test_all_one_masks_keep_the_initial_state(mode):
    T, B, I, H = 5, 2, 3, 4
    p = make_problem(mode, T, B, I, H, dtype=np.float32, seed=6)
    ones = np.ones((T, B, H), np.float32)
    y, h_n, c_n, _ = F.forward(mode, **p, zoneout_h=ones,
                               zoneout_c=ones if CELLS[mode].has_c else None)
    np.testing.assert_array_equal(y, np.broadcast_to(p["h0"], y.shape))
    np.testing.assert_array_equal(h_n, p["h0"])
    if c_n is not None:
        np.testing.assert_array_equal(c_n, p["c0"])


def test_bad_zoneout_arguments_name_the_argument():
    p = make_problem("lstm", 3, 2, 3, 4, dtype=np.float32)
    with pytest.raises(ValueError, match=r"zoneout_h: expected a zoneout probability in \[0, 1\)"):
        F.forward("lstm", **p, zoneout_h=1.0)
    with pytest.raises(ValueError, match="zoneout_c: expected a zoneout probability"):
        F.forward("lstm", **p, zoneout_c=-0.1)
    with pytest.raises(TypeError, match="zoneout_h: expected None, a probability"):
        F.forward("lstm", **p, zoneout_h="0.5")
    with pytest.raises(ValueError, match=r"zoneout_h: expected shape \(3, 2, 4\)"):
        F.forward("lstm", **p, zoneout_h=np.zeros((3, 2, 5), np.float32))
    g = make_problem("gru", 3, 2, 3, 4, dtype=np.float32)
    with pytest.raises(ValueError, match="zoneout_c: expected None for mode 'gru'"):
        F.forward("gru", **g, zoneout_c=0.5)
    with pytest.raises(ValueError, match="zoneout_c: expected None for mode 'gru'"):
        R.forward("gru", **g, zoneout_c=0.5)
    pj = make_problem("lstm", 3, 2, 3, 4, proj=2, dtype=np.float32)
    with pytest.raises(ValueError, match=r"zoneout_h: expected shape \(3, 2, 2\)"):
        F.forward("lstm", **pj, zoneout_h=np.zeros((3, 2, 4), np.float32))
    with pytest.raises(ValueError, match=r"zoneout_h: expected shape \(3, 2, 2\)"):
        R.forward("lstm", **pj, zoneout_h=np.zeros((3, 2, 4), np.float32))
    for mode in OTHERS:
        q = make_problem(mode, 3, 2, 3, 4, dtype=np.float32)
        with pytest.raises(ValueError, match=f"zoneout_h: expected None for mode '{mode}'"):
            F.forward(mode, **q, zoneout_h=0.5)
        with pytest.raises(ValueError, match=f"zoneout_h: expected None for mode '{mode}'"):
            R.forward(mode, **q, zoneout_h=0.5)
    # the kernels' own check, past functional
    from rnnfast import _core
    from rnnfast.functional import _CELL
    with pytest.raises(ValueError, match=r"zoneout.h_prob: expected a zoneout probability"):
        _core.forward(_CELL["gru"], g["x"], g["w_ih"], g["w_hh"], zoneout_h=1.5)
    with pytest.raises(ValueError, match="zoneout.c: expected none"):
        _core.forward(_CELL["gru"], g["x"], g["w_ih"], g["w_hh"], zoneout_c=0.5)
    with pytest.raises(ValueError, match="zoneout: expected none for mingru"):
        m = make_problem("mingru", 3, 2, 3, 4, dtype=np.float32)
        _core.forward(_CELL["mingru"], m["x"], m["w_ih"], None, m["b_ih"], zoneout_h=0.5)


# ----------------------------------------------------------------------------- modules

def _module(mode, **kw):
    I, H = 3, 4
    if mode in ("rnn_tanh", "rnn_relu"):
        return nn.RNN(I, H, nonlinearity=mode[4:], dtype=np.float64, **kw)
    if mode in ("lstm", "lstm_peephole"):
        return nn.LSTM(I, H, peephole=mode == "lstm_peephole", dtype=np.float64, **kw)
    if mode in ("gru", "gru_reset_before"):
        return nn.GRU(I, H, reset_after=mode == "gru", dtype=np.float64, **kw)
    if mode == "layernorm_lstm":
        return nn.LayerNormLSTM(I, H, dtype=np.float64, **kw)
    if mode.startswith("indrnn"):
        return nn.IndRNN(I, H, nonlinearity=mode[7:], dtype=np.float64, **kw)
    return nn.LayerNormGRU(I, H, dtype=np.float64, **kw)


def _zo(mode, p=0.4):
    return dict(zoneout=p, zoneout_c=0.3) if CELLS[mode].has_c else dict(zoneout=p)


MODULE_CASES = [dict(num_layers=2, bidirectional=True),
                dict(bidirectional=True, batch_first=True, recurrent_dropout=0.3)]


@pytest.mark.parametrize("mode,kw", [(m, k) for m in MODES for k in MODULE_CASES]
                         + [(m, dict(num_layers=2, proj_size=2, bidirectional=True))
                            for m in ("lstm", "lstm_peephole")],
                         ids=lambda v: v if isinstance(v, str) else ",".join(v))
def test_module_gradients_match_finite_differences(mode, kw):
    """Training mode, the same masks at every call (the same seed): the module's gradients."""
    m = _module(mode, **kw, **_zo(mode))
    has_c = CELLS[mode].has_c
    rng = np.random.default_rng(2)
    T, B, H = 5, 3, 4
    bf = kw.get("batch_first", False)
    D = 2 if kw.get("bidirectional") else 1
    L = kw.get("num_layers", 1)
    Ho = kw.get("proj_size") or H
    x = rng.standard_normal((B, T, 3) if bf else (T, B, 3))
    h0 = rng.standard_normal((L * D, B, Ho))
    c0 = rng.standard_normal((L * D, B, H))
    lengths = [5, 2, 4]
    w_out = rng.standard_normal((B, T, D * Ho) if bf else (T, B, D * Ho))
    w_h = rng.standard_normal((L * D, B, Ho))
    w_c = rng.standard_normal((L * D, B, H))

    def loss(xv, h0v, c0v):
        rnnfast.manual_seed(9)  # the same zoneout and dropout masks at every call
        out, st = m(xv, (h0v, c0v) if has_c else h0v, lengths=lengths)
        total = (out * rnnfast.tensor(w_out)).sum()
        if has_c:
            return (total + (st[0] * rnnfast.tensor(w_h)).sum()
                    + (st[1] * rnnfast.tensor(w_c)).sum())
        return total + (st * rnnfast.tensor(w_h)).sum()

    xt, ht, ct = (rnnfast.tensor(a, requires_grad=True) for a in (x, h0, c0))
    m.zero_grad()
    loss(xt, ht, ct).backward()
    checks = [("input", x, xt.grad), ("h0", h0, ht.grad)]
    if has_c:
        checks.append(("c0", c0, ct.grad))
    for name, prm in m.named_parameters():
        checks.append((name, prm.data, prm.grad))

    def fd_loss():
        with rnnfast.no_grad():
            return float(loss(rnnfast.tensor(x), rnnfast.tensor(h0), rnnfast.tensor(c0)).item())

    assert_module_fd(checks, fd_loss, samples=4)


@pytest.mark.parametrize("mode", MODES)
def test_module_eval_is_the_expectation(mode):
    """Eval mode: the reference with the constant masks p; p = 0 is the plain module."""
    rnnfast.manual_seed(3)
    m = _module(mode, **_zo(mode, 0.45))
    rnnfast.manual_seed(3)
    plain = _module(mode)
    m.eval()
    plain.eval()
    x = np.random.default_rng(4).standard_normal((6, 2, 3))
    out, st = m(x)
    w = {n: p.data for n, p in m.named_parameters()}
    kw = {k: w.get(k + "_l0") for k in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")}
    extras = {a: w[n + "_l0"] for n, _ in CELLS[mode].extras
              for a in [n.replace("weight_", "w_")]}
    has_c = CELLS[mode].has_c
    y_r, h_r, c_r, _ = R.forward(mode, x, kw["weight_ih"], kw["weight_hh"], kw["bias_ih"],
                                 kw["bias_hh"], **extras, zoneout_h=0.45,
                                 zoneout_c=0.3 if has_c else None)
    np.testing.assert_allclose(out.numpy(), y_r, **TOL[np.float64])
    np.testing.assert_allclose((st[0] if has_c else st).numpy()[0], h_r, **TOL[np.float64])
    if has_c:
        np.testing.assert_allclose(st[1].numpy()[0], c_r, **TOL[np.float64])
    # with zoneout 0 the module is the plain one, bitwise, in both modes
    rnnfast.manual_seed(3)
    zero = _module(mode, zoneout=0.0)
    for train in (False, True):
        zero.train(train)
        plain.train(train)
        a, b = zero(x)[0].numpy(), plain(x)[0].numpy()
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("mode", ["lstm", "gru", "rnn_tanh", "layernorm_gru", "indrnn_tanh"])
def test_module_training_masks(mode):
    """Training mode: a unit keeps its previous value (h_t == h_{t-1} exactly) at a fraction p
    of steps, drawn per step and unit; two calls draw different masks; eval keeps none."""
    p = 0.3
    m = _module(mode, zoneout=p)
    x = np.random.default_rng(8).standard_normal((60, 8, 3))
    y = m(x)[0].numpy()
    kept = (y[1:] == y[:-1]).mean()
    assert abs(kept - p) < 0.03, kept
    assert not np.array_equal(y, m(x)[0].numpy())
    m.eval()
    y = m(x)[0].numpy()
    assert (y[1:] == y[:-1]).mean() < 0.01


def test_module_arguments():
    with pytest.raises(ValueError, match=r"zoneout: expected a probability in \[0, 1\)"):
        nn.LSTM(3, 4, zoneout=1.0)
    with pytest.raises(ValueError, match="zoneout_c: expected 0 for gru"):
        RNNBase("gru", 3, 4, zoneout_c=0.2)
    with pytest.raises(ValueError, match="zoneout: expected 0 for mingru"):
        RNNBase("mingru", 3, 4, zoneout=0.1)
    assert "zoneout=0.2, zoneout_c=0.1" in repr(nn.LSTM(3, 4, zoneout=0.2, zoneout_c=0.1))


def test_onnx_export_refuses_zoneout(tmp_path):
    """The traced layer ops have no zoneout: export refuses the model, in training mode (its
    masks are random) and in eval mode (its expectation is not in the ops), instead of
    writing a model without it; weight_dropout in eval mode exports (the plain weights)."""
    pytest.importorskip("onnx")
    import rnnfast.onnx  # noqa: F401 (not imported by rnnfast itself)
    path = str(tmp_path / "m.onnx")
    x = np.random.default_rng(0).standard_normal((4, 2, 3))
    m = nn.LSTM(3, 4, zoneout=0.2)
    with pytest.raises(ValueError, match="zoneout=0.2"):
        rnnfast.onnx.export(m, (x,), path)
    m.eval()
    with pytest.raises(ValueError, match="zoneout: expected 0 while tracing"):
        rnnfast.onnx.export(m, (x,), path)
    w = nn.GRU(3, 4, weight_dropout=0.3)
    with pytest.raises(ValueError, match="weight_dropout=0.3"):
        rnnfast.onnx.export(w, (x,), path)
    rnnfast.onnx.export(w.eval(), (x,), path)
