"""The layer-normalized LSTM and GRU ("layernorm_lstm", nn.LayerNormLSTM; "layernorm_gru",
nn.LayerNormGRU): kernels and modules.

Oracles: the float64 NumPy reference (itself held to central finite differences and to the
formula written out unit by unit in tests/test_reference_layernorm.py) for the kernels, every
option alone and combined, both splits of the time loop and both thread counts; central finite
differences in float64 for the module's gradients. The row statistics are combined in one
fixed order (cells/rownorm.h), so one and two threads, and either split, agree bit for bit.
"""

import itertools
import os
import subprocess
import sys

import numpy as np
import pytest

import rnnfast
from rnnfast import functional as F, nn, reference as R

from _problems import TOL, assert_module_fd

MODES = ("layernorm_lstm", "layernorm_gru")
EXTRAS = ("gamma_x", "gamma_h", "gamma_c", "beta_c")
MINE = {"layernorm_lstm": EXTRAS, "layernorm_gru": EXTRAS[:2]}
OPTIONS = ("bias", "reverse", "lengths", "h_mask", "h0", "batch_first")


def _problem(mode, opts, dtype, T=6, B=4, I=5, H=7, seed=0):
    rng = np.random.default_rng(seed)
    lstm = mode == "layernorm_lstm"
    G = 4 if lstm else 3

    def u(*shape, s=0.6):
        return rng.uniform(-s, s, shape).astype(dtype)
    x = rng.standard_normal((T, B, I)).astype(dtype)
    kw = dict(w_ih=u(G * H, I), w_hh=u(G * H, H))
    if "bias" in opts:
        kw.update(b_ih=u(G * H), b_hh=u(G * H))
    kw.update(gamma_x=1 + u(G * H), gamma_h=1 + u(G * H))
    if lstm:
        kw.update(gamma_c=1 + u(H), beta_c=u(H))
    if "lengths" in opts:
        kw["lengths"] = np.array([max(1, min(T, v)) for v in ([T, 2, T - 1, 1] * B)[:B]],
                                 np.int64)
    if "h_mask" in opts:
        kw["h_mask"] = ((rng.random((B, H)) > 0.3) / 0.7).astype(dtype)
    if "reverse" in opts:
        kw["reverse"] = True
    states = {}
    if "h0" in opts:
        states["h0"] = rng.standard_normal((B, H)).astype(dtype)
        if lstm:
            states["c0"] = rng.standard_normal((B, H)).astype(dtype)
    cot = dict(dy=rng.standard_normal((T, B, H)).astype(dtype),
               dh_n=rng.standard_normal((B, H)).astype(dtype))
    if lstm:
        cot["dc_n"] = rng.standard_normal((B, H)).astype(dtype)
    return x, kw, states, cot


def _f64(d):
    return {k: (v.astype(np.float64) if isinstance(v, np.ndarray) and v.dtype.kind == "f"
                else v) for k, v in d.items()}


def _check(mode, x, kw, states, cot, dtype, bf=False, training=True):
    """The kernels (functional) against the float64 reference: outputs and every gradient."""
    xk = np.ascontiguousarray(x.transpose(1, 0, 2)) if bf else x
    y, h_n, c_n, res = F.forward(mode, xk, **kw, **states, batch_first=bf, training=training)
    y_r, h_r, c_r, cache = R.forward(mode, x.astype(np.float64), **_f64(kw), **_f64(states))
    tol = TOL[dtype]
    np.testing.assert_allclose(y.transpose(1, 0, 2) if bf else y, y_r, **tol)
    np.testing.assert_allclose(h_n, h_r, **tol)
    assert (c_n is None) == (c_r is None) == (mode != "layernorm_lstm")
    if c_n is not None:
        np.testing.assert_allclose(c_n, c_r, **tol)
    if not training:
        assert res is None
        return
    dy = np.ascontiguousarray(cot["dy"].transpose(1, 0, 2)) if bf else cot["dy"]
    g = F.backward(mode, res, xk, **kw, y=y, batch_first=bf, **dict(cot, dy=dy))
    g_r = R.backward(cache, **_f64(cot))
    for k, want in g_r.items():
        got = g[k]
        if want is None:
            assert got is None, k
            continue
        if k == "dx" and bf:
            got = got.transpose(1, 0, 2)
        scale = max(1.0, float(np.abs(want).max()))  # sums over steps: at their own scale
        np.testing.assert_allclose(got, want, rtol=tol["rtol"], atol=tol["atol"] * scale,
                                   err_msg=k)
    return g


