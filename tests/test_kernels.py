"""The C++ kernels (through rnnfast.functional) against the NumPy reference.

Every cell kind, float32 and float64, forward outputs, final states and every gradient, across
T in {1, 2, 17}, B in {1, 3, 8}, sizes that are not multiples of the SIMD width, with and
without bias, h0, lengths, projection, in both directions, with 1 and 2 threads.
"""

import threading
import time

import numpy as np
import pytest

import rnnfast
from rnnfast import functional as F, reference as R

from _problems import GRAD_KEYS, assert_close, make_cotangents, make_problem

CELLS = [("rnn_tanh", 0), ("rnn_relu", 0), ("lstm", 0), ("lstm", 7), ("gru", 0)]
CELL_IDS = ["rnn_tanh", "rnn_relu", "lstm", "lstm_proj", "gru"]


def _lengths(T, B, seed):
    """Unsorted lengths in [1, T] that include T (so y keeps its length) and, if possible, 1."""
    rng = np.random.default_rng(seed)
    lens = rng.integers(1, T + 1, size=B)
    lens[rng.integers(0, B)] = T
    if B > 1 and T > 1:
        lens[(np.argmax(lens) + 1) % B] = 1
    return lens.astype(np.int64)


def _weights(p):
    return dict(w_ih=p["w_ih"], w_hh=p["w_hh"], b_ih=p["b_ih"], b_hh=p["b_hh"], w_hr=p["w_hr"])


def _mask(B, H_out, p, dtype, seed):
    """An inverted-dropout mask: 0 with probability p, else 1/(1-p)."""
    rng = np.random.default_rng(seed)
    return ((rng.random((B, H_out)) >= p) / (1 - p)).astype(dtype)


def check_against_reference(mode, proj, T, B, I, H, dtype, reverse, bias=True, with_h0=True,
                            lengths=None, seed=0, h_mask=None):
    p = make_problem(mode, T, B, I, H, proj=proj, bias=bias, dtype=dtype, seed=seed,
                     with_h0=with_h0, lengths=lengths)
    dy, dh_n, dc_n = make_cotangents(mode, T, B, H, proj=proj, dtype=dtype, seed=seed + 1)
    w = _weights(p)
    kw = dict(h0=p["h0"], c0=p["c0"], lengths=p["lengths"], reverse=reverse, h_mask=h_mask)

    y, h_n, c_n, res = F.forward(mode, p["x"], **w, **kw)
    # the oracle runs in float64 on the same (rounded) inputs
    w64 = {k: None if v is None else v.astype(np.float64) for k, v in w.items()}
    kw64 = dict(kw, h0=None if p["h0"] is None else p["h0"].astype(np.float64),
                c0=None if p["c0"] is None else p["c0"].astype(np.float64),
                h_mask=None if h_mask is None else h_mask.astype(np.float64))
    y_r, h_r, c_r, cache = R.forward(mode, p["x"].astype(np.float64), **w64, **kw64)

    assert y.dtype == dtype and h_n.dtype == dtype
    assert_close(y, y_r, dtype, "y")
    assert_close(h_n, h_r, dtype, "h_n")
    if mode == "lstm":
        assert c_n.dtype == dtype
        assert_close(c_n, c_r, dtype, "c_n")
    else:
        assert c_n is None

    # inference mode: same outputs, nothing saved
    y_i, h_i, c_i, res_i = F.forward(mode, p["x"], **w, **kw, training=False)
    assert res_i is None
    np.testing.assert_array_equal(y_i, y)
    np.testing.assert_array_equal(h_i, h_n)

    g = F.backward(mode, res, p["x"], **w, y=y, lengths=p["lengths"], reverse=reverse, dy=dy,
                   dh_n=dh_n, dc_n=dc_n, h_mask=h_mask)
    g_r = R.backward(cache, dy=dy.astype(np.float64), dh_n=dh_n.astype(np.float64),
                     dc_n=None if dc_n is None else dc_n.astype(np.float64))
    for k in GRAD_KEYS:
        if g_r[k] is None:
            assert g[k] is None, f"{k}: expected None"
            continue
        assert g[k].dtype == dtype, k
        assert_close(g[k], g_r[k], dtype, k)


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("reverse", [False, True], ids=["fwd", "rev"])
@pytest.mark.parametrize("B", [1, 3, 8])
@pytest.mark.parametrize("T", [1, 2, 17])
@pytest.mark.parametrize("cell", CELLS, ids=CELL_IDS)
@pytest.mark.parametrize("variant", ["full", "lengths", "bare"])
def test_matches_reference(variant, cell, T, B, reverse, dtype):
    mode, proj = cell
    # full: bias + h0; lengths: bias, no h0, unsorted lengths; bare: no bias, h0, lengths
    bias = variant != "bare"
    with_h0 = variant != "lengths"
    lengths = None if variant == "full" else _lengths(T, B, seed=T * 10 + B)
    check_against_reference(mode, proj, T, B, I=5, H=19, dtype=dtype, reverse=reverse,
                            bias=bias, with_h0=with_h0, lengths=lengths, seed=T + B)


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("reverse", [False, True], ids=["fwd", "rev"])
@pytest.mark.parametrize("cell", CELLS, ids=CELL_IDS)
def test_recurrent_dropout_mask_matches_reference(cell, reverse, dtype):
    """W_hh sees h_{t-1} * h_mask at every step, in forward and in every gradient."""
    mode, proj = cell
    T, B, H = 6, 5, 19
    h_mask = _mask(B, proj or H, 0.3, dtype, seed=11)
    check_against_reference(mode, proj, T, B, I=5, H=H, dtype=dtype, reverse=reverse,
                            lengths=_lengths(T, B, seed=2), seed=3, h_mask=h_mask)


