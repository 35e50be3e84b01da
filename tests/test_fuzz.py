"""Property-based fuzzing (hypothesis) of the functional C++ entry points and the nn layers.

Random shapes, cells and options, then one corruption of the arguments (a wrong shape, dtype,
layout, value, length, a missing or swapped array). Every call must end in one of two ways:
  - a clean exception (ValueError, TypeError or IndexError) whose message starts with the name
    of an argument; or
  - a result equal to rnnfast.reference's on the same arguments (outputs, final states and
    every gradient; NaN and Inf in the same places).
If ours raises, the reference may still accept the arguments only where the kernels are
deliberately stricter (empty T, B or I). If ours returns, the reference must too.

Bounded for CI: derandomized, 200 examples per property, no deadline; set
RNNFAST_FUZZ_RANDOM=1 for fresh random examples and RNNFAST_FUZZ_EXAMPLES=N for more.
"""

import os
import re

import numpy as np
import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings, strategies as st  # noqa: E402

import rnnfast  # noqa: E402
from rnnfast import functional as F, nn, reference as R  # noqa: E402
from rnnfast._cells import EXTRA_ARGS, arg_name  # noqa: E402

from _problems import CELLS, grad_keys, make_problem, tol  # noqa: E402

EXAMPLES = int(os.environ.get("RNNFAST_FUZZ_EXAMPLES", "200"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, database=None,
                derandomize=os.environ.get("RNNFAST_FUZZ_RANDOM") != "1",
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                       HealthCheck.filter_too_much])

CLEAN = (ValueError, TypeError, IndexError)
ARG_NAMES = ("x", "w_ih", "w_hh", "b_ih, b_hh", "b_ih", "b_hh", "w_hr", "h0", "c0", "lengths",
             "h_mask", "dy", "dh_n", "dc_n", "reserve", "mode", "T", "B", "I", "H", "H_out",
             "dims", "input", "hx", "h_0", "c_0", "indices", "target", *EXTRA_ARGS)
NAMED = re.compile(r"^(" + "|".join(re.escape(n) for n in ARG_NAMES) + r")\b")
MODES = tuple(CELLS)  # every cell kind, the GRU and LSTM variants included
ARRAYS = ("x", "w_ih", "w_hh", "b_ih", "b_hh", "w_hr", "h0", "c0", "lengths", "h_mask",
          *EXTRA_ARGS)
COUNTS = {"results": 0, "errors": 0}
# NaN and Inf injected on purpose make NumPy (the reference) warn.
pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")


def _assert_clean(e):
    msg = str(e)
    assert NAMED.match(msg), f"{type(e).__name__} does not start with an argument name: {msg!r}"


def _same(a, b, dtype, name, subset=False, values=True, terms=1.0):
    """Equal up to the dtype's tolerance, with NaN and +-Inf in the same places.

    subset (gradients): ours may be finite where the reference is not, never the other way.
    The reference multiplies by zero where the kernels skip or select: it runs the padded
    steps of short sequences with a zero mask (0 * NaN = NaN) and applies relu' as a product,
    where the kernels (as torch's packed sequences and threshold_backward) never touch padded
    steps and select 0 for a unit whose output is <= 0.
    values=False: finite entries are not compared (an injected 1e20 makes float32 sums whose
    rounding error, relative to the summands, dwarfs the results' own scale). terms: the size
    of the summands where it exceeds the result's (the rtol scale is the larger)."""
    if b is None:
        assert a is None, f"{name}: expected None"
        return
    a = np.asarray(a, np.float64)
    b = np.asarray(b, np.float64)
    assert a.shape == b.shape, f"{name}: shape {a.shape} != {b.shape}"
    if subset:
        extra = ~np.isfinite(a) & np.isfinite(b)
        assert not extra.any(), f"{name}: non-finite where the reference is finite"
        b = np.where(np.isfinite(a) & ~np.isfinite(b), a, b)  # ours finite: not compared
        a = np.where(~np.isfinite(a), b, a)                    # both non-finite: either kind
    np.testing.assert_array_equal(np.isnan(a), np.isnan(b), err_msg=f"{name}: NaN positions")
    np.testing.assert_array_equal(np.isposinf(a), np.isposinf(b), err_msg=f"{name}: +Inf")
    np.testing.assert_array_equal(np.isneginf(a), np.isneginf(b), err_msg=f"{name}: -Inf")
    fin = np.isfinite(b)
    if values and fin.any():
        t = tol(dtype)
        scale = max(1.0, float(np.abs(b[fin]).max()), terms)
        err = float(np.abs(a[fin] - b[fin]).max())
        assert err <= t["atol"] + t["rtol"] * scale, (
            f"{name}: error {err:.3g}, scale {scale:.3g}")


