"""Floating-point environment of the kernels (docs/NUMERICS.md, "Subnormal numbers").

The kernels run with flush-to-zero and denormals-are-zero on every thread of a call and restore
the caller's state afterwards. Checked here from Python: the caller's NumPy arithmetic still
produces and reads subnormals after every kind of kernel call (from the main thread and from
another Python thread), and a loss on the final state alone -- whose gradients decay through
the subnormal range over a long sequence -- still matches the float64 NumPy reference, with no
subnormal value in the kernels' float32 gradients. The worker threads' state is checked by the
C++ API test (tests/cpp/test_api.cc, test_denormals_flushed_and_state_restored).
"""

import threading

import numpy as np
import pytest

import rnnfast
from rnnfast import functional as F, reference as R

from _problems import assert_close, make_problem

TINY32 = np.finfo(np.float32).tiny  # smallest normal float32, 1.18e-38


@pytest.fixture(params=[1, 2], ids=["1thread", "2threads"])
def threads(request):
    old = rnnfast.get_num_threads()
    rnnfast.set_num_threads(request.param)
    yield request.param
    rnnfast.set_num_threads(old)


def caller_keeps_subnormals():
    """The calling thread's arithmetic neither flushes subnormal results (FTZ) nor reads
    subnormal inputs as zero (DAZ)."""
    a = np.full(16, 1e-30, np.float32)
    made = a * np.float32(1e-10)                   # 1e-40: subnormal, 0 under FTZ
    read = np.full(16, 1e-40, np.float32) * np.float32(4.0)  # 4e-40, or 0 under DAZ
    return bool(np.all(made > 0) and np.all(read > 0))


def every_kind_of_call():
    p = make_problem("lstm", 6, 3, 5, 20, dtype=np.float32, seed=3)
    y, h_n, c_n, reserve = F.forward("lstm", **p)
    F.backward("lstm", reserve, p["x"], p["w_ih"], p["w_hh"], p["b_ih"], p["b_hh"], y=y,
               dh_n=np.ones_like(h_n))
    a = dict(p)
    res = F.forward_pair("lstm", a, dict(a, reverse=True))
    calls = []
    for d, (yy, _, _, rr) in enumerate(res):
        calls.append(dict(reserve=rr, x=p["x"], y=yy, w_ih=p["w_ih"], w_hh=p["w_hh"],
                          b_ih=p["b_ih"], b_hh=p["b_hh"], reverse=bool(d), dy=np.ones_like(yy)))
    F.backward_pair("lstm", calls[0], calls[1])
    out = np.empty((64, 70), np.float32)
    rnnfast._core.matmul(np.ones((64, 300), np.float32), np.ones((300, 70), np.float32), out)


def test_caller_state_restored_after_every_kind_of_call(threads):
    assert caller_keeps_subnormals()
    every_kind_of_call()
    assert caller_keeps_subnormals()


def test_caller_state_restored_on_another_python_thread(threads):
    result = []

    def body():
        every_kind_of_call()
        result.append(caller_keeps_subnormals())

    t = threading.Thread(target=body)
    t.start()
    t.join()
    assert result == [True]
    assert caller_keeps_subnormals()


def test_kernels_read_subnormal_inputs_as_zero(threads):
    """Inside a call, inputs below the smallest normal float count as zero (DAZ)."""
    a = np.full((40, 40), 1e-40, np.float32)
    out = np.full((40, 40), -1.0, np.float32)
    rnnfast._core.matmul(a, np.ones((40, 40), np.float32), out)
    assert np.all(out == 0.0)
    assert np.all(a @ np.ones((40, 40), np.float32) > 0)  # NumPy, on the caller: not flushed


@pytest.mark.parametrize("mode", ["lstm", "gru", "rnn_tanh"])
def test_final_state_loss_matches_reference_without_subnormals(mode, threads):
    """A loss on h_n only over 300 steps: the gradients of the early steps decay far below the
    smallest normal float. The float32 kernels match the float64 reference at the named
    tolerance, and hold no subnormal value (they are flushed to zero)."""
    T, B, I, H = 300, 4, 8, 16
    p64 = make_problem(mode, T, B, I, H, dtype=np.float64, seed=11, with_h0=False)
    p32 = {k: (None if v is None else v.astype(np.float32) if v.dtype.kind == "f" else v)
           for k, v in p64.items()}
    dh_n = np.ones((B, H))
    y, h_n, c_n, reserve = F.forward(mode, **p32)
    got = F.backward(mode, reserve, p32["x"], p32["w_ih"], p32["w_hh"], p32["b_ih"],
                     p32["b_hh"], y=y, dh_n=dh_n.astype(np.float32))
    ry, rh, rc, cache = R.forward(mode, **p64)
    want = R.backward(cache, dh_n=dh_n)
    assert_close(h_n, rh, np.float32, "h_n")
    for k in ("dx", "w_ih", "w_hh", "b_ih", "b_hh", "dh0"):
        if want[k] is not None:
            assert_close(got[k], want[k], np.float32, k)
    # The reference's dx reaches the subnormal range of float32 (so this case exercises it) ...
    dx_ref = np.abs(want["dx"])
    assert np.any((dx_ref > 0) & (dx_ref < TINY32)), "the case no longer reaches subnormals"
    # ... where the kernels' float32 dx holds zeros, never a subnormal.
    dx = np.abs(got["dx"])
    assert not np.any((dx > 0) & (dx < TINY32))
