"""The scan cells "mingru" and "minlstm" (minGRU and minLSTM, Feng et al. 2024): the C++ kernels
(rnnfast.functional) against the float64 NumPy reference (itself held to finite differences
and a literal transcription in tests/test_reference_minrnn.py) for every option alone and
combined, in float32 and float64, on 1 and 2 threads; bitwise equality across thread counts;
a call per step (streaming) against one whole call; T = 4096 with gate products that underflow;
the modules nn.MinGRU and nn.MinLSTM against float64 finite differences of their loss; the
state_dict round trip; and bad inputs raising the right exception naming the argument.

The scan is split over the threads by units or by time (RNNFAST_SCAN=units|time forces one,
read once per process): test_under_forced_split runs this file again in a fresh process under
each, so every check here runs under both splits as well as under the split chosen by shape.
"""

import itertools
import os
import re
import subprocess
import sys

import numpy as np
import pytest

import rnnfast
from rnnfast import _core, functional as F, nn, reference as R

from _problems import TOL, assert_module_fd

MODES = ("mingru", "minlstm")
GATES = {"mingru": 2, "minlstm": 3}
OPTIONS = ("bias", "reverse", "lengths", "h0", "batch_first")
# The split this process runs under: "units", "time", or "" (chosen by shape: by time for at
# most 32 units in all over 512 steps or more, by units otherwise).
SPLIT = os.environ.get("RNNFAST_SCAN", "")


@pytest.fixture
def threads():
    """Sets the kernels' thread count for one test and restores it."""
    old = rnnfast.get_num_threads()
    yield rnnfast.set_num_threads
    rnnfast.set_num_threads(old)


def _problem(mode, opts, dtype, T=6, B=4, I=5, H=7, seed=0, scale=0.8):
    """(x [T,B,I], forward's keyword arguments, cotangents dy [T,B,H] and dh_n [B,H])."""
    rng = np.random.default_rng(seed)
    G = GATES[mode]

    def u(*shape):
        return rng.uniform(-scale, scale, shape).astype(dtype)
    x = rng.standard_normal((T, B, I)).astype(dtype)
    kw = dict(w_ih=u(G * H, I))
    if "bias" in opts:
        kw["b_ih"] = u(G * H)
    if "lengths" in opts:
        kw["lengths"] = np.clip(np.array([T, 2, T - 1, 1, 3][:B], np.int64), 1, T)
    if "reverse" in opts:
        kw["reverse"] = True
    if "h0" in opts:
        kw["h0"] = rng.standard_normal((B, H)).astype(dtype)
    cot = dict(dy=rng.standard_normal((T, B, H)).astype(dtype),
               dh_n=rng.standard_normal((B, H)).astype(dtype))
    return x, kw, cot


def _run(mode, x, kw, cot, batch_first=False):
    """Kernel forward + backward: (y, h_n, grads) in time-major order."""
    xk = np.ascontiguousarray(x.transpose(1, 0, 2)) if batch_first else x
    y, h_n, c_n, res = F.forward(mode, xk, **kw, batch_first=batch_first)
    assert c_n is None
    dy = np.ascontiguousarray(cot["dy"].transpose(1, 0, 2)) if batch_first else cot["dy"]
    bkw = {k: v for k, v in kw.items() if k != "h0"}  # the reserve holds h0
    g = F.backward(mode, res, xk, **bkw, y=y, dy=dy, dh_n=cot["dh_n"], batch_first=batch_first)
    if batch_first:
        y = y.transpose(1, 0, 2)
        g["dx"] = g["dx"].transpose(1, 0, 2)
    return y, h_n, g


def _reference(mode, x, kw, cot):
    f64 = {k: (v.astype(np.float64) if isinstance(v, np.ndarray) and v.dtype.kind == "f" else v)
           for k, v in kw.items()}
    y, h_n, _, cache = R.forward(mode, x.astype(np.float64), **f64)
    g = R.backward(cache, dy=cot["dy"].astype(np.float64), dh_n=cot["dh_n"].astype(np.float64))
    return y, h_n, g


def _assert_matches(got, want, dtype):
    y, h_n, g = got
    y_r, h_r, g_r = want
    tol = TOL[dtype]
    np.testing.assert_allclose(y, y_r, err_msg="y", **tol)
    np.testing.assert_allclose(h_n, h_r, err_msg="h_n", **tol)
    for k, w in g_r.items():
        if w is None:
            assert g[k] is None, k
            continue
        # gradients sum over steps: compared at their own scale
        scale = max(1.0, float(np.abs(w).max()))
        np.testing.assert_allclose(g[k], w, rtol=tol["rtol"], atol=tol["atol"] * scale,
                                   err_msg=k)


