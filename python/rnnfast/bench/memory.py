"""Peak memory of a training step, rnnfast against torch, each in a fresh process.

Method (Linux): a child Python process builds the case's inputs, weights and implementation
(the same objects the suite times: rnnfast.functional for one layer, rnnfast.nn for stacked
cells, torch.nn with the same weights), records its resident set size (VmRSS in
/proc/self/status) as the baseline, resets the peak resident set size by writing "5" to
/proc/self/clear_refs (which sets VmHWM to the current RSS), runs ``steps`` training steps
(forward + backward with every gradient, results dropped after each step) and reports the peak
VmHWM minus the baseline, in MiB.

Before that, the same measurement of one training step on the "tiny" size (3x2x4x5) of the same
cell gives the library's one-time set-up (thread pools, code paged in on first use, lazily
built kernels): torch's is about 40 MiB, which would otherwise dominate every small case. The
tiny problem allocates almost nothing, so no freed memory is left for the real steps to reuse
unseen. Both numbers are reported: "peak_mib" (the case's steps, after set-up) and "setup_mib".

One fresh process per implementation and case: in one process, memory that one library (or an
earlier case) freed but its allocator kept would be reused by the next without showing up.

Where /proc/self/status or /proc/self/clear_refs is unavailable (not Linux), the result is
"not measured" with the reason. What it does not do: no NumPy-reference column, no inference,
no virtual-memory or allocation counts.
"""

from __future__ import annotations

import gc
import json
import subprocess
import sys
import time

__all__ = ["measure", "measure_cases", "peak_above_baseline"]

_MARK = "RNNFAST_MEMORY "
_MIB = 1024.0  # /proc/self/status reports kB (1024 bytes)


def _status_kb(*fields):
    """{field: kB} from /proc/self/status, or None where it cannot be read."""
    try:
        with open("/proc/self/status", encoding="ascii", errors="replace") as f:
            lines = f.read().splitlines()
    except OSError:
        return None
    out = {}
    for line in lines:
        key, _, value = line.partition(":")
        if key in fields:
            out[key] = int(value.split()[0])
    return out if len(out) == len(fields) else None


def peak_above_baseline(step, steps=3):
    """Run ``step()`` ``steps`` times in this process; return {"peak_mib", "baseline_mib"} (the
    peak resident set above the RSS just before, see the module docstring), or
    {"peak_mib": None, "reason": ...} where it cannot be measured."""
    gc.collect()
    base = _status_kb("VmRSS", "VmHWM")
    if base is None:
        return {"peak_mib": None, "reason": "no VmRSS/VmHWM in /proc/self/status"}
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as f:
            f.write("5")  # reset VmHWM to the current RSS
    except OSError as e:
        return {"peak_mib": None, "reason": f"cannot reset the peak (/proc/self/clear_refs: {e})"}
    base = _status_kb("VmRSS", "VmHWM")
    for _ in range(steps):
        step()
    peak = _status_kb("VmHWM")
    return {"peak_mib": max(0, peak["VmHWM"] - base["VmRSS"]) / _MIB,
            "baseline_mib": base["VmRSS"] / _MIB}


def _child(spec):
    """The child process: measure one implementation at one case, print one JSON line."""
    a = json.loads(spec)
    t0 = time.perf_counter()
    import rnnfast

    from . import peers, suite
    rnnfast.set_num_threads(a["threads"])

    def build(size):
        p = suite.make_problem(a["cell"], size, seed=a["seed"])
        if a["impl"] == "torch":
            return peers.make_torch(p, a["threads"])
        return suite.make_impl(p, a["impl"])

    impl, warm = build(a["size"]), build("tiny")
    if impl is None:
        print(_MARK + json.dumps({"peak_mib": None, "reason": "torch not importable"}))
        return
    setup = peak_above_baseline(warm.train, 1)
    out = peak_above_baseline(impl.train, a["steps"])
    out["setup_mib"] = setup["peak_mib"]
    out["seconds"] = time.perf_counter() - t0
    print(_MARK + json.dumps(out), flush=True)


def measure(cell, size, impl, threads, steps=3, seed=0, timeout=600):
    """Peak memory (MiB) of ``steps`` training steps of ``impl`` ("rnnfast", "torch" or
    "numpy") at one case, measured in a fresh Python process. Returns the child's dict
    ({"peak_mib", "baseline_mib", "setup_mib", "seconds"}, or {"peak_mib": None, "reason"})."""
    spec = json.dumps({"cell": cell, "size": size, "impl": impl, "threads": int(threads),
                       "steps": int(steps), "seed": int(seed)})
    code = "import sys; from rnnfast.bench.memory import _child; _child(sys.argv[1])"
    try:
        r = subprocess.run([sys.executable, "-c", code, spec], capture_output=True, text=True,
                           timeout=timeout, check=False)
    except (OSError, subprocess.TimeoutExpired) as e:
        return {"peak_mib": None, "reason": f"{type(e).__name__}: {e}"}
    for line in reversed(r.stdout.splitlines()):
        if line.startswith(_MARK):
            return json.loads(line[len(_MARK):])
    err = (r.stderr.strip().splitlines() or ["no output"])[-1]
    return {"peak_mib": None, "reason": f"the measuring process failed (exit {r.returncode}: "
                                        f"{err})"}


def measure_cases(cases, impls, threads, steps=3, seed=0):
    """measure() for every (cell, size) and implementation, one process each, one at a time.

    Returns {"threads", "steps", "method", "wall_s", "cases": [{"cell", "size", "T", "B", "I",
    "H", impl: measure()'s dict for each impl}]}.
    """
    from .suite import parse_size

    t0 = time.perf_counter()
    rows = []
    for cell, size in cases:
        label, (T, B, I, H) = parse_size(size)
        row = {"cell": cell, "size": label, "T": T, "B": B, "I": I, "H": H}
        for name in impls:
            row[name] = measure(cell, size, name, threads, steps, seed)
        rows.append(row)
    return {"threads": int(threads), "steps": int(steps),
            "method": "fresh process per implementation and case; peak VmHWM after resetting "
                      "it through /proc/self/clear_refs, minus VmRSS before the steps; "
                      "library set-up measured first on the tiny size (setup_mib)",
            "wall_s": time.perf_counter() - t0, "cases": rows}
