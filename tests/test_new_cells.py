"""The two cells added through the cell recipe (docs/ARCHITECTURE.md, "How to add a cell"):
GRU with the reset gate before the recurrent product ("gru_reset_before", nn.GRU(...,
reset_after=False)) and LSTM with peepholes ("lstm_peephole", nn.LSTM(..., peephole=True)).

Oracles: the float64 NumPy reference (itself held to ONNX Runtime and finite differences in
tests/test_reference_cells.py) for the kernels, every option and every way the time loop splits;
central finite differences in float64 for the modules' gradients; ONNX Runtime through
rnnfast.onnx.export in tests/test_onnx_export.py.
"""

import itertools

import numpy as np
import pytest

import rnnfast
from rnnfast import functional as F, nn, reference as R

from _problems import TOL, assert_module_fd

MODES = ("gru_reset_before", "lstm_peephole")
OPTIONS = ("bias", "reverse", "lengths", "h_mask", "h0", "batch_first", "proj")


def _problem(mode, opts, dtype, T=6, B=4, I=5, H=7, seed=0):
    rng = np.random.default_rng(seed)
    G = 4 if mode == "lstm_peephole" else 3
    proj = 3 if "proj" in opts else 0
    Ho = proj or H

    def u(*shape, s=0.6):
        return rng.uniform(-s, s, shape).astype(dtype)
    x = rng.standard_normal((T, B, I)).astype(dtype)
    kw = dict(w_ih=u(G * H, I), w_hh=u(G * H, Ho))
    if "bias" in opts:
        kw.update(b_ih=u(G * H), b_hh=u(G * H))
    if proj:
        kw["w_hr"] = u(Ho, H)
    if mode == "lstm_peephole":
        kw["w_p"] = u(3 * H)
    if "lengths" in opts:
        kw["lengths"] = np.array([T, 2, T - 1, 1][:B], np.int64)
    if "h_mask" in opts:
        kw["h_mask"] = ((rng.random((B, Ho)) > 0.3) / 0.7).astype(dtype)
    if "reverse" in opts:
        kw["reverse"] = True
    states = {}
    if "h0" in opts:
        states["h0"] = rng.standard_normal((B, Ho)).astype(dtype)
        if mode == "lstm_peephole":
            states["c0"] = rng.standard_normal((B, H)).astype(dtype)
    cot = dict(dy=rng.standard_normal((T, B, Ho)).astype(dtype),
               dh_n=rng.standard_normal((B, Ho)).astype(dtype))
    if mode == "lstm_peephole":
        cot["dc_n"] = rng.standard_normal((B, H)).astype(dtype)
    return x, kw, states, cot


def _cases():
    combos = []
    for mode in MODES:
        for k in range(len(OPTIONS) + 1):
            for opts in itertools.combinations(OPTIONS, k):
                if "proj" in opts and mode != "lstm_peephole":
                    continue
                combos.append((mode, opts))
    rng = np.random.default_rng(7)  # every option alone and with every other, then a sample
    keep = [c for c in combos if len(c[1]) <= 2]
    rest = [c for c in combos if len(c[1]) > 2]
    keep += [rest[i] for i in rng.choice(len(rest), size=24, replace=False)]
    return keep


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("mode,opts", _cases(), ids=lambda v: v if isinstance(v, str)
                         else ",".join(v) or "plain")
