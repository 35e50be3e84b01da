"""The benchmark suite (rnnfast.bench, python -m rnnfast) on a tiny size, one repeat.

What is tested: every implementation that can run reports positive times for each phase; the
check runs first and a wrong kernel result (forward output or a gradient) raises; the CLI writes
parseable JSON and exits 0; --help works. Timing values themselves are never asserted.
"""

import hashlib
import importlib.util
import json
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

import rnnfast
from rnnfast import bench, functional
from rnnfast.bench import peers, suite

TINY = "3x2x4x5"  # T, B, I, H
HAS_TORCH = importlib.util.find_spec("torch") is not None
HAS_ORT = HAS_TORCH and importlib.util.find_spec("onnxruntime") is not None


def _run(**kw):
    kw.setdefault("sizes", [TINY])
    kw.setdefault("cells", list(bench.CELLS))
    kw.setdefault("repeats", 1)
    kw.setdefault("settle", 0.0)
    return bench.run(**kw)


def test_run_reports_every_implementation():
    rep = _run(torch=HAS_TORCH, onnxruntime=HAS_ORT)
    expected = ["rnnfast", "numpy"] + (["torch"] if HAS_TORCH else [])
    assert rep["implementations"][:len(expected)] == expected
    assert [c["cell"] for c in rep["cases"]] == list(bench.CELLS)
    assert rep["failures"] == []
    for case in rep["cases"]:
        assert (case["T"], case["B"], case["I"], case["H"]) == (3, 2, 4, 5)
        assert "numpy reference (float64)" in case["check"]["against"]
        if HAS_TORCH:
            assert "torch" in case["check"]["against"]
        for name in expected:
            for phase in ("infer", "train"):
                r = case["results"][name][phase]
                assert r["median_ms"] > 0 and r["gflops"] > 0
                assert len(r["samples_ms"]) == 1
        for name in expected[1:]:
            assert set(case["speedup"][name]) == {"infer", "train"}
        if "onnxruntime" in case["results"]:  # a failed export is a note, not a failure
            assert case["results"]["onnxruntime"]["infer"]["median_ms"] > 0
            assert "train" not in case["results"]["onnxruntime"]


def test_run_without_peers_and_the_default_settle():
    rep = bench.run(cells=["gru"], sizes=[TINY], repeats=2, torch=False, reference=False)
    assert rep["implementations"] == ["rnnfast"]
    (case,) = rep["cases"]
    assert set(case["results"]) == {"rnnfast"}
    assert len(case["results"]["rnnfast"]["train"]["samples_ms"]) == 2
    assert case["check"]["against"] == []  # nothing to check against, and the notes say so
    assert any("unchecked" in n for n in rep["notes"])


def test_wrong_forward_output_raises(monkeypatch):
    real = functional.forward

    def wrong(*args, **kw):
        y, h_n, c_n, reserve = real(*args, **kw)
        y = y.copy()
        y[-1, 0, 0] += 1e-2
        return y, h_n, c_n, reserve

    monkeypatch.setattr(functional, "forward", wrong)
    with pytest.raises(bench.MismatchError, match=r"lstm .*: y differs"):
        _run(cells=["lstm"], torch=False)


@pytest.mark.parametrize("key", ["w_hh", "dx", "b_ih"])
def test_wrong_gradient_raises(monkeypatch, key):
    real = functional.backward

    def wrong(*args, **kw):
        grads = real(*args, **kw)
        grads[key] = grads[key] * 1.01
        return grads

    monkeypatch.setattr(functional, "backward", wrong)
    with pytest.raises(bench.MismatchError, match=f"training step vs .*: {key} differs"):
        _run(cells=["gru"], torch=False)


def test_keep_going_records_the_failure(monkeypatch):
    real = functional.forward

    def nan(*args, **kw):
        y, h_n, c_n, reserve = real(*args, **kw)
        return y * np.nan, h_n, c_n, reserve

    monkeypatch.setattr(functional, "forward", nan)
    rep = _run(cells=["rnn_tanh", "gru"], torch=False, keep_going=True)
    assert rep["cases"] == []
    assert [f["cell"] for f in rep["failures"]] == ["rnn_tanh", "gru"]
    assert "NaN" in rep["failures"][0]["error"]


