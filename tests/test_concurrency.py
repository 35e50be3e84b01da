"""Threads and reproducibility.

- Thread safety: the kernels release the GIL and keep their work buffers per OS thread, so
  four Python threads calling forward and backward at once (each call itself running an
  OpenMP team of 2) get results bitwise equal to the same calls made one after another.
- Determinism: results are bitwise independent of the thread count (every output element is
  computed by one thread with one summation order), so training steps of nn.LSTM / GRU / RNN,
  bidirectional and with lengths, under rnnfast.use_deterministic(True), are bitwise equal
  with 1 and 2 threads.
- Reproducibility: the same seed gives bitwise the same training run, dropout masks included.
"""

import threading

import numpy as np
import pytest

import rnnfast
from rnnfast import functional as F, nn

from _problems import make_cotangents, make_problem

N_THREADS = 4
CALLS_PER_THREAD = 60


@pytest.fixture
def threads():
    """Sets the kernel thread count for a test and restores it (and the deterministic flag)."""
    old, old_det = rnnfast.get_num_threads(), rnnfast.is_deterministic()

    def set_to(n):
        rnnfast.set_num_threads(n)

    yield set_to
    rnnfast.set_num_threads(old)
    rnnfast.use_deterministic(old_det)


# Problems of every kind and path: tiny (no team), T <= 2 (direct products), big enough for a
# team of threads per step, projections, lengths, recurrent-dropout masks, both directions.
PROBLEMS = [
    ("lstm", 0, 9, 3, 5, 7, np.float32, False),
    ("lstm", 5, 6, 4, 6, 11, np.float64, True),
    ("gru", 0, 2, 5, 3, 9, np.float32, True),
    ("rnn_tanh", 0, 7, 2, 4, 6, np.float64, False),
    ("rnn_relu", 0, 5, 3, 3, 5, np.float32, True),
    ("lstm", 0, 6, 32, 16, 64, np.float32, False),
    ("gru", 0, 5, 24, 8, 80, np.float32, True),
    ("lstm", 24, 4, 20, 12, 48, np.float64, True),
]


def _case(i):
    mode, proj, T, B, I, H, dtype, reverse = PROBLEMS[i]
    rng = np.random.default_rng(100 + i)
    lengths = rng.integers(1, T + 1, size=B)
    lengths[0] = T
    p = make_problem(mode, T, B, I, H, proj=proj, dtype=dtype, seed=i, lengths=lengths)
    H_out = proj or H
    mask = ((rng.random((B, H_out)) >= 0.25) / 0.75).astype(dtype) if i % 2 else None
    cot = make_cotangents(mode, T, B, H, proj=proj, dtype=dtype, seed=50 + i)
    return mode, reverse, p, mask, cot


CASES = [_case(i) for i in range(len(PROBLEMS))]


def _call(i):
    """One forward + backward of problem i; every output, flattened into a list."""
    mode, reverse, p, mask, (dy, dh_n, dc_n) = CASES[i]
    w = dict(w_ih=p["w_ih"], w_hh=p["w_hh"], b_ih=p["b_ih"], b_hh=p["b_hh"], w_hr=p["w_hr"])
    y, h_n, c_n, res = F.forward(mode, p["x"], **w, h0=p["h0"], c0=p["c0"], lengths=p["lengths"],
                                 reverse=reverse, h_mask=mask)
    g = F.backward(mode, res, p["x"], **w, y=y, lengths=p["lengths"], reverse=reverse, dy=dy,
                   dh_n=dh_n, dc_n=dc_n, h_mask=mask)
    return [a for a in (y, h_n, c_n, res, *g.values()) if a is not None]