# ------------------------------------------------------------------------ strategies

@st.composite
def problems(draw):
    mode = draw(st.sampled_from(MODES))
    T, B = draw(st.integers(1, 6)), draw(st.integers(1, 5))
    I, H = draw(st.integers(1, 7)), draw(st.integers(1, 9))
    proj = (draw(st.integers(1, H - 1)) if CELLS[mode].has_c and H > 1 and draw(st.booleans())
            else 0)
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    lengths = draw(st.none() | st.lists(st.integers(1, T), min_size=B, max_size=B))
    p = make_problem(mode, T, B, I, H, proj=proj, bias=draw(st.booleans()), dtype=dtype,
                     seed=draw(st.integers(0, 2**31)), with_h0=draw(st.booleans()),
                     lengths=lengths)
    scale = draw(st.sampled_from([0.1, 1.0, 3.0]))
    for k in ("w_ih", "w_hh", "w_hr"):
        if p[k] is not None:
            p[k] = (p[k] * scale).astype(dtype)
    if draw(st.booleans()) and CELLS[mode].recurrence != "scan":  # the scans take no h_mask
        rng = np.random.default_rng(draw(st.integers(0, 2**31)))
        p["h_mask"] = ((rng.random((B, proj or H)) >= 0.3) / 0.7).astype(dtype)
    else:
        p["h_mask"] = None
    return mode, p, draw(st.booleans())


def _layouts(a, kind):
    if kind == "fortran":
        return np.asfortranarray(a)
    if kind == "negative":
        return np.flip(np.flip(a).copy())
    if kind == "strided":
        big = np.zeros(a.shape + (2,), a.dtype)
        big[..., 0] = a
        return big[..., 0]
    ro = a.copy()
    ro.setflags(write=False)
    return ro


@st.composite
def corruptions(draw, p):
    """(description, function that corrupts a copy of the arguments)."""
    present = [k for k in ARRAYS if p.get(k) is not None]
    kind = draw(st.sampled_from(["none", "shape", "dtype", "layout", "value", "lengths",
                                 "missing", "swap", "mode"]))
    key = draw(st.sampled_from(present))
    if kind == "shape":
        how = draw(st.sampled_from(["drop", "add", "grow", "shrink"]))
        axis = draw(st.integers(0, 3))

        def f(a):
            a = np.asarray(a)
            if how == "drop":
                return a[..., 0] if a.ndim else a
            if how == "add":
                return a[..., None]
            ax = axis % max(a.ndim, 1)
            if a.ndim == 0:
                return a
            n = a.shape[ax] + (1 if how == "grow" else -1)
            idx = np.arange(n) % max(a.shape[ax], 1)
            return np.take(a, idx, axis=ax) if a.shape[ax] else np.zeros(
                a.shape[:ax] + (n,) + a.shape[ax + 1:], a.dtype)
        return f"{key}: shape {how} axis {axis}", key, f
    if kind == "dtype":
        dt = draw(st.sampled_from(["int32", "int64", "uint8", "bool", "float16", "complex64",
                                   "object", "str", "float32", "float64"]))
        return f"{key}: dtype {dt}", key, lambda a: np.asarray(a).astype(dt)
    if kind == "layout":
        lay = draw(st.sampled_from(["fortran", "negative", "strided", "readonly"]))
        return f"{key}: layout {lay}", key, lambda a: _layouts(np.asarray(a), lay)
    if kind == "value":
        if key == "lengths":
            key = "x"
        v = draw(st.sampled_from([np.nan, np.inf, -np.inf, 1e20, -1e20, 0.0]))
        pos = draw(st.integers(0, 10**6))

        def f(a):
            a = np.array(a)
            if a.size:
                a.flat[pos % a.size] = v
            return a
        return f"{key}: value {v}", key, f
    if kind == "lengths":
        v = draw(st.sampled_from(["zero", "over", "negative", "count", "float", "bool", "list",
                                  "int8", "2d"]))
        T, B = p["x"].shape[:2]
        make = {"zero": lambda _: np.zeros(B, np.int64),
                "over": lambda _: np.full(B, T + 1),
                "negative": lambda _: np.full(B, -1),
                "count": lambda _: np.ones(B + 1, np.int64),
                "float": lambda _: np.ones(B, np.float64),
                "bool": lambda _: np.ones(B, bool),
                "list": lambda _: [T] * B,
                "int8": lambda _: np.full(B, T, np.int8),
                "2d": lambda _: np.ones((1, B), np.int64)}[v]
        return f"lengths: {v}", "lengths", make
    if kind == "missing":
        key = draw(st.sampled_from(["x", "w_ih", "w_hh", "b_ih", "b_hh", "w_hr"]))
        return f"{key}: None", key, lambda a: None
    if kind == "swap":
        return "swap w_ih and w_hh", None, None
    if kind == "mode":
        return "mode: unknown", "mode", None
    return "none", None, None