def _cases():
    combos = [c for k in range(len(OPTIONS) + 1) for c in itertools.combinations(OPTIONS, k)]
    keep = [c for c in combos if len(c) <= 2]  # every option alone and with every other
    rest = [c for c in combos if len(c) > 2]
    rng = np.random.default_rng(7)
    return keep + [rest[i] for i in rng.choice(len(rest), size=12, replace=False)] + [OPTIONS]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("opts", _cases(), ids=lambda v: ",".join(v) or "plain")
@pytest.mark.parametrize("mode", MODES)
def test_kernels_match_the_reference(mode, opts, dtype):
    x, kw, states, cot = _problem(mode, opts, dtype)
    _check(mode, x, kw, states, cot, dtype, bf="batch_first" in opts)


@pytest.mark.parametrize("opts", [(), ("lengths", "h0", "bias")])
@pytest.mark.parametrize("mode", MODES)
def test_inference_matches_the_reference(mode, opts):
    x, kw, states, cot = _problem(mode, opts, np.float32)
    _check(mode, x, kw, states, cot, np.float32, training=False)


@pytest.mark.parametrize("T,B,I,H", [(1, 1, 1, 1), (2, 3, 4, 16), (1, 5, 3, 17), (3, 2, 9, 33)])
@pytest.mark.parametrize("mode", MODES)
def test_sizes_at_the_edges(mode, T, B, I, H):
    """One step, one row, one unit (a row of c normalizes to zeros), H around the statistics'
    blocks of 16 units, the unpacked short-sequence product (T <= 2)."""
    for opts in [("bias",), ("bias", "lengths", "h_mask", "h0")]:
        x, kw, states, cot = _problem(mode, opts, np.float64, T=T, B=B, I=I, H=H)
        _check(mode, x, kw, states, cot, np.float64)


# Each configuration runs in a process of its own: the split is read from the environment.
_SPLIT_SCRIPT = r"""
import sys, numpy as np, rnnfast
sys.path.insert(0, sys.argv[2])
from test_layernorm_cells import _problem, _check
from rnnfast import functional as F
rnnfast.set_num_threads(int(sys.argv[3]))
out = {}
for n, (mode, opts, (T, B, I, H)) in enumerate([(m, *c) for m in ("layernorm_lstm", "layernorm_gru")
                                                for c in [
        (("bias", "h_mask", "h0"), (5, 4, 6, 40)),
        (("lengths", "reverse", "bias"), (6, 5, 3, 70)),
        (("lengths", "h0", "batch_first"), (4, 8, 5, 33)),
        (("bias", "lengths"), (7, 64, 8, 48))]]):
    for dtype in (np.float64, np.float32):
        x, kw, st, cot = _problem(mode, opts, dtype, T=T, B=B, I=I, H=H, seed=n)
        g = _check(mode, x, kw, st, cot, dtype, bf="batch_first" in opts)
        xk = np.ascontiguousarray(x.transpose(1, 0, 2)) if "batch_first" in opts else x
        y, h_n, c_n, res = F.forward(mode, xk, **kw, **st, batch_first="batch_first" in opts)
        for k, v in [("y", y), ("h_n", h_n), ("c_n", c_n), ("res", res), *g.items()]:
            if v is not None:
                out[f"{n}_{np.dtype(dtype).name}_{k}"] = v
np.savez(sys.argv[1], **out)
"""