@pytest.mark.parametrize("cell", CELLS, ids=CELL_IDS)
def test_recurrent_dropout_same_mask_every_step(cell):
    """With a mask that is 1 everywhere the layer is the plain layer; zeroing a unit's mask
    entry cuts exactly that unit out of the recurrent product at every step."""
    mode, proj = cell
    T, B, I, H = 5, 3, 4, 6
    H_out = proj and 4 or H
    p = make_problem(mode, T, B, I, H, proj=proj and 4, dtype=np.float64, seed=8)
    w = _weights(p)
    plain = F.forward(mode, p["x"], **w, h0=p["h0"], c0=p["c0"])[0]
    ones = F.forward(mode, p["x"], **w, h0=p["h0"], c0=p["c0"],
                     h_mask=np.ones((B, H_out)))[0]
    np.testing.assert_array_equal(plain, ones)
    mask = np.ones((B, H_out))
    mask[:, 1] = 0.0
    w_cut = dict(w, w_hh=w["w_hh"].copy())
    w_cut["w_hh"][:, 1] = 0.0  # the same as never feeding unit 1 back through W_hh
    masked = F.forward(mode, p["x"], **w, h0=p["h0"], c0=p["c0"], h_mask=mask)[0]
    cut = F.forward(mode, p["x"], **w_cut, h0=p["h0"], c0=p["c0"])[0]
    np.testing.assert_allclose(masked, cut, rtol=1e-13, atol=1e-13)


@pytest.mark.parametrize("cell", CELLS, ids=CELL_IDS)
def test_kernel_gradients_by_finite_differences(cell):
    """The float64 C++ kernels themselves (not only via the reference) against central finite
    differences, with recurrent dropout and lengths."""
    from _problems import FD_EPS, FD_TOL

    mode, proj = cell
    T, B, I, H = 4, 3, 3, 5
    proj = proj and 3
    p = make_problem(mode, T, B, I, H, proj=proj, dtype=np.float64, seed=9, lengths=[4, 2, 3])
    dy, dh_n, dc_n = make_cotangents(mode, T, B, H, proj=proj, seed=10)
    h_mask = _mask(B, proj or H, 0.4, np.float64, seed=12)
    names = ["x", "w_ih", "w_hh", "b_ih", "b_hh", "h0"] + (["c0"] if mode == "lstm" else []) + (
        ["w_hr"] if proj else [])

    def loss(q):
        y, h_n, c_n, _ = F.forward(mode, q["x"], q["w_ih"], q["w_hh"], q["b_ih"], q["b_hh"],
                                   w_hr=q["w_hr"], h0=q["h0"], c0=q["c0"], lengths=q["lengths"],
                                   h_mask=h_mask, training=False)
        total = np.sum(y * dy) + np.sum(h_n * dh_n)
        return total + (np.sum(c_n * dc_n) if c_n is not None else 0.0)

    y, _, _, res = F.forward(mode, p["x"], **_weights(p), h0=p["h0"], c0=p["c0"],
                             lengths=p["lengths"], h_mask=h_mask)
    g = F.backward(mode, res, p["x"], **_weights(p), y=y, lengths=p["lengths"], dy=dy,
                   dh_n=dh_n, dc_n=dc_n, h_mask=h_mask)
    key = {"x": "dx", "h0": "dh0", "c0": "dc0"}
    for name in names:
        num = np.zeros_like(p[name])
        for idx in np.ndindex(p[name].shape):
            q = {k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in p.items()}
            q[name][idx] += FD_EPS
            up = loss(q)
            q[name][idx] -= 2 * FD_EPS
            num[idx] = (up - loss(q)) / (2 * FD_EPS)
        assert np.abs(num).max() > 0, name
        np.testing.assert_allclose(g[key.get(name, name)], num, **FD_TOL, err_msg=name)