def test_kernels_match_the_reference(mode, opts, dtype):
    x, kw, states, cot = _problem(mode, opts, dtype)
    bf = "batch_first" in opts
    xk = np.ascontiguousarray(x.transpose(1, 0, 2)) if bf else x
    y, h_n, c_n, res = F.forward(mode, xk, **kw, **states, batch_first=bf)
    x64 = x.astype(np.float64)
    kw64 = {k: (v.astype(np.float64) if isinstance(v, np.ndarray) and v.dtype.kind == "f"
                else v) for k, v in kw.items()}
    st64 = {k: v.astype(np.float64) for k, v in states.items()}
    y_r, h_r, c_r, cache = R.forward(mode, x64, **kw64, **st64)
    tol = TOL[dtype]
    np.testing.assert_allclose(y.transpose(1, 0, 2) if bf else y, y_r, **tol)
    np.testing.assert_allclose(h_n, h_r, **tol)
    assert (c_n is None) == (mode != "lstm_peephole")
    if c_n is not None:
        np.testing.assert_allclose(c_n, c_r, **tol)
    dy = np.ascontiguousarray(cot["dy"].transpose(1, 0, 2)) if bf else cot["dy"]
    g = F.backward(mode, res, xk, **kw, y=y, batch_first=bf, **dict(cot, dy=dy))
    g_r = R.backward(cache, **{k: v.astype(np.float64) for k, v in cot.items()})
    for k, want in g_r.items():
        got = g[k]
        if want is None:
            assert got is None, k
            continue
        if k == "dx" and bf:
            got = got.transpose(1, 0, 2)
        # gradients sum over steps: compared at their own scale
        scale = max(1.0, float(np.abs(want).max()))
        np.testing.assert_allclose(got, want, rtol=tol["rtol"], atol=tol["atol"] * scale,
                                   err_msg=k)


@pytest.mark.parametrize("split", [("RNNFAST_TIME_PARALLEL", "units"),
                                   ("RNNFAST_TIME_PARALLEL", "batch"),
                                   ("RNNFAST_FUSED_INPUT", "team"),
                                   ("RNNFAST_FUSED_INPUT", "1"),
                                   ("RNNFAST_FUSED_INPUT", "0")])
@pytest.mark.parametrize("mode", MODES)
def test_every_split_of_the_time_loop(mode, split, monkeypatch):
    """Units split over two threads (the two-product step's extra barrier), batch rows, and
    each way of the input projection: the reference's results, with and without lengths."""
    monkeypatch.setenv(*split)
    old = rnnfast.get_num_threads()
    rnnfast.set_num_threads(2)
    try:
        for opts in [("bias", "h_mask", "h0"), ("lengths", "reverse", "bias")]:
            x, kw, states, cot = _problem(mode, opts, np.float64, T=5, B=4, I=6, H=40, seed=3)
            y, h_n, c_n, res = F.forward(mode, x, **kw, **states)
            y_r, h_r, _, cache = R.forward(mode, x, **kw, **states)
            np.testing.assert_allclose(y, y_r, **TOL[np.float64])
            g = F.backward(mode, res, x, **kw, y=y, **cot)
            g_r = R.backward(cache, **cot)
            for k, want in g_r.items():
                if want is not None:
                    np.testing.assert_allclose(g[k], want, rtol=1e-9, atol=1e-9, err_msg=k)
    finally:
        rnnfast.set_num_threads(old)


def _module(mode, **kw):
    if mode == "gru_reset_before":
        return nn.GRU(3, 4, reset_after=False, dtype=np.float64, **kw)
    m = nn.LSTM(3, 4, peephole=True, dtype=np.float64, **kw)
    rng = np.random.default_rng(5)
    for name, p in m.named_parameters():
        if name.startswith("weight_p"):
            p.data[...] = rng.uniform(-0.8, 0.8, p.shape)
    return m


MODULE_CASES = [dict(num_layers=2, bidirectional=True),
                dict(bidirectional=True, batch_first=True, recurrent_dropout=0.3),
                dict(bias=False, recurrent_dropout=0.4)]


@pytest.mark.parametrize("mode,kw", [(m, k) for m in MODES for k in MODULE_CASES]
                         + [("lstm_peephole", dict(num_layers=2, proj_size=2))],
                         ids=lambda v: v if isinstance(v, str) else ",".join(v))