def test_every_split_and_thread_count_agree_bit_for_bit(tmp_path):
    """One thread, two threads split by units (the partial statistics behind their barriers)
    and by batch rows, each also asking for the fused and team input modes (which these cells
    do not take): the reference's results, and bitwise the same arrays in every run."""
    here = os.path.dirname(os.path.abspath(__file__))
    runs = {}
    for threads, split, fused in [(1, "", ""), (2, "units", ""), (2, "batch", ""),
                                  (2, "units", "team"), (2, "batch", "1"), (2, "", "")]:
        env = dict(os.environ, OMP_NUM_THREADS=str(threads))
        env.pop("RNNFAST_TIME_PARALLEL", None)
        env.pop("RNNFAST_FUSED_INPUT", None)
        if split:
            env["RNNFAST_TIME_PARALLEL"] = split
        if fused:
            env["RNNFAST_FUSED_INPUT"] = fused
        out = tmp_path / f"{threads}_{split}_{fused}.npz"
        subprocess.run([sys.executable, "-c", _SPLIT_SCRIPT, str(out), here, str(threads)],
                       env=env, check=True)
        runs[(threads, split, fused)] = np.load(out)
    base = runs[(1, "", "")]
    for key, run in runs.items():
        assert sorted(run.files) == sorted(base.files)
        for k in base.files:
            assert np.array_equal(run[k], base[k]), (key, k)


@pytest.mark.parametrize("mode,name", [(m, n) for m in MODES for n in MINE[m]])
def test_bad_normalization_parameters_name_the_argument(mode, name):
    x, kw, _, _ = _problem(mode, ("bias",), np.float32)
    good = kw[name]
    with pytest.raises(ValueError, match=f"{name}: expected the .* of '{mode}', got None"):
        F.forward(mode, x, **{**kw, name: None})
    n = good.shape[0]
    with pytest.raises(ValueError, match=rf"{name}: expected shape \({n},\) .*got \({n - 1},\)"):
        F.forward(mode, x, **{**kw, name: good[:-1]})
    plain = {k: v for k, v in kw.items() if k not in EXTRAS}
    other = mode.replace("layernorm_", "")
    with pytest.raises(ValueError, match=f"{name}: expected None for mode '{other}'"):
        F.forward(other, x, **plain, **{name: good})
    y, _, _, res = F.forward(mode, x, **kw)
    with pytest.raises(ValueError, match=f"{name}: expected the"):
        F.backward(mode, res, x, **{**kw, name: None}, y=y)


@pytest.mark.parametrize("mode", MODES)
def test_bad_inputs_are_refused(mode):
    x, kw, _, _ = _problem(mode, ("bias",), np.float32)
    with pytest.raises(ValueError, match=f"w_p: expected None for mode '{mode}'"):
        F.forward(mode, x, **kw, w_p=np.zeros(21, np.float32))
    if mode == "layernorm_gru":
        with pytest.raises(ValueError, match=f"gamma_c: expected None for mode '{mode}'"):
            F.forward(mode, x, **kw, gamma_c=np.ones(7, np.float32))
    with pytest.raises(ValueError, match="w_hr"):
        F.forward(mode, x, **kw, w_hr=np.zeros((3, 7), np.float32))
    with pytest.raises(ValueError, match="lengths"):
        F.forward(mode, x, **kw, lengths=np.array([7, 1, 1, 1]))
    with pytest.raises(ValueError, match="x"):
        F.forward(mode, x[:, :, :3], **kw)
    # the C++ API's own check of the extras (the bindings pass them through)
    from rnnfast import _core
    ex = tuple(kw[n] for n in MINE[mode])
    args = dict(x=x, w_ih=kw["w_ih"], w_hh=kw["w_hh"], b_ih=kw["b_ih"], b_hh=kw["b_hh"])
    cell = _core.Cell(rnnfast._cells.CELL_ID[mode])
    with pytest.raises(ValueError, match=f"extras: expected {len(ex)} extra parameter"):
        _core.forward(cell, **args, extras=ex[:1])
    with pytest.raises(ValueError, match="extra"):
        _core.forward(cell, **args, extras=None)