@pytest.fixture(params=[1, 2], ids=["1thread", "2threads"])
def threads(request):
    old = rnnfast.get_num_threads()
    rnnfast.set_num_threads(request.param)
    yield request.param
    rnnfast.set_num_threads(old)


TILE_EDGE_CASES = [pytest.param(cell, H, id=f"{cid}-H{H}")
                   for cell, cid in zip(CELLS, CELL_IDS)
                   for H in [1, 5, 6, 7, 8, 15, 16, 17, 33]
                   if not (cell[1] and H == 1)]  # a projection needs 1 <= H_out < H


@pytest.mark.parametrize("cell, H", TILE_EDGE_CASES)
def test_tile_edges(cell, H, threads):
    """Hidden sizes around the micro-kernel tile (MR = 6 rows, NR = 16 / 8 columns)."""
    mode, proj = cell
    proj = min(proj, H - 1) if proj else 0
    for dtype in (np.float32, np.float64):
        check_against_reference(mode, proj, T=3, B=7, I=13, H=H, dtype=dtype, reverse=H % 2 == 1,
                                lengths=_lengths(3, 7, seed=H), seed=H)


@pytest.mark.parametrize("cell", CELLS, ids=CELL_IDS)
def test_large_threaded(cell, threads):
    """Sizes where the GEMMs and elementwise passes split across threads."""
    mode, proj = cell
    proj = 37 if proj else 0
    check_against_reference(mode, proj, T=6, B=37, I=70, H=100, dtype=np.float32, reverse=False,
                            lengths=_lengths(6, 37, seed=3), seed=5)
    check_against_reference(mode, proj, T=4, B=20, I=33, H=64, dtype=np.float64, reverse=True,
                            seed=6)


@pytest.mark.parametrize("cell", CELLS, ids=CELL_IDS)
def test_weight_gradients_over_several_blocks_and_passes(cell, threads):
    """The weight gradients dW += dG^T X pack blocks of the transposed dG (GEMM driver): T*B =
    640 steps of k (two depth passes of 512), G*H rows in several row blocks of 96 with a
    partial last tile, and I = 70 columns (two whole panels and a partial one)."""
    mode, proj = cell
    proj = 29 if proj else 0
    for dtype in (np.float32, np.float64):
        check_against_reference(mode, proj, T=40, B=16, I=70, H=64, dtype=dtype, reverse=False,
                                lengths=_lengths(40, 16, seed=8), seed=9)