def _combos():
    return [opts for k in range(len(OPTIONS) + 1) for opts in itertools.combinations(OPTIONS, k)]


@pytest.mark.parametrize("nthreads", [1, 2])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("opts", _combos(), ids=lambda o: ",".join(o) or "plain")
@pytest.mark.parametrize("mode", MODES)
def test_kernels_match_the_reference(mode, opts, dtype, nthreads, threads):
    """Every option alone and with every other: lengths, reverse, batch_first, h0, bias."""
    threads(nthreads)
    x, kw, cot = _problem(mode, opts, dtype)
    got = _run(mode, x, kw, cot, batch_first="batch_first" in opts)
    _assert_matches(got, _reference(mode, x, kw, cot), dtype)


SIZES = [(1, 1, 1, 1), (1, 3, 2, 5), (5, 1, 3, 1), (9, 2, 1, 16), (13, 5, 7, 17), (70, 3, 4, 33),
         (130, 2, 3, 9)]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("T,B,I,H", SIZES)
@pytest.mark.parametrize("mode", MODES)
def test_odd_sizes(mode, T, B, I, H, dtype, threads):
    """T, B, I, H of 1, across a block of 16 units, and over many chunks of steps, with
    lengths and in reverse."""
    threads(2)
    opts = ("bias", "h0", "reverse") + (("lengths",) if B > 1 else ())
    x, kw, cot = _problem(mode, opts, dtype, T=T, B=B, I=I, H=H, seed=T + H)
    _assert_matches(_run(mode, x, kw, cot), _reference(mode, x, kw, cot), dtype)


@pytest.mark.parametrize("T,B,H", [(300, 3, 70), (2000, 2, 16)])
@pytest.mark.parametrize("mode", MODES)
def test_threads_bitwise(mode, T, B, H, threads):
    """1 and 2 threads give bitwise the same outputs and gradients, with a team (these sizes
    are above the kernels' threshold for one), under the split of this process: chosen by
    shape, by units for the first size and by time for the second."""
    x, kw, cot = _problem(mode, ("bias", "h0", "lengths", "reverse"), np.float32, T=T, B=B,
                          I=5, H=H, seed=4)
    runs = []
    for n in (1, 2):
        threads(n)
        runs.append(_run(mode, x, kw, cot))
    (y1, h1, g1), (y2, h2, g2) = runs
    assert np.array_equal(y1, y2) and np.array_equal(h1, h2)
    for k in ("dx", "dh0", "w_ih", "b_ih"):
        assert np.array_equal(g1[k], g2[k]), k


@pytest.mark.parametrize("nthreads", [1, 2])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("mode", MODES)
def test_a_call_per_step_is_the_whole_call(mode, dtype, nthreads, threads):
    """Streaming inference: the kernel with T = 1 and h0 the previous call's h_n, step after
    step, gives the whole call's outputs -- bitwise when the scan is split by units (each
    chain step by step in both), within 1e-6 (float32) / 1e-12 (float64) relative when it is
    split by time (the chunks' start states composed as A * h + B)."""
    threads(nthreads)
    x, kw, _ = _problem(mode, ("bias",), dtype, T=40, B=3, I=4, H=21, seed=6)
    y, h_n, _, _ = F.forward(mode, x, **kw, training=False)
    h, ys = None, []
    for t in range(x.shape[0]):
        yt, h, _, _ = F.forward(mode, x[t:t + 1], **kw, h0=h, training=False)
        ys.append(yt[0])
    steps = np.stack(ys)
    if SPLIT == "time":
        r = 1e-6 if dtype == np.float32 else 1e-12
        np.testing.assert_allclose(steps, y, rtol=r, atol=r)
        np.testing.assert_allclose(h, h_n, rtol=r, atol=r)
    else:
        assert np.array_equal(steps, y) and np.array_equal(h, h_n)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("mode", MODES)
