"""What the benchmark reports: the machine it ran on, a plain-text table and the JSON file.

The table has one row per case and phase (infer, train): rnnfast's median ms and GFLOP/s, then
for every other implementation its median ms and rnnfast's speedup over it. The JSON file holds
everything run() returns, raw samples included. No plots here (a later issue may add them).
"""

from __future__ import annotations

import datetime
import json
import os
import platform

import numpy as np

from . import peers

__all__ = ["case_rows", "cpu_model", "cpu_simd", "environment", "footer", "header", "table_header",
           "write_json"]


_SIMD_FLAGS = ("avx2", "fma", "avx512f", "avx512_bf16", "amx_tile", "asimd", "sve")


def _cpuinfo():
    """The first processor's fields of /proc/cpuinfo (empty where there is none)."""
    info = {}
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                if not line.strip():
                    if info:
                        break
                    continue
                key, _, value = line.partition(":")
                info.setdefault(key.strip(), value.strip())
    except OSError:
        pass
    return info


def cpu_model():
    """The CPU's model name from /proc/cpuinfo, else whatever platform knows."""
    info = _cpuinfo()
    for key in ("model name", "Model", "cpu model"):
        if info.get(key):
            return info[key]
    return platform.processor() or platform.machine() or "unknown"


def cpu_simd():
    """The SIMD features that matter for these kernels, as /proc/cpuinfo lists them."""
    flags = set((_cpuinfo().get("flags") or _cpuinfo().get("Features") or "").split())
    return [f for f in _SIMD_FLAGS if f in flags]


def _rnnfast_info():
    import rnnfast
    version = getattr(rnnfast, "__version__", None)
    if version is None:
        try:
            from importlib.metadata import version as _v
            version = _v("rnnfast")
        except Exception:
            version = "unknown"
    isa = None
    for owner in (rnnfast, getattr(rnnfast, "_core", None)):
        fn = getattr(owner, "isa", None)
        if callable(fn):
            try:
                isa = str(fn())
            except Exception:
                isa = None
            break
    return version, isa


def environment(threads):
    version, isa = _rnnfast_info()
    try:
        affinity = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        affinity = None
    return {
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "cpu": cpu_model(),
        "simd": cpu_simd(),
        "cores": os.cpu_count(),
        "cores_available": affinity,
        "threads": list(threads),
        "rnnfast": version,
        "isa": isa,
        "numpy": np.__version__,
        "torch": peers.torch_version(),
        "onnxruntime": peers.onnxruntime_version(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
    }


def header(rep):
    env, opts = rep["environment"], rep["options"]
    cores = f"{env['cores']}"
    if env.get("cores_available") not in (None, env["cores"]):
        cores += f" ({env['cores_available']} available)"
    cpu = env["cpu"] + (f" ({' '.join(env['simd'])})" if env.get("simd") else "")
    line2 = [f"cpu: {cpu}", f"cores: {cores}",
             f"rnnfast threads: {','.join(map(str, env['threads']))}"]
    if env.get("isa"):
        line2.append(f"isa: {env['isa']}")
    line3 = [f"numpy {env['numpy']}"]
    for k in ("torch", "onnxruntime"):
        if env.get(k) and k in rep["implementations"]:
            line3.append(f"{k} {env[k]}")
    line3 += [f"python {env['python']}", env["platform"]]
    return "\n".join([
        f"rnnfast {env['rnnfast']} benchmark, {env['date']}",
        " | ".join(line2),
        " | ".join(line3),
        (f"{opts['repeats']} interleaved repeats after {opts['warmup']} warm-up, medians; "
         "float32, time-major"),
    ])


# Column widths: case columns, then per implementation (ms, rnnfast GFLOP/s or speedup).
_CASE_W = (9, 9, 20, 4, 6)  # cell, size, TxBxIxH, threads, phase
_NUM_W = 10


def _case_cols(cell, size, dims, threads, phase):
    vals = (cell, size, dims, threads, phase)
    return "".join(f"{v:<{w}}" for v, w in zip(vals, _CASE_W, strict=True))


def table_header(impls):
    pad = sum(_CASE_W)
    top = " " * pad + "".join(f"{name:>{2 * _NUM_W}}" for name in impls)
    cols = [_case_cols("cell", "size", "T x B x I x H", "thr", "phase")]
    for name in impls:
        second = "GFLOP/s" if name == "rnnfast" else "speedup"
        cols.append(f"{'ms':>{_NUM_W}}{second:>{_NUM_W}}")
    line = "".join(cols)
    return "\n".join([top, line, "-" * len(line)])


def _ms(v):
    if v >= 1000:
        return f"{v:.0f}"
    if v >= 100:
        return f"{v:.1f}"
    if v >= 10:
        return f"{v:.2f}"
    return f"{v:.3f}"


def case_rows(case, impls):
    """The table rows of one case (one per phase), or one error row for a failed case."""
    if "error" in case:
        return [_case_cols(case["cell"], case["size"], "", case["threads"], "") +
                "MISMATCH (see below)"]
    dims = f"{case['T']}x{case['B']}x{case['I']}x{case['H']}"
    rows = []
    for i, phase in enumerate(("infer", "train")):
        first = i == 0
        cols = [_case_cols(case["cell"] if first else "", case["size"] if first else "",
                           dims if first else "", case["threads"] if first else "", phase)]
        for name in impls:
            r = case["results"].get(name, {}).get(phase)
            if r is None:
                cols.append(f"{'-':>{_NUM_W}}{'-':>{_NUM_W}}")
            elif name == "rnnfast":
                cols.append(f"{_ms(r['median_ms']):>{_NUM_W}}{r['gflops']:>{_NUM_W}.2f}")
            else:
                s = case["speedup"][name][phase]
                cols.append(f"{_ms(r['median_ms']):>{_NUM_W}}{f'{s:.2f}x':>{_NUM_W}}")
        rows.append("".join(cols))
    return rows


def footer(rep):
    lines = ["",
             ("ms: median per call. train = forward + backward (all gradients). speedup = the "
              "implementation's ms / rnnfast's ms (> 1: rnnfast is faster)."),
             ("GFLOP/s counts the matrix products: forward 2*T*B*G*H*(I+H), G = 4 lstm, 3 gru, "
              "1 rnn; a training step 3x forward.")]
    against = sorted({a for c in rep["cases"] if c.get("check") for a in c["check"]["against"]})
    if against:
        lines.append(f"Results checked before timing against: {', '.join(against)}.")
    elif rep["cases"]:
        lines.append("Results NOT checked (no reference, no torch, or --no-check).")
    for n in rep["notes"]:
        lines.append(f"note: {n}")
    for f in rep["failures"]:
        lines.append(f"MISMATCH: {f['error']}")
    return "\n".join(lines)


def write_json(rep, path):
    with open(path, "w", encoding="utf-8") as f:
        json.dump(rep, f, indent=2, default=_jsonable)
        f.write("\n")


def _jsonable(o):
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")