@pytest.mark.skipif(not HAS_TORCH, reason="torch is not installed")
def test_torch_disagreeing_raises(monkeypatch):
    real = peers.TorchImpl.infer_results

    def wrong(self, r):
        out = real(self, r)
        out["h_n"] = out["h_n"] + 1e-2
        return out

    monkeypatch.setattr(peers.TorchImpl, "infer_results", wrong)
    with pytest.raises(bench.MismatchError, match="vs torch: h_n differs"):
        _run(cells=["rnn_tanh"], reference=False, onnxruntime=False)


def test_compare_is_scale_aware():
    want = np.array([1000.0, 0.0, -3.0])
    suite.compare("case", "y", want + 0.05, want)  # 5e-5 of max|want|: within tolerance
    with pytest.raises(bench.MismatchError, match="y differs"):
        suite.compare("case", "y", want + [0, 0.2, 0], want)
    with pytest.raises(bench.MismatchError, match="shape"):
        suite.compare("case", "y", want[:2], want)
    with pytest.raises(bench.MismatchError, match="missing"):
        suite.compare("case", "dc0", None, want)


def test_flops_and_sizes():
    assert bench.flops("lstm", 2, 3, 5, 7) == 2 * 2 * 3 * 4 * 7 * (5 + 7)
    assert bench.flops("gru", 2, 3, 5, 7, "train") == 3 * 2 * 2 * 3 * 3 * 7 * (5 + 7)
    assert bench.flops("rnn_tanh", 1, 1, 1, 1) == 4
    assert suite.parse_size("small") == ("small", (50, 32, 64, 128))
    assert suite.parse_size("3x2x4x5") == ("3x2x4x5", (3, 2, 4, 5))
    assert suite.parse_size((3, 2, 4, 5))[1] == (3, 2, 4, 5)
    for bad in ("huge", "3x2x4", "0x2x4x5", "axbxcxd"):
        with pytest.raises(ValueError, match="size"):
            suite.parse_size(bad)
    with pytest.raises(ValueError, match="cell"):
        bench.run(cells=["lstmm"], sizes=[TINY])


def test_timing_is_interleaved_and_rotated():
    calls = []
    tasks = {(name, "infer"): (lambda n=name: calls.append(n)) for name in "ABC"}
    samples = suite.time_tasks(tasks, repeats=3, warmup=1, min_sample=0.0, settle=0.0)
    assert all(len(s) == 3 and min(s) >= 0 for s in samples.values())
    assert calls[:3] == ["A", "B", "C"]  # warm-up
    assert calls[3:] == ["A", "B", "C", "B", "C", "A", "C", "A", "B"]


def test_timing_waits_for_idle_threads_at_every_switch(monkeypatch):
    events = []
    monkeypatch.setattr(suite, "wait_idle", lambda max_wait: events.append("wait") or 0.0)
    monkeypatch.setattr(suite, "REWARM", 0.0)  # exactly one untimed call after a switch
    tasks = {(n, ph): (lambda n=n: events.append(n)) for n in "AB" for ph in ("infer", "train")}
    suite.time_tasks(tasks, repeats=2, warmup=1, min_sample=0.0, settle=0.1)
    warm = ["wait", "A", "A", "wait", "B", "B"]  # the warm-up times set the call counts
    round0 = ["wait", "A", "A", "A", "wait", "B", "B", "B"]  # one untimed call after a wait
    round1 = ["wait", "A", "A", "wait", "B", "B", "B", "wait", "A", "A"]  # rotated by one
    assert events == warm + round0 + round1


def test_timing_rewarms_for_a_while_after_a_switch(monkeypatch):
    calls = []
    monkeypatch.setattr(suite, "wait_idle", lambda max_wait: 0.0)
    monkeypatch.setattr(suite, "REWARM", 0.02)
    tasks = {(n, "infer"): (lambda n=n: calls.append((n, time.perf_counter()))) for n in "AB"}
    suite.time_tasks(tasks, repeats=1, warmup=1, min_sample=0.0, settle=0.1)
    timed = calls[2:]  # after the warm-up: A's untimed calls, A, B's untimed calls, B
    for name in "AB":
        starts = [t for n, t in timed if n == name]
        assert len(starts) >= 2 and starts[-1] - starts[0] >= 0.02  # the last one is timed