def _run_threads(work):
    """Runs work(k) on N_THREADS Python threads started together; re-raises any error."""
    start = threading.Barrier(N_THREADS)
    errors, results = [], [None] * N_THREADS

    def body(k):
        try:
            start.wait()
            results[k] = work(k)
        except BaseException as e:  # noqa: BLE001 -- reported below
            errors.append(e)

    ts = [threading.Thread(target=body, args=(k,)) for k in range(N_THREADS)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    if errors:
        raise errors[0]
    return results


def _assert_bitwise(a, b, what):
    assert len(a) == len(b), what
    for k, (u, v) in enumerate(zip(a, b)):
        assert u.dtype == v.dtype and u.shape == v.shape, (what, k)
        assert np.array_equal(u, v, equal_nan=True), f"{what}: output {k} differs"


@pytest.mark.parametrize("kernel_threads", [1, 2])
def test_functional_calls_from_four_threads_match_sequential(threads, kernel_threads):
    threads(kernel_threads)
    want = [_call(i) for i in range(len(CASES))]
    # Each Python thread walks the problems in its own order, so different kinds, sizes and
    # dtypes run side by side and each thread's work buffers grow and shrink between calls.
    order = [[(k * 3 + 5 * j) % len(CASES) for j in range(CALLS_PER_THREAD)]
             for k in range(N_THREADS)]

    def work(k):
        return [(i, _call(i)) for i in order[k]]

    for per_thread in _run_threads(work):
        for i, got in per_thread:
            _assert_bitwise(got, want[i], f"problem {i}")


def _model(kind, seed, H=24, **kw):
    rnnfast.manual_seed(seed)
    cls = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": nn.RNN}[kind]
    return cls(6, H, num_layers=2, bidirectional=True, batch_first=True, **kw)


def _train(m, steps, seed=0, lengths=True, B=8, T=10):
    """A few SGD steps on a fixed random regression; returns every parameter after each step
    and every loss."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((B, T, 6)).astype(np.float32)
    features = (2 if m.bidirectional else 1) * (getattr(m, "proj_size", 0) or m.hidden_size)
    target = rng.standard_normal((B, T, features)).astype(np.float32)
    lens = rng.integers(1, T + 1, size=B) if lengths else None
    out = []
    for _ in range(steps):
        m.zero_grad()
        y, _ = m(x, lengths=lens)
        loss = ((y - target) ** 2).mean()
        loss.backward()
        for p in m.parameters():
            p.data -= 0.1 * p.grad
        out.append(np.array(loss.item()))
        out.extend(p.data.copy() for p in m.parameters())
    return out


def test_nn_training_from_four_threads_matches_sequential(threads):
    """Each thread trains its own copy of the same models (Python objects are not shared;
    the C++ library is): every loss and parameter equals the sequential run's. The models are
    made before the threads start: initialization draws from the one global generator."""
    threads(2)
    kinds = ["lstm", "gru", "rnn", "lstm"]
    want = [_train(_model(kind, 7), steps=4, seed=k) for k, kind in enumerate(kinds)]
    models = [_model(kind, 7) for kind in kinds]
    got = _run_threads(lambda k: _train(models[k], steps=4, seed=k))
    for k in range(N_THREADS):
        _assert_bitwise(got[k], want[k], f"thread {k} ({kinds[k]})")


def test_errors_in_one_thread_do_not_disturb_the_others(threads):
    threads(2)
    want = _call(5)

    def work(k):
        out = []
        for _ in range(20):
            if k % 2:
                with pytest.raises(ValueError):
                    F.forward("lstm", np.zeros((3, 2, 4)), np.zeros((16, 4)), np.zeros((16, 4)),
                              lengths=[1, 9])
            else:
                out.append(_call(5))
        return out

    for k, res in enumerate(_run_threads(work)):
        for got in res:
            _assert_bitwise(got, want, f"thread {k}")


# --------------------------------------------------------------------------- determinism

def test_use_deterministic_flag():
    old = rnnfast.is_deterministic()
    try:
        rnnfast.use_deterministic(True)
        assert rnnfast.is_deterministic() is True
        rnnfast.use_deterministic(False)
        assert rnnfast.is_deterministic() is False
        with pytest.raises(TypeError, match="mode: expected a bool, got int"):
            rnnfast.use_deterministic(1)
        assert "use_deterministic" in rnnfast.__all__ and "is_deterministic" in rnnfast.__all__
    finally:
        rnnfast.use_deterministic(old)


@pytest.mark.parametrize("kind, opts", [
    ("lstm", dict()),
    ("lstm", dict(proj_size=64)),
    ("gru", dict()),
    ("rnn", dict(nonlinearity="relu")),
], ids=["lstm", "lstm-proj", "gru", "rnn-relu"])
def test_deterministic_training_is_bitwise_equal_with_1_and_2_threads(threads, kind, opts):
    """Bidirectional two-layer layers with lengths, B=32 and H=128: each step's recurrent
    product (2*B*G*H*H_out >= 1e6 flops) is large enough that the time loop runs on a team of
    2 threads, as do the GEMMs around it."""
    rnnfast.use_deterministic(True)
    runs = []
    for n in (1, 2, 1):
        threads(n)
        runs.append(_train(_model(kind, 3, H=128, **opts), steps=3, seed=1, B=32, T=12))
    _assert_bitwise(runs[1], runs[0], "2 threads vs 1")
    _assert_bitwise(runs[2], runs[0], "1 thread again")


@pytest.mark.parametrize("split", ["units", "batch"])
def test_deterministic_with_forced_time_splits(threads, split, monkeypatch):
    """The same training with the time loop forced onto a team split by hidden units or by
    batch rows: bitwise equal to one thread."""
    rnnfast.use_deterministic(True)
    threads(1)
    want = _train(_model("gru", 5), steps=2, seed=2)
    monkeypatch.setenv("RNNFAST_TIME_PARALLEL", split)
    threads(2)
    _assert_bitwise(_train(_model("gru", 5), steps=2, seed=2), want, split)


def test_training_with_dropout_repeats_bit_for_bit_from_the_seed(threads):
    """Inter-layer, recurrent and input dropout masks all come from rnnfast.manual_seed's
    generator: two runs from the same seed are identical; another seed differs."""
    threads(2)

    def run(seed):
        rnnfast.manual_seed(seed)
        m = nn.LSTM(6, 24, num_layers=2, dropout=0.3, recurrent_dropout=0.25,
                    input_dropout=0.1, batch_first=True)
        head = nn.Linear(24, 3)
        rng = np.random.default_rng(0)
        x = rng.standard_normal((8, 9, 6)).astype(np.float32)
        labels = rng.integers(0, 3, size=8)
        lens = rng.integers(1, 10, size=8)
        loss_fn = nn.CrossEntropyLoss()
        out = []
        for _ in range(5):
            m.zero_grad()
            head.zero_grad()
            _, (h, _) = m(x, lengths=lens)
            loss = loss_fn(head(h[-1]), labels)
            loss.backward()
            for p in list(m.parameters()) + list(head.parameters()):
                p.data -= 0.2 * p.grad
            out.append(np.array(loss.item()))
            out.extend(p.data.copy() for p in m.parameters())
        return out

    a, b = run(11), run(11)
    _assert_bitwise(b, a, "same seed")
    c = run(12)
    assert not all(np.array_equal(u, v) for u, v in zip(a, c)), "the seed changed nothing"