def test_long_sequence_against_float64(mode, dtype, threads):
    """T = 4096 with units whose a_t is about 6e-6 (their product over a chunk of steps
    underflows to 0, even in float64), about 0.98 (a long memory) and in between, with
    lengths and in both directions: the float64 reference's outputs and gradients."""
    threads(2)
    T, B, I, H = 4096, 2, 3, 6  # the split by time, unless forced
    rng = np.random.default_rng(8)
    G = GATES[mode]
    w = (0.3 * rng.standard_normal((G * H, I))).astype(dtype)
    b = np.zeros(G * H)
    shift = np.array([12.0, 12.0, -4.0, -4.0, 0.0, 1.0])  # a small, small, near 1, ..
    if mode == "mingru":   # a = 1 - z
        b[:H] = shift
    else:                  # a = f / (f + i)
        b[:H], b[H:2 * H] = -shift, shift
    kw = dict(w_ih=w, b_ih=b.astype(dtype), h0=rng.standard_normal((B, H)).astype(dtype),
              lengths=np.array([T, 1500]))
    x = rng.standard_normal((T, B, I)).astype(dtype)
    cot = dict(dy=rng.standard_normal((T, B, H)).astype(dtype),
               dh_n=rng.standard_normal((B, H)).astype(dtype))
    for reverse in (False, True):
        k = dict(kw, reverse=reverse)
        got = _run(mode, x, k, cot)
        assert all(np.isfinite(a).all() for a in (got[0], got[1], got[2]["dx"]))
        _assert_matches(got, _reference(mode, x, k, cot), dtype)


@pytest.mark.parametrize("split", ["units", "time"])
def test_under_forced_split(split):
    """This file's other tests in a fresh process with RNNFAST_SCAN=split (read once per
    process, so it cannot change within this one)."""
    env = {**os.environ, "RNNFAST_SCAN": split}
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", __file__,
         "-k", "not test_under_forced_split"],
        env=env, capture_output=True, text=True, timeout=900, check=False,
        cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-6000:]
    m = re.search(r"(\d+) passed", out)
    assert m and int(m.group(1)) >= 300 and "failed" not in out, out[-3000:]


# ----------------------------------------------------------------------------- bad inputs

@pytest.mark.parametrize("mode", MODES)
def test_bad_inputs_name_the_argument(mode):
    x, kw, cot = _problem(mode, ("bias", "h0", "lengths"), np.float32)
    G, H = GATES[mode], 7
    extra = {"w_hh": np.zeros((G * H, H), np.float32), "b_hh": np.zeros(G * H, np.float32),
             "h_mask": np.ones((4, H), np.float32)}
    for name, arr in extra.items():
        with pytest.raises(ValueError, match=rf"^{name}: expected None for mode '{mode}'"):
            F.forward(mode, x, **{**kw, name: arr})
    with pytest.raises(ValueError, match=r"^c0: expected None"):
        F.forward(mode, x, **kw, c0=np.zeros((4, H), np.float32))
    with pytest.raises(ValueError, match=r"^w_ih: expected"):
        F.forward(mode, x, **{**kw, "w_ih": np.zeros((G * H + 1, 5), np.float32)})
    with pytest.raises(ValueError, match=r"^b_ih: expected shape"):
        F.forward(mode, x, **{**kw, "b_ih": np.zeros(G * H + 2, np.float32)})
    with pytest.raises(ValueError, match=r"^h0: expected shape \(4, 7\)"):
        F.forward(mode, x, **{**kw, "h0": np.zeros((4, 6), np.float32)})
    with pytest.raises(ValueError, match=r"^lengths: expected every length in \[1, T=6\]"):
        F.forward(mode, x, **{**kw, "lengths": np.array([1, 7, 2, 3])})
    with pytest.raises(TypeError, match=r"^x: expected numeric data"):
        F.forward(mode, np.full(x.shape, "a"), **kw)
    with pytest.raises(TypeError, match=r"^w_ih: expected a float32 or float64 array"):
        F.forward(mode, x, **{**kw, "w_ih": kw["w_ih"].astype(np.int32)})
    y, h_n, _, res = F.forward(mode, x, **kw)
    kw.pop("h0")  # backward's arguments
    with pytest.raises(ValueError, match=rf"^w_hh: expected None for mode '{mode}'"):
        F.backward(mode, res, x, **{**kw, "w_hh": extra["w_hh"]}, y=y)
    with pytest.raises(ValueError, match=rf"^h_mask: expected None for mode '{mode}'"):
        F.backward(mode, res, x, **{**kw, "h_mask": extra["h_mask"]}, y=y)
    with pytest.raises(ValueError, match=r"^dc_n: expected None"):
        F.backward(mode, res, x, **kw, y=y, dc_n=np.zeros((4, H), np.float32))
    bad_y = y.copy()
    bad_y[-1] += 1
    with pytest.raises(ValueError, match=r"^y: expected the output y of the forward"):
        F.backward(mode, res, x, **kw, y=bad_y)
    with pytest.raises(ValueError, match=r"^reserve: expected shape"):
        F.backward(mode, res[:-1], x, **kw, y=y)
    # the compiled module's own checks, below functional's: the C++ API's message
    cell = _core.Cell(8 if mode == "mingru" else 9)
    with pytest.raises(ValueError, match=rf"^w_hh: expected none \({mode}'s gates read x only"):
        _core.forward(cell, x, kw["w_ih"], extra["w_hh"], kw["b_ih"])
    with pytest.raises(ValueError, match=rf"^b_hh: expected none \({mode} has one bias"):
        _core.forward(cell, x, kw["w_ih"], None, kw["b_ih"], extra["b_hh"])
    with pytest.raises(ValueError, match=rf"^h_mask: expected none \({mode}'s gates read x"):
        _core.forward(cell, x, kw["w_ih"], None, kw["b_ih"], h_mask=extra["h_mask"])
    # and the cells with a recurrent product still require theirs
    with pytest.raises(ValueError, match=r"^w_hh: expected an array, got None"):
        F.forward("gru", x, np.zeros((21, 5), np.float32))
    with pytest.raises(ValueError, match=r"^w_hh: expected a \[G\*H, H_out\] weight"):
        _core.forward(_core.Cell.GRU, x, np.zeros((21, 5), np.float32), None)