def test_thread_count_does_not_change_results_much():
    p = make_problem("lstm", 10, 16, 40, 80, dtype=np.float64, seed=2)
    w = _weights(p)
    old = rnnfast.get_num_threads()
    try:
        outs = []
        for n in (1, 2):
            rnnfast.set_num_threads(n)
            outs.append(F.forward("lstm", p["x"], **w, h0=p["h0"], c0=p["c0"])[0])
    finally:
        rnnfast.set_num_threads(old)
    np.testing.assert_allclose(outs[0], outs[1], rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("mode, H", [("lstm", 256), ("gru", 256), ("rnn_tanh", 512), ("lstm", 40)])
def test_a_sequence_gives_bitwise_the_same_alone_or_in_a_batch(mode, H, threads):
    """Batch 1 takes the matrix kernels' one-row path (several weight panels per call), a batch
    of 9 a 9-row tile: each element is summed over k in the same order in both, so a
    sequence's outputs and its input gradient are bitwise equal alone and in the batch."""
    T, B, I = 5, 9, 24
    p = make_problem(mode, T, B, I, H, dtype=np.float32, seed=11)
    dy, dh_n, dc_n = make_cotangents(mode, T, B, H, dtype=np.float32, seed=12)
    w = _weights(p)
    for b in (0, 8):
        one = slice(b, b + 1)
        kw1 = dict(h0=p["h0"][one],
                   c0=None if p["c0"] is None else p["c0"][one])
        kwB = dict(h0=p["h0"], c0=p["c0"])
        y1, h1, _, r1 = F.forward(mode, p["x"][:, one], **w, **kw1, training=True)
        yB, hB, _, rB = F.forward(mode, p["x"], **w, **kwB, training=True)
        np.testing.assert_array_equal(y1[:, 0], yB[:, b])
        g1 = F.backward(mode, r1, p["x"][:, one], **w, y=y1, dy=dy[:, one], dh_n=dh_n[one],
                        dc_n=None if dc_n is None else dc_n[one])
        only_b = np.arange(B)[:, None] == b
        gB = F.backward(mode, rB, p["x"], **w, y=yB, dy=np.where(only_b[None], dy, 0),
                        dh_n=np.where(only_b, dh_n, 0),
                        dc_n=None if dc_n is None else np.where(only_b, dc_n, 0))
        np.testing.assert_array_equal(g1["dx"][:, 0], gB["dx"][:, b])


@pytest.mark.parametrize("mode", ["rnn_tanh", "rnn_relu", "lstm", "gru"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_saturating_activations_are_exact_at_the_limit(mode, dtype):
    """Inputs of +-1e30 give finite outputs; sigmoid and tanh reach 0, +-1 exactly."""
    T, B, I, H = 4, 3, 2, 5
    p = make_problem(mode, T, B, I, H, dtype=dtype, seed=4)
    x = np.where(p["x"] > 0, 1e30, -1e30).astype(dtype)
    w = _weights(p)
    w["w_ih"] = np.where(w["w_ih"] > 0, 1.0, -1.0).astype(dtype)
    y, h_n, c_n, res = F.forward(mode, x, **w)
    y_r, h_r, c_r, cache = R.forward(mode, x.astype(np.float64),
                                     **{k: None if v is None else v.astype(np.float64)
                                        for k, v in w.items()})
    if mode != "rnn_relu":
        assert np.isfinite(y).all() and np.isfinite(h_n).all()
        assert np.all(np.abs(y) <= 1)
    np.testing.assert_array_equal(np.isfinite(y), np.isfinite(y_r))
    finite = np.isfinite(y_r)
    np.testing.assert_allclose(y[finite], y_r[finite], rtol=1e-6, atol=1e-6)
    if mode == "lstm":
        assert np.isfinite(c_n).all()
    if mode in ("rnn_tanh", "gru"):
        # the first step is fully saturated: tanh(+-1e30 * ...) = +-1 exactly
        first = y[0]
        assert np.all((np.abs(first) == 1) | (np.abs(first) < 1))
    if mode != "rnn_relu":
        g = F.backward(mode, res, x, **w, y=y, dy=np.ones_like(y))
        for k in ("dx", "w_hh"):
            assert np.isfinite(g[k]).all(), k


def test_nan_input_propagates_without_crash():
    p = make_problem("gru", 3, 2, 4, 6, dtype=np.float32)
    p["x"][1, 0, 2] = np.nan
    y, h_n, _, _ = F.forward("gru", p["x"], **_weights(p), h0=p["h0"])
    assert np.isnan(y[1:, 0]).all() and np.isfinite(y[:, 1]).all()
    assert np.isfinite(y[0]).all()


def test_float64_input_to_float32_weights_is_cast():
    p = make_problem("lstm", 3, 2, 4, 6, dtype=np.float32)
    x64 = p["x"].astype(np.float64)
    y1 = F.forward("lstm", x64, **_weights(p))[0]
    y2 = F.forward("lstm", p["x"], **_weights(p))[0]
    assert y1.dtype == np.float32
    np.testing.assert_array_equal(y1, y2)


def test_gil_is_released_during_kernel_work():
    """A Python thread keeps running while another thread is inside a long kernel call."""
    p = make_problem("lstm", 400, 16, 64, 128, dtype=np.float32, seed=7)
    w = _weights(p)
    old = rnnfast.get_num_threads()
    rnnfast.set_num_threads(1)  # leave a core to this thread, even on a loaded 2-core machine
    try:
        _check_gil_released(p, w)
    finally:
        rnnfast.set_num_threads(old)


def _check_gil_released(p, w):
    F.forward("lstm", p["x"][:2], **w, training=False)  # warm up
    t0 = time.perf_counter()
    F.forward("lstm", p["x"], **w, training=False)
    duration = time.perf_counter() - t0

    worker = threading.Thread(target=F.forward, args=("lstm", p["x"]),
                              kwargs=dict(w, training=False))
    ticks = []
    worker.start()
    while worker.is_alive():
        ticks.append(time.perf_counter())
        time.sleep(0.001)
    worker.join()
    gaps = np.diff(ticks) if len(ticks) > 1 else np.array([duration])
    # With the GIL held, this loop would stall for the whole kernel call.
    assert gaps.max() < 0.75 * duration, (gaps.max(), duration)
    assert len(ticks) > 5


ISAS = rnnfast._core.available_isas()


@pytest.fixture(params=ISAS)
def isa(request):
    old = rnnfast._core.isa()
    rnnfast._core.set_isa(request.param)
    yield request.param
    rnnfast._core.set_isa(old)


@pytest.mark.parametrize("split", ["units", "batch"])
@pytest.mark.parametrize("cell", CELLS, ids=CELL_IDS)
def test_every_isa_and_time_split(cell, split, isa, monkeypatch):
    """Every instruction set's GEMM and elementwise kernels, with the time loop split by hidden
    units (a barrier per step) and by batch rows, with lengths, recurrent dropout and both
    directions, against the reference; the portable path is the oracle of the SIMD ones."""
    monkeypatch.setenv("RNNFAST_TIME_PARALLEL", split)
    old = rnnfast.get_num_threads()
    rnnfast.set_num_threads(2)
    try:
        mode, proj = cell
        proj = 21 if proj else 0
        for dtype, reverse in ((np.float32, False), (np.float64, True)):
            h_mask = _mask(9, proj or 45, 0.25, dtype, seed=5)
            check_against_reference(mode, proj, T=7, B=9, I=11, H=45, dtype=dtype,
                                    reverse=reverse, lengths=_lengths(7, 9, seed=6), seed=7,
                                    h_mask=h_mask)
    finally:
        rnnfast.set_num_threads(old)


def test_set_isa_rejects_unknown():
    with pytest.raises(ValueError, match="isa: expected one of the available"):
        rnnfast._core.set_isa("sse9")
    assert rnnfast._core.isa() in ISAS
    assert ISAS[-1] == "portable"


@pytest.mark.parametrize("cell", CELLS, ids=CELL_IDS)
def test_simd_paths_agree_with_portable(cell):
    """Each SIMD path against the portable one on the same float32 problem."""
    mode, proj = cell
    p = make_problem(mode, 9, 13, 19, 37, proj=proj and 17, dtype=np.float32, seed=12,
                     lengths=_lengths(9, 13, seed=1))
    old = rnnfast._core.isa()
    outs = {}
    try:
        for name in ISAS:
            rnnfast._core.set_isa(name)
            y, h, c, res = F.forward(mode, p["x"], **_weights(p), h0=p["h0"], c0=p["c0"],
                                     lengths=p["lengths"])
            g = F.backward(mode, res, p["x"], **_weights(p), y=y, lengths=p["lengths"],
                           dy=np.ones_like(y))
            outs[name] = [y, h] + [g[k] for k in GRAD_KEYS if g[k] is not None]
    finally:
        rnnfast._core.set_isa(old)
    for name in ISAS[:-1]:
        for a, b in zip(outs[name], outs["portable"]):
            assert_close(a, b, np.float32, name)


def _bitwise_equal_runs(mode, p, h_mask, monkeypatch, env, settings, reverse=False):
    """Forward and backward of problem p under each (threads, value of the environment
    variable env) of settings; asserts outputs, reserves and gradients bitwise equal across
    them and returns each run's [y, h_n, reserve, gradients...]."""
    old = rnnfast.get_num_threads()
    runs = []
    try:
        for threads, value in settings:
            rnnfast.set_num_threads(threads)
            monkeypatch.setenv(env, value)
            y, h, c, res = F.forward(mode, p["x"], **_weights(p), h0=p["h0"], c0=p["c0"],
                                     lengths=p["lengths"], h_mask=h_mask, reverse=reverse)
            g = F.backward(mode, res, p["x"], **_weights(p), y=y, lengths=p["lengths"],
                           dy=np.ones_like(y), h_mask=h_mask, reverse=reverse)
            runs.append([y, h, res] + [g[k] for k in GRAD_KEYS if g[k] is not None])
    finally:
        rnnfast.set_num_threads(old)
    for other in runs[1:]:
        for a, b in zip(runs[0], other):
            np.testing.assert_array_equal(a, b)
    return runs


@pytest.mark.parametrize("T", [1, 2, 9])
@pytest.mark.parametrize("cell", CELLS, ids=CELL_IDS)
def test_results_are_bitwise_independent_of_threads_and_split(cell, T, monkeypatch):
    """Every output element is computed by one thread with one summation order, whatever the
    thread count or the time-loop split: results are bitwise identical."""
    mode, proj = cell
    p = make_problem(mode, T, 20, 24, 40, proj=proj and 24, dtype=np.float32, seed=3,
                     lengths=_lengths(T, 20, seed=4))
    h_mask = _mask(20, proj and 24 or 40, 0.2, np.float32, seed=5)
    _bitwise_equal_runs(mode, p, h_mask, monkeypatch, "RNNFAST_TIME_PARALLEL",
                        ((1, "auto"), (2, "units"), (2, "batch"), (2, "auto")))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("reverse", [False, True], ids=["fwd", "rev"])
@pytest.mark.parametrize("T, B, I, H", [(6, 9, 24, 40), (3, 20, 530, 33), (5, 1, 16, 64)])
@pytest.mark.parametrize("cell", CELLS, ids=CELL_IDS)
def test_fused_input_projection_matches_the_hoisted_one_bitwise(cell, T, B, I, H, reverse, dtype,
                                                                 monkeypatch):
    """Each cell may compute each step's input projection inside the time loop (fused into the
    step's product; the GRU's n gate keeps its recurrent part apart), or each thread its own
    columns of all steps' projections before the loop ("team"), instead of in one GEMM before
    it. All are the same sum in the same order (I = 530: two passes over the input depth), so
    outputs, saved states and gradients are bitwise equal, with biases, recurrent dropout and
    variable lengths; and the fused result matches the NumPy reference."""
    mode, proj = cell
    # reversed with lengths, fusing is not allowed: "1" computes the hoisted projection there
    lengths = _lengths(T, B, seed=4)
    p = make_problem(mode, T, B, I, H, proj=proj and 5, dtype=dtype, seed=13, lengths=lengths)
    h_mask = _mask(B, proj and 5 or H, 0.2, dtype, seed=5)
    runs = _bitwise_equal_runs(mode, p, h_mask, monkeypatch, "RNNFAST_FUSED_INPUT",
                               ((1, "0"), (1, "1"), (1, "team"), (2, "0"), (2, "team"),
                                (2, "1")), reverse=reverse)
    y_ref = R.forward(mode, p["x"], **_weights(p), h0=p["h0"], c0=p["c0"],
                      lengths=p["lengths"], h_mask=h_mask, reverse=reverse)[0]
    assert_close(runs[-1][0], y_ref, dtype, "y (fused)")


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("cell", CELLS, ids=CELL_IDS)
def test_pair_equals_two_calls(cell, threads):
    """forward_pair / backward_pair (both directions at once, one thread each) give bitwise
    the results of the two calls made one after the other."""
    mode, proj = cell
    p = make_problem(mode, 6, 24, 8, 48, proj=proj and 20, dtype=np.float32, seed=2,
                     lengths=_lengths(6, 24, seed=8))
    w = _weights(p)
    h_mask = _mask(24, proj and 20 or 48, 0.3, np.float32, seed=9)
    a = dict(x=p["x"], **w, h0=p["h0"], c0=p["c0"], lengths=p["lengths"])
    b = dict(a, reverse=True, h_mask=h_mask)
    old = rnnfast.get_num_threads()
    rnnfast.set_num_threads(threads)
    try:
        ra, rb = F.forward_pair(mode, a, b)
        sa, sb = F.forward(mode, **a), F.forward(mode, **b)
        for u, v in zip(ra + rb, sa + sb):
            if v is None:
                assert u is None
            else:
                np.testing.assert_array_equal(u, v)
        dy = np.ones_like(ra[0])
        common = dict(x=p["x"], **w, lengths=p["lengths"], dy=dy)
        ga, gb = F.backward_pair(mode, dict(common, reserve=ra[3], y=ra[0]),
                                 dict(common, reserve=rb[3], y=rb[0], reverse=True,
                                      h_mask=h_mask))
        ha = F.backward(mode, ra[3], **common, y=ra[0])
        hb = F.backward(mode, rb[3], **common, y=rb[0], reverse=True, h_mask=h_mask)
        for k in GRAD_KEYS:
            for u, v in ((ga[k], ha[k]), (gb[k], hb[k])):
                if v is None:
                    assert u is None
                else:
                    np.testing.assert_array_equal(u, v)
    finally:
        rnnfast.set_num_threads(old)


def test_pair_reports_errors_of_either_call():
    p = make_problem("gru", 4, 3, 5, 6, dtype=np.float32)
    a = dict(x=p["x"], w_ih=p["w_ih"], w_hh=p["w_hh"])
    with pytest.raises(ValueError, match=r"lengths: expected every length in \[1, T=4\]"):
        F.forward_pair("gru", a, dict(a, lengths=[4, 9, 1]))
    with pytest.raises(ValueError, match=r"h0: expected shape \(3, 6\)"):
        F.forward_pair("gru", dict(a, h0=np.zeros((2, 6))), a)
    ra, rb = F.forward_pair("gru", a, a)  # still works afterwards
    np.testing.assert_array_equal(ra[0], rb[0])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("M, K, N",
                         [(1, 7, 33), (3, 64, 5), (37, 19, 45), (200, 600, 70), (5, 0, 4)])
def test_matmul_against_numpy(M, K, N, dtype, threads):
    """rnnfast._core.matmul (the benchmark's GEMM yardstick, rnnfast::matmul in C++) against
    numpy in float64, for one-row, direct (M <= 4), tile-edge, multi-pass (K > 512) and K=0."""
    from rnnfast import _core
    rng = np.random.default_rng(M * 1000 + K + N)
    a = rng.standard_normal((M, K)).astype(dtype)
    b = rng.standard_normal((K, N)).astype(dtype)
    out = np.full((M, N), np.nan, dtype=dtype)
    _core.matmul(a, b, out)
    want = a.astype(np.float64) @ b.astype(np.float64)
    tol = 1e-4 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(out, want, rtol=tol, atol=tol * max(1.0, np.sqrt(K)))


def test_matmul_rejects_bad_arguments():
    from rnnfast import _core
    a, b = np.ones((3, 4), np.float32), np.ones((4, 5), np.float32)
    with pytest.raises(ValueError, match="shapes"):
        _core.matmul(a, np.ones((3, 5), np.float32), np.empty((3, 5), np.float32))
    with pytest.raises(ValueError, match="shapes"):
        _core.matmul(a, b, np.empty((3, 4), np.float32))
    with pytest.raises(TypeError, match="C-contiguous"):
        _core.matmul(a, b, np.empty((5, 3), np.float32).T)
    with pytest.raises(TypeError, match="one float dtype"):
        _core.matmul(a, b.astype(np.float64), np.empty((3, 5), np.float32))


@pytest.mark.parametrize("split", ["auto", "units", "batch"])
@pytest.mark.parametrize("fused", ["auto", "0", "1", "team"])
@pytest.mark.parametrize("T, B, I, H", [(9, 20, 24, 40), (2, 3, 5, 7), (17, 1, 8, 33)])
@pytest.mark.parametrize("cell", CELLS, ids=CELL_IDS)
def test_batch_first_reads_and_writes_in_place(cell, T, B, I, H, fused, split, threads,
                                               monkeypatch):
    """batch_first=True: x, y, dx, dy are [B,T,..]. The outputs, h_n, dx and dh0 are bitwise
    those of the time-major call on the transposed arrays (each row is the same computation);
    the parameter gradients, sums over all positions in another order, match the float64
    reference. With lengths, reversed, and a recurrent dropout mask; every input-projection
    place and time split."""
    monkeypatch.setenv("RNNFAST_FUSED_INPUT", fused)
    monkeypatch.setenv("RNNFAST_TIME_PARALLEL", split)
    mode, proj = cell
    proj = proj and min(proj, H - 1)
    Ho = proj or H
    for reverse, lengths in ((False, None), (True, _lengths(T, B, seed=6))):
        p = make_problem(mode, T, B, I, H, proj=proj, dtype=np.float32, seed=3, lengths=lengths)
        h_mask = _mask(B, Ho, 0.2, np.float32, seed=5)
        w = _weights(p)
        kw = dict(h0=p["h0"], c0=p["c0"], lengths=lengths, reverse=reverse, h_mask=h_mask)
        y, h_n, c_n, res = F.forward(mode, p["x"], **w, **kw)
        xb = np.ascontiguousarray(p["x"].transpose(1, 0, 2))
        yb, h_nb, c_nb, resb = F.forward(mode, xb, **w, **kw, batch_first=True)
        assert yb.shape == (B, T, Ho)
        np.testing.assert_array_equal(yb.transpose(1, 0, 2), y)
        np.testing.assert_array_equal(h_nb, h_n)
        dy, dh_n, dc_n = make_cotangents(mode, T, B, H, proj=proj, dtype=np.float32)
        bkw = dict(lengths=lengths, reverse=reverse, h_mask=h_mask, dh_n=dh_n, dc_n=dc_n)
        g = F.backward(mode, res, p["x"], **w, y=y, dy=dy, **bkw)
        gb = F.backward(mode, resb, xb, **w, y=yb, dy=np.ascontiguousarray(dy.transpose(1, 0, 2)),
                        batch_first=True, **bkw)
        assert gb["dx"].shape == (B, T, I)
        np.testing.assert_array_equal(gb["dx"].transpose(1, 0, 2), g["dx"])
        np.testing.assert_array_equal(gb["dh0"], g["dh0"])
        p64 = make_problem(mode, T, B, I, H, proj=proj, dtype=np.float64, seed=3, lengths=lengths)
        _, _, _, cache = R.forward(mode, **p64, reverse=reverse, h_mask=h_mask.astype(np.float64))
        want = R.backward(cache, dy=dy.astype(np.float64), dh_n=dh_n.astype(np.float64),
                          dc_n=None if dc_n is None else dc_n.astype(np.float64))
        for k in ("w_ih", "w_hh", "b_ih", "b_hh", "w_hr", "dc0"):
            if want[k] is not None:
                assert_close(gb[k], want[k], np.float32, k)


def test_batch_first_shapes_are_checked():
    p = make_problem("gru", 4, 3, 5, 6, dtype=np.float32)
    w = _weights(p)
    y, h_n, _, res = F.forward("gru", p["x"].transpose(1, 0, 2), **w, batch_first=True)
    with pytest.raises(ValueError, match=r"y: expected shape \(3, 4, 6\)"):
        F.backward("gru", res, p["x"].transpose(1, 0, 2), **w, y=y.transpose(1, 0, 2),
                   batch_first=True)
    with pytest.raises(ValueError, match=r"dy: expected shape \(3, 4, 6\)"):
        F.backward("gru", res, p["x"].transpose(1, 0, 2), **w, y=y, dy=np.zeros((4, 3, 6)),
                   batch_first=True)
    with pytest.raises(ValueError, match=r"x: expected a 3-D array \(B, T, I\)"):
        F.forward("gru", p["x"][0], **w, batch_first=True)
    with pytest.raises(ValueError, match=r"lengths: expected shape \(3,\)"):
        F.forward("gru", p["x"].transpose(1, 0, 2), **w, lengths=[1, 2, 3, 4], batch_first=True)