# ----------------------------------------------------------------------------- module

CLASSES = {"layernorm_lstm": nn.LayerNormLSTM, "layernorm_gru": nn.LayerNormGRU}


def _module(mode, **kw):
    m = CLASSES[mode](3, 4, dtype=np.float64, **kw)
    rng = np.random.default_rng(5)
    for name, p in m.named_parameters():  # away from the initial ones and zeros
        if name.startswith(("gamma", "beta")):
            p.data[...] += rng.uniform(-0.5, 0.5, p.shape)
    return m


MODULE_CASES = [dict(num_layers=2, bidirectional=True),
                dict(bidirectional=True, batch_first=True, recurrent_dropout=0.3),
                dict(bias=False, recurrent_dropout=0.4, num_layers=2, dropout=0.0)]


@pytest.mark.parametrize("kw", MODULE_CASES, ids=lambda v: ",".join(v))
@pytest.mark.parametrize("mode", MODES)
def test_module_gradients_match_finite_differences(mode, kw):
    m = _module(mode, **kw)
    lstm = mode == "layernorm_lstm"
    rng = np.random.default_rng(2)
    T, B = 5, 3
    bf = kw.get("batch_first", False)
    D = 2 if kw.get("bidirectional") else 1
    L = kw.get("num_layers", 1)
    x = rng.standard_normal((B, T, 3) if bf else (T, B, 3))
    h0 = rng.standard_normal((L * D, B, 4))
    c0 = rng.standard_normal((L * D, B, 4))
    lengths = [5, 2, 4]
    w_out = rng.standard_normal((B, T, D * 4) if bf else (T, B, D * 4))
    w_h = rng.standard_normal((L * D, B, 4))
    w_c = rng.standard_normal((L * D, B, 4))

    def loss(xv, h0v, c0v):
        rnnfast.manual_seed(9)  # the same recurrent dropout masks at every call
        if not lstm:
            out, hn = m(xv, h0v, lengths=lengths)
            return (out * rnnfast.tensor(w_out)).sum() + (hn * rnnfast.tensor(w_h)).sum()
        out, (hn, cn) = m(xv, (h0v, c0v), lengths=lengths)
        return ((out * rnnfast.tensor(w_out)).sum() + (hn * rnnfast.tensor(w_h)).sum()
                + (cn * rnnfast.tensor(w_c)).sum())

    xt, ht, ct = (rnnfast.tensor(a, requires_grad=True) for a in (x, h0, c0))
    m.zero_grad()
    loss(xt, ht, ct).backward()
    checks = [("input", x, xt.grad), ("h0", h0, ht.grad)]
    if lstm:
        checks.append(("c0", c0, ct.grad))
    for name, p in m.named_parameters():
        checks.append((name, p.data, p.grad))
    assert sum(n.startswith(("gamma", "beta")) for n, _, _ in checks) == len(MINE[mode]) * L * D
    def fd_loss():
        with rnnfast.no_grad():
            return float(loss(rnnfast.tensor(x), rnnfast.tensor(h0), rnnfast.tensor(c0)).item())

    assert_module_fd(checks, fd_loss)