def _call_both(mode, p, reverse, cot):
    """(ours, reference), each a dict of outputs or the exception raised."""
    args = {k: p[k] for k in ("w_ih", "w_hh", "b_ih", "b_hh")}
    kw = dict(w_hr=p["w_hr"], h0=p["h0"], c0=p["c0"], lengths=p["lengths"], reverse=reverse,
              h_mask=p["h_mask"], **{k: p.get(k) for k in EXTRA_ARGS})
    ours = ref = None
    try:
        y, h_n, c_n, res = F.forward(mode, p["x"], **args, **kw)
        dy, dh_n, dc_n = cot(y, h_n, c_n)
        g = F.backward(mode, res, p["x"], **args, y=y, w_hr=p["w_hr"], lengths=p["lengths"],
                       reverse=reverse, dy=dy, dh_n=dh_n, dc_n=dc_n, h_mask=p["h_mask"],
                       **{k: p.get(k) for k in EXTRA_ARGS})
        ours = dict(y=y, h_n=h_n, c_n=c_n, **g)
    except CLEAN as e:
        _assert_clean(e)
        ours = e
    try:
        y, h_n, c_n, cache = R.forward(mode, p["x"], **args, **kw)
        dy, dh_n, dc_n = cot(y, h_n, c_n)
        g = R.backward(cache, dy=dy, dh_n=dh_n, dc_n=dc_n)
        ref = dict(y=y, h_n=h_n, c_n=c_n, **g)
    except CLEAN as e:
        ref = e
    return ours, ref


def _cotangents(seed):
    def cot(y, h_n, c_n):
        rng = np.random.default_rng(seed)
        return (rng.standard_normal(y.shape).astype(y.dtype),
                rng.standard_normal(h_n.shape).astype(y.dtype),
                None if c_n is None else rng.standard_normal(c_n.shape).astype(y.dtype))
    return cot


def _check(mode, p, reverse, seed, what):
    ours, ref = _call_both(mode, p, reverse, _cotangents(seed))
    if isinstance(ours, Exception):
        COUNTS["errors"] += 1
        if not isinstance(ref, Exception):
            x = np.asarray(p["x"]) if p["x"] is not None else None
            empty = x is not None and (x.ndim != 3 or 0 in x.shape)
            assert empty, f"{what}: ours raised {ours!r} but the reference accepted the call"
        return
    COUNTS["results"] += 1
    assert not isinstance(ref, Exception), f"{what}: ours returned but the reference raised {ref!r}"
    dtype = ours["y"].dtype
    assert dtype == np.asarray(p["w_ih"]).dtype
    huge = "value 1e+20" in what or "value -1e+20" in what
    for k in ("y", "h_n", "c_n"):
        _same(ours[k], ref[k], dtype, f"{what}: {k}", subset=huge, values=not huge)
    # dW_ih sums dG^T x over the positions: its float32 rounding follows the size of x (a
    # corrupted x cast to uint8 reaches 255), not that of the result, which may cancel.
    x = np.asarray(p["x"], np.float64)
    x_size = float(np.abs(x[np.isfinite(x)]).max(initial=1.0))
    for k in grad_keys(mode):
        _same(ours[k], ref[k], dtype, f"{what}: {k}", subset=True, values=not huge,
              terms=x_size if k == "w_ih" else 1.0)


@FUZZ
@given(problems(), st.integers(0, 2**31))
def test_functional_matches_reference(prob, seed):
    mode, p, reverse = prob
    _check(mode, p, reverse, seed, "valid")