# ----------------------------------------------------------------------------- modules

MODULES = {"mingru": nn.MinGRU, "minlstm": nn.MinLSTM}
MODULE_CASES = [dict(num_layers=2, bidirectional=True),
                dict(num_layers=2, bidirectional=True, batch_first=True, dropout=0.4),
                dict(num_layers=2, bias=False)]


@pytest.mark.parametrize("mode,kw", [(m, k) for m in MODES for k in MODULE_CASES],
                         ids=lambda v: v if isinstance(v, str) else ",".join(v))
def test_module_gradients_match_finite_differences(mode, kw):
    """A 2-layer module (bidirectional, batch_first, dropout between the layers, no bias):
    the gradients of a loss over output and h_n, with lengths, against float64 central
    differences of that loss."""
    m = MODULES[mode](3, 4, dtype=np.float64, **kw)
    rng = np.random.default_rng(2)
    T, B = 5, 3
    bf = kw.get("batch_first", False)
    D = 2 if kw.get("bidirectional") else 1
    L = kw["num_layers"]
    x = rng.standard_normal((B, T, 3) if bf else (T, B, 3))
    h0 = rng.standard_normal((L * D, B, 4))
    lengths = [5, 2, 4]
    w_out = rng.standard_normal((B, T, D * 4) if bf else (T, B, D * 4))
    w_h = rng.standard_normal((L * D, B, 4))

    def loss(xv, h0v):
        rnnfast.manual_seed(9)  # the same dropout masks at every call
        out, h_n = m(xv, h0v, lengths=lengths)
        return (out * rnnfast.tensor(w_out)).sum() + (h_n * rnnfast.tensor(w_h)).sum()

    xt, ht = rnnfast.tensor(x, requires_grad=True), rnnfast.tensor(h0, requires_grad=True)
    m.zero_grad()
    loss(xt, ht).backward()
    checks = [("input", x, xt.grad), ("h0", h0, ht.grad)]
    checks += [(name, p.data, p.grad) for name, p in m.named_parameters()]
    def fd_loss():
        with rnnfast.no_grad():
            return float(loss(rnnfast.tensor(x), rnnfast.tensor(h0)).item())

    assert_module_fd(checks, fd_loss)