def test_module_gradients_match_finite_differences(mode, kw):
    m = _module(mode, **kw)
    has_c = mode == "lstm_peephole"
    rng = np.random.default_rng(2)
    T, B = 5, 3
    bf = kw.get("batch_first", False)
    D = 2 if kw.get("bidirectional") else 1
    L = kw.get("num_layers", 1)
    Ho = kw.get("proj_size") or 4
    x = rng.standard_normal((B, T, 3) if bf else (T, B, 3))
    h0 = rng.standard_normal((L * D, B, Ho))
    c0 = rng.standard_normal((L * D, B, 4))
    lengths = [5, 2, 4]
    w_out = rng.standard_normal((B, T, D * Ho) if bf else (T, B, D * Ho))
    w_h = rng.standard_normal((L * D, B, Ho))
    w_c = rng.standard_normal((L * D, B, 4))

    def loss(xv, h0v, c0v):
        rnnfast.manual_seed(9)  # the same recurrent dropout masks at every call
        hx = (h0v, c0v) if has_c else h0v
        out, st = m(xv, hx, lengths=lengths)
        total = (out * rnnfast.tensor(w_out)).sum()
        if has_c:
            return total + (st[0] * rnnfast.tensor(w_h)).sum() + (st[1] * rnnfast.tensor(w_c)).sum()
        return total + (st * rnnfast.tensor(w_h)).sum()

    xt, ht, ct = (rnnfast.tensor(a, requires_grad=True) for a in (x, h0, c0))
    m.zero_grad()
    loss(xt, ht, ct).backward()
    checks = [("input", x, xt.grad), ("h0", h0, ht.grad)]
    if has_c:
        checks.append(("c0", c0, ct.grad))
    for name, p in m.named_parameters():
        checks.append((name, p.data, p.grad))
    def fd_loss():
        with rnnfast.no_grad():
            return float(loss(rnnfast.tensor(x), rnnfast.tensor(h0), rnnfast.tensor(c0)).item())

    assert_module_fd(checks, fd_loss)


def test_module_parameters_and_state():
    lstm = nn.LSTM(3, 5, num_layers=2, bidirectional=True, peephole=True)
    names = [n for n, _ in lstm.named_parameters() if n.startswith("weight_p")]
    assert names == ["weight_p_l0", "weight_p_l0_reverse", "weight_p_l1", "weight_p_l1_reverse"]
    for n in names:  # ONNX's default: no peephole until trained
        p = getattr(lstm, n)
        assert p.shape == (15,) and p.dtype == np.float32 and not p.data.any()
    assert "peephole=True" in repr(lstm)
    plain = nn.LSTM(3, 5, num_layers=2, bidirectional=True)
    assert set(lstm.state_dict()) - set(plain.state_dict()) == set(names)
    # with zero peepholes it is the plain LSTM (the same weights otherwise)
    plain.load_state_dict({k: v for k, v in lstm.state_dict().items() if k not in names})
    x = rnnfast.randn(4, 2, 3)
    np.testing.assert_allclose(lstm(x)[0].numpy(), plain(x)[0].numpy(), **TOL[np.float32])
    again = nn.LSTM(3, 5, num_layers=2, bidirectional=True, peephole=True)
    again.load_state_dict(lstm.state_dict())
    assert np.array_equal(again(x)[0].numpy(), lstm(x)[0].numpy())

    gru = nn.GRU(3, 5, reset_after=False)
    assert [n for n, _ in gru.named_parameters()] == [
        "weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"]
    assert "reset_after=False" in repr(gru) and "reset_after" not in repr(nn.GRU(3, 5))
    # the same weights give another function than torch's GRU
    std = nn.GRU(3, 5)
    std.load_state_dict(gru.state_dict())
    assert not np.allclose(gru(x)[0].numpy(), std(x)[0].numpy())


def test_bad_peephole_weights_name_the_argument():
    x, kw, _, _ = _problem("lstm_peephole", ("bias",), np.float32)
    w_p = kw.pop("w_p")
    with pytest.raises(ValueError, match="w_p: expected the peephole weights"):
        F.forward("lstm_peephole", x, **kw)
    with pytest.raises(ValueError, match=r"w_p: expected shape \(21,\) \(3\*H\), got \(20,\)"):
        F.forward("lstm_peephole", x, **kw, w_p=w_p[:20])
    G3 = {k: v[:21] if k.startswith("w_") or k.startswith("b_") else v for k, v in kw.items()}
    with pytest.raises(ValueError, match="w_p: expected None for mode 'gru_reset_before'"):
        F.forward("gru_reset_before", x, **G3, w_p=w_p)
    with pytest.raises(ValueError, match="w_p: expected None for mode 'lstm'"):
        F.forward("lstm", x, **kw, w_p=w_p)