@FUZZ
@given(st.data())
def test_functional_corrupted_arguments(data):
    mode, p, reverse = data.draw(problems())
    what, key, f = data.draw(corruptions(p))
    p = dict(p)
    if what == "swap w_ih and w_hh":
        p["w_ih"], p["w_hh"] = p["w_hh"], p["w_ih"]
    elif what == "mode: unknown":
        mode = mode.upper()
    elif key is not None:
        p[key] = f(p[key])
    _check(mode, p, reverse, data.draw(st.integers(0, 2**31)), what)


# -------------------------------------------------------------------------- nn layers

def _stacked_reference(m, x, hx, lengths):
    """The layer's forward composed from rnnfast.reference, layer by layer and direction by
    direction (eval mode: no dropout). x is time-major [T,B,I]."""
    D = 2 if m.bidirectional else 1
    sd = m.state_dict()
    h0 = c0 = None
    if hx is not None:
        h0, c0 = hx if CELLS[m.mode].has_c else (hx, None)
    layer_in, h_n, c_n = x, [], []
    for layer in range(m.num_layers):
        outs = []
        for d in range(D):
            sfx = f"_l{layer}" + ("_reverse" if d else "")
            idx = layer * D + d
            y, h, c, _ = R.forward(
                m.mode, layer_in, sd["weight_ih" + sfx], sd.get("weight_hh" + sfx),
                sd.get("bias_ih" + sfx), sd.get("bias_hh" + sfx), w_hr=sd.get("weight_hr" + sfx),
                h0=None if h0 is None else h0[idx], c0=None if c0 is None else c0[idx],
                lengths=lengths, reverse=bool(d),
                **{arg_name(n): sd.get(n + sfx) for n, _ in CELLS[m.mode].extras})
            outs.append(y)
            h_n.append(h)
            c_n.append(c)
        layer_in = np.concatenate(outs, axis=2)
    return layer_in, np.stack(h_n), (np.stack(c_n) if CELLS[m.mode].has_c else None)


@st.composite
def layers(draw):
    kind = draw(st.sampled_from(MODES))
    I, H = draw(st.integers(1, 5)), draw(st.integers(1, 6))
    opts = dict(num_layers=draw(st.integers(1, 3)), bidirectional=draw(st.booleans()),
                batch_first=draw(st.booleans()), bias=draw(st.booleans()),
                dtype=draw(st.sampled_from([np.float32, np.float64])))
    if kind in ("lstm", "lstm_peephole") and H > 1 and draw(st.booleans()):
        opts["proj_size"] = draw(st.integers(1, H - 1))
    rnnfast.manual_seed(draw(st.integers(0, 2**31)))
    if kind.startswith("rnn"):
        m = nn.RNN(I, H, nonlinearity=kind[4:], **opts)
    elif kind == "gru_reset_before":
        m = nn.GRU(I, H, reset_after=False, **opts)
    elif kind.startswith("indrnn"):
        m = nn.IndRNN(I, H, nonlinearity=kind[7:], **opts)
    elif kind == "lstm_peephole":
        m = nn.LSTM(I, H, peephole=True, **opts)
        for name, w in m.named_parameters():  # zero at first: make the peepholes count
            if name.startswith("weight_p"):
                w.data[...] = rnnfast.rand(*w.shape).numpy() - 0.5
    elif kind.startswith("layernorm"):
        cls = nn.LayerNormLSTM if kind == "layernorm_lstm" else nn.LayerNormGRU
        m = cls(I, H, **opts)
        for name, w in m.named_parameters():  # ones and zeros at first: make them count
            if name.startswith(("gamma", "beta")):
                w.data[...] += rnnfast.rand(*w.shape).numpy() - 0.5
    else:
        m = {"lstm": nn.LSTM, "gru": nn.GRU, "mingru": nn.MinGRU,
             "minlstm": nn.MinLSTM}[kind](I, H, **opts)
    return m.eval()