def _spin(seconds):
    # Burn CPU without the GIL (hashlib releases it for large buffers), like a native thread
    # pool does: a pure-Python loop would wait for the GIL whenever the polling thread holds it,
    # and a thread waiting for the GIL is asleep, so the poll could rightly find it idle.
    block = bytes(1 << 20)
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        hashlib.sha256(block).digest()


@pytest.mark.parametrize("proc", [True, False], ids=["thread-states", "cpu-time-fallback"])
def test_wait_idle_waits_for_a_spinning_thread(monkeypatch, proc):
    if proc and suite._running_threads(str(threading.get_native_id())) is None:
        pytest.skip("no /proc/self/task here")
    if not proc:
        monkeypatch.setattr(suite, "_running_threads", lambda me: None)
    suite.wait_idle(1.0)  # whatever earlier tests left spinning
    spinner = threading.Thread(target=_spin, args=(0.3,))
    t0 = time.perf_counter()
    spinner.start()
    try:
        suite.wait_idle(2.0)
        waited = time.perf_counter() - t0
    finally:
        spinner.join()
    assert waited >= 0.25
    assert suite.wait_idle(2.0) < 1.0  # idle now: returns well before max_wait


def test_cli_writes_json(tmp_path, capsys):
    path = tmp_path / "bench.json"
    code = bench.main(["--sizes", TINY, "--cells", "lstm,rnn_tanh", "--repeats", "1",
                       "--settle", "0", "--no-torch", "--json", str(path)])
    out = capsys.readouterr().out
    assert code == 0
    assert "rnnfast" in out and "speedup" in out and "lstm" in out
    rep = json.loads(path.read_text())
    assert rep["environment"]["numpy"] == np.__version__
    assert rep["environment"]["threads"] == [rnnfast.get_num_threads()]
    assert [c["cell"] for c in rep["cases"]] == ["lstm", "rnn_tanh"]
    assert rep["cases"][0]["results"]["numpy"]["train"]["median_ms"] > 0


def test_cli_threads_option(capsys):
    before = rnnfast.get_num_threads()
    code = bench.main(["--sizes", TINY, "--cells", "gru", "--repeats", "1", "--settle", "0",
                       "--no-torch", "--no-reference", "--threads", "1"])
    assert code == 0
    assert "rnnfast threads: 1" in capsys.readouterr().out
    assert rnnfast.get_num_threads() == before  # restored afterwards


def test_cli_rejects_bad_options(capsys):
    assert bench.main(["--sizes", "nope"]) == 2
    assert bench.main(["--cells", "lstmm"]) == 2
    assert "error" in capsys.readouterr().err


def test_cli_exits_1_on_mismatch(monkeypatch, capsys):
    real = functional.forward

    def wrong(*args, **kw):
        y, h_n, c_n, reserve = real(*args, **kw)
        return y, h_n + 1.0, c_n, reserve

    monkeypatch.setattr(functional, "forward", wrong)
    code = bench.main(["--sizes", TINY, "--cells", "lstm", "--repeats", "1", "--settle", "0",
                       "--no-torch"])
    assert code == 1
    assert "MISMATCH" in capsys.readouterr().out


def test_python_m_rnnfast_help():
    r = subprocess.run([sys.executable, "-m", "rnnfast", "--help"], capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "--quick" in r.stdout and "--json" in r.stdout and "--no-reference" in r.stdout


def test_python_m_rnnfast_runs(tmp_path):
    path = tmp_path / "out.json"
    r = subprocess.run([sys.executable, "-m", "rnnfast", "--sizes", "tiny", "--repeats", "1",
                        "--no-torch", "--json", str(path)], capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    assert len(json.loads(path.read_text())["cases"]) == len(bench.CELLS)