@pytest.mark.parametrize("mode", MODES)
def test_module_parameters_and_state_dict(mode, tmp_path):
    cls = MODULES[mode]
    G = GATES[mode]
    m = cls(3, 5, num_layers=2, bidirectional=True)
    names = [n for n, _ in m.named_parameters()]
    assert names == [f"{w}_l{k}{s}" for k in range(2) for s in ("", "_reverse")
                     for w in ("weight_ih", "bias_ih")]
    bound = 1 / np.sqrt(5)
    for n, p in m.named_parameters():  # torch's RNN init, U(-1/sqrt(H), 1/sqrt(H))
        assert p.dtype == np.float32 and np.abs(p.data).max() <= bound, n
        assert p.shape[0] == G * 5
    assert m.weight_ih_l1.shape == (G * 5, 10)
    assert not hasattr(m, "weight_hh_l0") and "weight_hh_l0" not in m.state_dict()
    assert cls(3, 5, bias=False).state_dict().keys() == {"weight_ih_l0"}
    assert repr(cls(3, 5, 2, bidirectional=True)) == f"{cls.__name__}(3, 5, num_layers=2, " \
                                                     f"bidirectional=True)"
    x = rnnfast.randn(6, 2, 3)
    again = cls(3, 5, num_layers=2, bidirectional=True)
    assert not np.array_equal(again(x)[0].numpy(), m(x)[0].numpy())
    again.load_state_dict(m.state_dict())
    for a, b in zip(again(x), m(x)):
        assert np.array_equal(a.numpy(), b.numpy())
    rnnfast.save(m.state_dict(), tmp_path / "m.npz")
    third = cls(3, 5, num_layers=2, bidirectional=True)
    third.load_state_dict(rnnfast.load(tmp_path / "m.npz"))
    assert np.array_equal(third(x)[0].numpy(), m(x)[0].numpy())
    with pytest.raises(RuntimeError, match='Unexpected key.*"weight_hh_l0"'):  # as torch
        third.load_state_dict({**m.state_dict(), "weight_hh_l0": np.zeros((G * 5, 5))})


@pytest.mark.parametrize("mode", MODES)
def test_module_is_the_functional_call_and_streams(mode):
    """One layer is functional.forward with the module's weights; an unbatched input is the
    batch of one; two layers called one step at a time, each call from the last h_n, give the
    whole call's output (the scan split by units in this process, or within rounding)."""
    cls = MODULES[mode]
    m = cls(4, 6, dtype=np.float64)
    x = np.random.default_rng(3).standard_normal((7, 2, 4))
    out, h_n = m(x)
    y, h, _, _ = F.forward(mode, x, m.weight_ih_l0.data, None, m.bias_ih_l0.data,
                           training=False)
    np.testing.assert_array_equal(out.numpy(), y)
    np.testing.assert_array_equal(h_n.numpy()[0], h)
    o1, h1 = m(x[:, 0])
    np.testing.assert_array_equal(o1.numpy(), out.numpy()[:, 0])
    np.testing.assert_array_equal(h1.numpy(), h_n.numpy()[:, 0])
    m2 = cls(4, 6, num_layers=2, dtype=np.float64)
    with rnnfast.no_grad():
        whole, hn = m2(x)
        state, outs = None, []
        for t in range(7):
            o, state = m2(x[t:t + 1], state)
            outs.append(o.numpy()[0])
    if SPLIT == "time":
        np.testing.assert_allclose(np.stack(outs), whole.numpy(), rtol=1e-12, atol=1e-12)
    else:
        assert np.array_equal(np.stack(outs), whole.numpy())
        assert np.array_equal(state.numpy(), hn.numpy())


@pytest.mark.parametrize("mode", MODES)
def test_module_bad_arguments_name_them(mode):
    cls = MODULES[mode]
    with pytest.raises(ValueError, match="hidden_size"):
        cls(3, 0)
    with pytest.raises(ValueError, match="num_layers"):
        cls(3, 4, num_layers=0)
    with pytest.raises(ValueError, match="dropout"):
        cls(3, 4, 2, dropout=1.5)
    with pytest.raises(ValueError, match="device"):
        cls(3, 4, device="cuda")
    with pytest.raises(TypeError, match="recurrent_dropout"):
        cls(3, 4, recurrent_dropout=0.2)
    with pytest.raises(TypeError, match="dtype"):
        cls(3, 4, dtype=np.int32)
    m = cls(3, 4, 2)
    with pytest.raises(ValueError, match=r"input: expected 3 features \(input_size\), got 5"):
        m(np.zeros((6, 2, 5)))
    with pytest.raises(ValueError, match=r"hx: expected shape \(2, 2, 4\), got \(1, 2, 4\)"):
        m(np.zeros((6, 2, 3)), np.zeros((1, 2, 4)))
    with pytest.raises(ValueError, match=r"lengths: expected every length in \[1, 6\], got 9"):
        m(np.zeros((6, 2, 3)), lengths=[9, 2])
    with pytest.raises(TypeError, match="input: expected numeric data"):
        m(np.full((6, 2, 3), "a"))
    with pytest.raises(ValueError, match="recurrent_dropout"):
        nn.rnn.RNNBase(mode, 3, 4, recurrent_dropout=0.3)