@FUZZ
@given(layers(), st.data())
def test_nn_layers_match_stacked_reference_or_raise_cleanly(m, data):
    """Random layers and inputs, possibly corrupted: a clean error, or the stacked reference."""
    T, B = data.draw(st.integers(1, 5)), data.draw(st.integers(1, 4))
    L, D = m.num_layers, 2 if m.bidirectional else 1
    H, H_out = m.hidden_size, getattr(m, "proj_size", 0) or m.hidden_size
    rng = np.random.default_rng(data.draw(st.integers(0, 2**31)))
    x = rng.standard_normal((T, B, m.input_size))
    h0 = rng.standard_normal((L * D, B, H_out)) * 0.5
    c0 = rng.standard_normal((L * D, B, H)) * 0.5
    lengths = rng.integers(1, T + 1, size=B) if data.draw(st.booleans()) else None
    use_hx = data.draw(st.booleans())
    bad = data.draw(st.sampled_from(["none", "none", "features", "rank", "h_batch", "h_layers",
                                     "c_size", "lengths", "dtype", "empty"]))
    if bad == "features":
        x = rng.standard_normal((T, B, m.input_size + 1))
    elif bad == "rank":
        x = x[..., None]
    elif bad == "h_batch":
        h0, use_hx = h0[:, :0] if B == 1 else h0[:, 1:], True
    elif bad == "h_layers":
        h0, use_hx = np.concatenate([h0, h0]), True
    elif bad == "c_size":
        c0, use_hx = c0[..., :-1] if H > 1 else np.concatenate([c0, c0], -1), True
    elif bad == "lengths":
        lengths = np.full(B, T + 1)
    elif bad == "dtype":
        x = x.astype(np.complex128)
    elif bad == "empty":
        x = x[:0]
    hx = ((h0, c0) if CELLS[m.mode].has_c else h0) if use_hx else None
    xin = np.swapaxes(x, 0, 1) if m.batch_first and x.ndim == 3 else x
    try:
        out, st_ = m(xin, hx, lengths=lengths)
    except CLEAN as e:
        _assert_clean(e)
        COUNTS["errors"] += 1
        only_c = bad == "c_size" and not CELLS[m.mode].has_c  # GRU/RNN ignore c0: a valid call
        assert bad != "none" and not only_c, f"valid call rejected: {e!r}"
        return
    COUNTS["results"] += 1
    assert bad in ("none", "c_size") and (bad == "none" or not CELLS[m.mode].has_c), \
        f"corruption {bad!r} accepted"
    y_r, h_r, c_r = _stacked_reference(m, x, hx, lengths)
    h_o, c_o = st_ if CELLS[m.mode].has_c else (st_, None)
    y_o = out.numpy()
    if m.batch_first:
        y_o = np.swapaxes(y_o, 0, 1)
    dt = m.weight_ih_l0.dtype
    _same(y_o, y_r, dt, "output")
    _same(h_o.numpy(), h_r, dt, "h_n")
    if CELLS[m.mode].has_c:
        _same(c_o.numpy(), c_r, dt, "c_n")


@FUZZ
@given(st.integers(1, 6), st.integers(1, 4), st.data())
def test_embedding_and_cross_entropy_indices(V, C, data):
    """Random integer (or not) indices and labels of any dtype: a correct lookup / a finite
    loss, or IndexError / TypeError naming the argument."""
    dtype = data.draw(st.sampled_from(["int8", "int16", "int32", "int64", "uint8", "uint64",
                                       "float32", "bool"]))
    raw = data.draw(st.lists(st.integers(-3, V + 3), min_size=0, max_size=6))
    idx = np.array(raw, dtype=np.int64)
    with np.errstate(all="ignore"):
        typed = idx.astype(dtype)
    values = typed.tolist()
    integral = dtype not in ("float32", "bool")
    emb = nn.Embedding(V, 2)
    try:
        out = emb(typed).numpy()
    except CLEAN as e:
        _assert_clean(e)
        COUNTS["errors"] += 1
        assert not integral or any(not 0 <= v < V for v in values), f"rejected {typed!r}: {e}"
    else:
        COUNTS["results"] += 1
        assert integral and all(0 <= v < V for v in values), f"accepted {typed!r}"
        np.testing.assert_array_equal(out, emb.weight.numpy()[np.array(values, np.int64)])
    if not values:
        return
    logits = np.random.default_rng(0).standard_normal((len(values), C))
    try:
        loss = nn.CrossEntropyLoss()(logits, typed)
    except CLEAN as e:
        _assert_clean(e)
        assert not integral or any(not 0 <= v < C for v in values), f"rejected {typed!r}: {e}"
    else:
        assert integral and all(0 <= v < C for v in values), f"accepted {typed!r}"
        assert np.isfinite(loss.item())


def test_fuzz_counts_reported(capsys):
    """Prints how many cases the properties above tried (pytest -s shows it; docs quote it)."""
    with capsys.disabled():
        print(f"\n[fuzz] {COUNTS['results'] + COUNTS['errors']} cases: {COUNTS['results']} "
              f"results checked, {COUNTS['errors']} clean errors")
