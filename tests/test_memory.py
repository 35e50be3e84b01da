"""No memory growth: after a warm-up, thousands of training steps (forward and BPTT through the
C++ kernels, autograd graph, parameter update), direct kernel calls of changing sizes and
rejected calls leave the resident set size where it was.

The kernels keep per-thread work buffers that grow to the largest size a thread has needed
and are then reused, so the warm-up runs every size once before the first measurement.
Linux only (reads /proc/self/statm).
"""

import gc
import os
import time

import numpy as np
import pytest

import rnnfast
from rnnfast import functional as F, nn

from _problems import make_problem

STATM = "/proc/self/statm"
ITERATIONS = 10000
ALLOWED_GROWTH_MB = 2.0  # a leak of 200 bytes per iteration fails

pytestmark = pytest.mark.skipif(not os.path.exists(STATM), reason="needs /proc/self/statm")


def _rss_mb():
    with open(STATM) as f:
        resident_pages = int(f.read().split()[1])
    return resident_pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def _measure(step, iterations):
    for i in range(200):  # warm-up: every buffer at its largest size, allocator pools filled
        step(i)
    gc.collect()
    before = _rss_mb()
    t0 = time.perf_counter()
    for i in range(iterations):
        step(i)
    gc.collect()
    return _rss_mb() - before, time.perf_counter() - t0


def test_training_steps_do_not_grow_memory():
    rnnfast.manual_seed(0)
    lstm = nn.LSTM(8, 16, batch_first=True, recurrent_dropout=0.1, bidirectional=True)
    head = nn.Linear(16, 3)
    params = list(lstm.parameters()) + list(head.parameters())
    loss_fn = nn.CrossEntropyLoss()
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4, 12, 8)).astype(np.float32)
    labels = rng.integers(0, 3, size=4)
    lengths = np.array([12, 5, 9, 1])

    def step(i):
        for p in params:
            p.grad = None
        _, (h, _) = lstm(x, lengths=lengths)
        loss = loss_fn(head(h[-1]), labels)
        loss.backward()
        for p in params:
            p.data -= 0.01 * p.grad

    growth, seconds = _measure(step, ITERATIONS)
    assert growth < ALLOWED_GROWTH_MB, (
        f"resident memory grew by {growth:.2f} MB over {ITERATIONS} training steps "
        f"({seconds:.1f} s)")


def test_kernel_calls_and_errors_do_not_grow_memory():
    """Direct forward/backward calls cycling through cells, dtypes and sizes (so work buffers
    are resized and reused), interleaved with calls the binding and the C++ API reject."""
    problems = []
    for k, (mode, proj) in enumerate([("lstm", 0), ("gru", 0), ("rnn_tanh", 0), ("lstm", 3)]):
        for T, B in ((3, 2), (9, 5)):
            dt = np.float32 if k % 2 == 0 else np.float64
            p = make_problem(mode, T, B, 6, 7, proj=proj, dtype=dt, seed=k)
            p["lengths"] = np.full(B, T, np.int64)
            problems.append((mode, p))
    bad_x = np.zeros((3, 2, 6), np.float32)

    def step(i):
        mode, p = problems[i % len(problems)]
        w = dict(w_ih=p["w_ih"], w_hh=p["w_hh"], b_ih=p["b_ih"], b_hh=p["b_hh"], w_hr=p["w_hr"])
        y, _, _, res = F.forward(mode, p["x"], **w, h0=p["h0"], c0=p["c0"],
                                     lengths=p["lengths"])
        F.backward(mode, res, p["x"], **w, y=y, lengths=p["lengths"], dy=y)
        try:  # rejected by the binding (shape) or by the C++ API (lengths)
            if i % 2:
                F.forward(mode, bad_x[:, :, :5], **w)
            else:
                F.forward(mode, p["x"], **w, lengths=np.full(p["x"].shape[1], 99))
        except ValueError:
            pass

    growth, seconds = _measure(step, ITERATIONS)
    assert growth < ALLOWED_GROWTH_MB, (
        f"resident memory grew by {growth:.2f} MB over {ITERATIONS} kernel calls "
        f"({seconds:.1f} s)")


def _minor_faults():
    import resource
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


def test_large_outputs_reuse_freed_buffers_without_page_faults():
    """Outputs of 1 MiB and more (reserve, y, dx, weight gradients) come from a cache of freed
    output buffers: once a step's arrays are gone, the next identical step touches no fresh
    page (each fresh 4 KiB page would be a page fault: ~3,000 here without the cache)."""
    from rnnfast import _core
    p = make_problem("lstm", 40, 32, 96, 128, dtype=np.float32, seed=3)
    w = dict(w_ih=p["w_ih"], w_hh=p["w_hh"], b_ih=p["b_ih"], b_hh=p["b_hh"])
    dy = np.ones((40, 32, 128), np.float32)

    def step():
        y, h_n, c_n, res = F.forward("lstm", p["x"], **w, training=True)
        g = F.backward("lstm", res, p["x"], **w, y=y, dy=dy)
        return y, g

    _core.empty_cache()
    assert _core.cached_bytes() == 0
    want_y, want_g = step()
    big = want_y.nbytes + want_g["dx"].nbytes
    del want_y, want_g
    gc.collect()
    assert _core.cached_bytes() >= big  # the freed outputs went to the cache
    step()
    gc.collect()
    f0 = _minor_faults()
    y, g = step()
    faults = _minor_faults() - f0
    assert faults < 200, f"{faults} page faults in a step whose outputs could all be reused"
    # Live outputs never share a buffer, and reused buffers hold the new results.
    y2, g2 = step()
    assert not np.shares_memory(y, y2) and not np.shares_memory(g["dx"], g2["dx"])
    np.testing.assert_array_equal(y, y2)
    np.testing.assert_array_equal(g["w_ih"], g2["w_ih"])
    del y, g, y2, g2
    gc.collect()
    _core.empty_cache()
    assert _core.cached_bytes() == 0


@pytest.mark.parametrize("mode,proj,per_unit_step", [
    ("lstm", None, 5), ("lstm", 7, 5), ("gru", None, 4), ("rnn_tanh", None, 0),
    ("rnn_relu", None, 0)])
def test_training_reserve_holds_only_what_y_does_not(mode, proj, per_unit_step):
    """The reserve keeps per step and unit only the gates and c_t (LSTM) or W_hn h (GRU):
    h_{t-1} is y one step back, read by backward from y. Besides, one step's worth of states:
    h0, c0 (LSTM) and the h_n that identifies the right y."""
    for T in (1, 6):
        B, H = 3, 11
        H_out = proj or H
        p = make_problem(mode, T, B, 5, H, proj=proj, dtype=np.float32, seed=T)
        w = dict(w_ih=p["w_ih"], w_hh=p["w_hh"], b_ih=p["b_ih"], b_hh=p["b_hh"], w_hr=p["w_hr"])
        y, h_n, c_n, res = F.forward(mode, p["x"], **w, h0=p["h0"], c0=p["c0"])
        states = 2 * B * H_out + (B * H if mode == "lstm" else 0)
        assert res.size == T * B * H * per_unit_step + states
        g = F.backward(mode, res, p["x"], **w, y=y, dy=np.ones_like(y))
        assert np.isfinite(g["w_hh"]).all()