def test_module_parameters_and_state():
    m = nn.LayerNormLSTM(3, 5, num_layers=2, bidirectional=True)
    names = [n for n, _ in m.named_parameters()]
    assert names[:8] == ["weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0",
                         "gamma_x_l0", "gamma_h_l0", "gamma_c_l0", "beta_c_l0"]
    assert len(names) == 32 and "gamma_x_l1_reverse" in names
    for n, p in m.named_parameters():
        assert p.dtype == np.float32
        if n.startswith("gamma"):
            assert p.shape == ((20,) if n[6] in "xh" else (5,)) and (p.data == 1).all()
        if n.startswith("beta"):
            assert p.shape == (5,) and not p.data.any()
    plain = nn.LSTM(3, 5, num_layers=2, bidirectional=True)
    assert set(m.state_dict()) - set(plain.state_dict()) == {
        n for n in names if n.startswith(("gamma", "beta"))}
    x = rnnfast.randn(4, 2, 3)
    out, (hn, cn) = m(x)
    assert out.shape == (4, 2, 10) and hn.shape == (4, 2, 5) and cn.shape == (4, 2, 5)
    # the same weights give another function than the plain LSTM's
    plain.load_state_dict({k: v for k, v in m.state_dict().items() if k in plain.state_dict()})
    assert not np.allclose(plain(x)[0].numpy(), out.numpy())
    again = nn.LayerNormLSTM(3, 5, num_layers=2, bidirectional=True)
    again.load_state_dict(m.state_dict())
    assert np.array_equal(again(x)[0].numpy(), out.numpy())
    # a layer matches functional with its parameters
    one = nn.LayerNormLSTM(3, 5)
    y, _, _, _ = F.forward("layernorm_lstm", x.numpy(), one.weight_ih_l0.data,
                           one.weight_hh_l0.data,
                           one.bias_ih_l0.data, one.bias_hh_l0.data,
                           **{e: getattr(one, e + "_l0").data for e in EXTRAS})
    assert np.array_equal(one(x)[0].numpy(), y)


def test_module_refuses_bad_arguments():
    with pytest.raises(TypeError):
        nn.LayerNormLSTM(3, 5, proj_size=2)
    with pytest.raises(ValueError, match="hidden_size"):
        nn.LayerNormLSTM(3, 0)
    with pytest.raises(ValueError, match="recurrent_dropout"):
        nn.LayerNormLSTM(3, 5, recurrent_dropout=1.0)
    with pytest.raises(ValueError, match="device"):
        nn.LayerNormLSTM(3, 5, device="cuda")
    m = nn.LayerNormLSTM(3, 5)
    with pytest.raises(ValueError, match="input: expected 3 features"):
        m(rnnfast.randn(4, 2, 4))
    with pytest.raises(TypeError, match=r"hx: expected a tuple \(h_0, c_0\)"):
        m(rnnfast.randn(4, 2, 3), rnnfast.randn(1, 2, 5))
    with pytest.raises(ValueError, match="h_0"):
        m(rnnfast.randn(4, 2, 3), (rnnfast.randn(1, 3, 5), rnnfast.randn(1, 2, 5)))
    with pytest.raises(ValueError, match="lengths"):
        m(rnnfast.randn(4, 2, 3), lengths=[5, 1])


def test_gru_module_parameters_and_state():
    m = nn.LayerNormGRU(3, 5, num_layers=2, bidirectional=True, bias=False)
    names = [n for n, _ in m.named_parameters()]
    assert names[:4] == ["weight_ih_l0", "weight_hh_l0", "gamma_x_l0", "gamma_h_l0"]
    assert len(names) == 16
    for n, p in m.named_parameters():
        if n.startswith("gamma"):
            assert p.shape == (15,) and (p.data == 1).all()
    x = rnnfast.randn(4, 2, 3)
    out, hn = m(x, lengths=[4, 2])
    assert out.shape == (4, 2, 10) and hn.shape == (4, 2, 5)
    again = nn.LayerNormGRU(3, 5, num_layers=2, bidirectional=True, bias=False)
    again.load_state_dict(m.state_dict())
    assert np.array_equal(again(x, lengths=[4, 2])[0].numpy(), out.numpy())
    one = nn.LayerNormGRU(3, 5)
    y, _, _, _ = F.forward("layernorm_gru", x.numpy(), one.weight_ih_l0.data,
                           one.weight_hh_l0.data, one.bias_ih_l0.data, one.bias_hh_l0.data,
                           gamma_x=one.gamma_x_l0.data, gamma_h=one.gamma_h_l0.data)
    assert np.array_equal(one(x)[0].numpy(), y)
    with pytest.raises(TypeError):
        nn.LayerNormGRU(3, 5, reset_after=False)
    with pytest.raises(ValueError, match="hx"):
        one(x, rnnfast.randn(2, 2, 5))
