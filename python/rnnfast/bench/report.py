"""What the benchmark reports: the machine it ran on, plain-text tables and the JSON file.

The main table has one row per case and phase (infer, train): rnnfast's median ms, GFLOP/s and
percent of the machine's GEMM rate at the matching shape, then for every other implementation
its median ms and rnnfast's speedup over it. A short table after it gives the peak memory of a
training step, rnnfast against torch. The JSON file holds everything run() returns, raw
samples included. The chart is plot.py's.
"""

from __future__ import annotations

import datetime
import json
import math
import os
import platform

import numpy as np

from . import peers

__all__ = ["case_rows", "cpu_model", "cpu_simd", "environment", "footer", "header",
           "memory_table", "table_header", "write_json"]


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


# Column widths: case columns, then per implementation (ms, rnnfast GFLOP/s or speedup), and
# rnnfast's percent of the GEMM rate.
_CASE_W = (17, 11, 20, 4, 6)  # cell, size, TxBxIxH, threads, phase
_NUM_W = 10
_PCT_W = 8


def _case_cols(cell, size, dims, threads, phase):
    vals = (cell, size, dims, threads, phase)
    return "".join(f"{v:<{w}}" for v, w in zip(vals, _CASE_W, strict=True))


def _width(name):
    return 2 * _NUM_W + (_PCT_W if name == "rnnfast" else 0)


def table_header(impls):
    pad = sum(_CASE_W)
    top = " " * pad + "".join(f"{name:>{_width(name)}}" for name in impls)
    cols = [_case_cols("cell", "size", "T x B x I x H", "thr", "phase")]
    for name in impls:
        if name == "rnnfast":
            cols.append(f"{'ms':>{_NUM_W}}{'GFLOP/s':>{_NUM_W}}{'% GEMM':>{_PCT_W}}")
        else:
            cols.append(f"{'ms':>{_NUM_W}}{'speedup':>{_NUM_W}}")
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


def _dims(case):
    return f"{case['T']}x{case['B']}x{case['I']}x{case['H']}"


def case_rows(case, impls):
    """The table rows of one case (one per phase), or one error row for a failed case."""
    if "error" in case:
        return [_case_cols(case["cell"], case["size"], "", case["threads"], "") +
                "MISMATCH (see below)"]
    dims = _dims(case)
    rows = []
    for i, phase in enumerate(("infer", "train")):
        first = i == 0
        cols = [_case_cols(case["cell"] if first else "", case["size"] if first else "",
                           dims if first else "", case["threads"] if first else "", phase)]
        for name in impls:
            r = case["results"].get(name, {}).get(phase)
            if r is None:
                cols.append(f"{'-':>{_NUM_W}}" * 2 + (f"{'-':>{_PCT_W}}" if name == "rnnfast"
                                                      else ""))
            elif name == "rnnfast":
                pct = r.get("pct_gemm")
                pct = "-" if pct is None else f"{pct:.0f}%"
                cols.append(f"{_ms(r['median_ms']):>{_NUM_W}}{r['gflops']:>{_NUM_W}.2f}"
                            f"{pct:>{_PCT_W}}")
            else:
                s = case["speedup"][name][phase]
                cols.append(f"{_ms(r['median_ms']):>{_NUM_W}}{f'{s:.2f}x':>{_NUM_W}}")
        rows.append("".join(cols))
    return rows


def _mib(r, key="peak_mib"):
    if r is None:
        return "-"
    return "n/a" if r.get(key) is None else f"{r[key]:.1f}"


def memory_table(rep):
    """The peak-memory table (a list of lines; empty when memory was not measured)."""
    mem = rep.get("memory")
    if not mem or not mem["cases"]:
        return []
    impls = [n for n in ("rnnfast", "torch") if n in mem["cases"][0]]
    w = _NUM_W + 3
    case_w = sum(_CASE_W[:4])
    head = _case_cols("cell", "size", "T x B x I x H", "thr", "")[:case_w]
    head += "".join(f"{n + ' MiB':>{w}}" for n in impls)
    head += f"{'torch/rnnfast':>{w + 2}}" if "torch" in impls else ""
    head += "".join(f"{n + ' set-up':>{w + 2}}" for n in impls)
    lines = [(f"Peak memory of a training step: MiB above the process's RSS before "
              f"{mem['steps']} steps, after the library's one-time set-up (set-up: measured "
              f"first, one step on the tiny size); a fresh process per implementation and "
              f"case; threads: {mem['threads']}"), head, "-" * len(head)]
    for row in mem["cases"]:
        line = _case_cols(row["cell"], row["size"], _dims(row), mem["threads"], "")[:case_w]
        line += "".join(f"{_mib(row.get(n)):>{w}}" for n in impls)
        if "torch" in impls:
            a, b = row["rnnfast"].get("peak_mib"), row["torch"].get("peak_mib")
            # below 1 MiB the numbers are page-granular noise, and so would their ratio be
            ratio = f"{b / a:.2f}x" if a is not None and b is not None and min(a, b) >= 1 \
                else "-"
            line += f"{ratio:>{w + 2}}"
        line += "".join(f"{_mib(row.get(n), 'setup_mib'):>{w + 2}}" for n in impls)
        lines.append(line)
    reasons = sorted({r["reason"] for row in mem["cases"] for n in impls
                      if (r := row.get(n)) and r.get("peak_mib") is None and r.get("reason")})
    lines += [f"not measured: {why}" for why in reasons]
    return lines


PEERS = ("torch", "onnxruntime")  # the peers the targets are about (not the NumPy reference)
SCALING_SIZES = ("medium", "large", "xlarge")


def summary(rep):
    """The suite-wide figures: per thread count, the geometric mean of the training-step
    speedup over torch and the worst case against the faster peer (torch, onnxruntime) with
    its name; and the slowest thread scaling (ms at 1 thread / ms at the most threads) of a
    case run at both, at medium and larger sizes. Cases whose peers are missing are skipped.
    """
    out = {"threads": {}, "scaling": None}
    by_threads = {}
    for c in rep["cases"]:
        by_threads.setdefault(c["threads"], []).append(c)
    for n, cases in sorted(by_threads.items()):
        train = [c["speedup"]["torch"]["train"] for c in cases
                 if c.get("speedup", {}).get("torch", {}).get("train")]
        worst = None
        for c in cases:
            mine = c["results"].get("rnnfast", {})
            for phase, r in mine.items():
                peers = [c["results"][p][phase]["median_ms"] for p in PEERS
                         if phase in c["results"].get(p, {})]
                if not peers:
                    continue
                ratio = min(peers) / r["median_ms"]
                if worst is None or ratio < worst["speedup"]:
                    worst = {"speedup": ratio, "case": f"{c['cell']} {c['size']} {phase}"}
        out["threads"][n] = {
            "train_geomean_vs_torch": (math.exp(sum(map(math.log, train)) / len(train))
                                       if train else None),
            "cases": len(train), "worst_vs_best_peer": worst}
    if len(by_threads) > 1:
        lo, hi = min(by_threads), max(by_threads)
        one = {(c["cell"], c["size"]): c for c in by_threads[lo]}
        worst = None
        for c in by_threads[hi]:
            a = one.get((c["cell"], c["size"]))
            if a is None or c["size"] not in SCALING_SIZES:
                continue
            for phase, r in c["results"].get("rnnfast", {}).items():
                ratio = a["results"]["rnnfast"][phase]["median_ms"] / r["median_ms"]
                if worst is None or ratio < worst["ratio"]:
                    worst = {"ratio": ratio, "case": f"{c['cell']} {c['size']} {phase}",
                             "threads": [lo, hi]}
        out["scaling"] = worst
    # Cases timed beside a partner of the same size (suite.STACKS, suite.RAGGED): a loss on the
    # final state against one on every output; a ragged batch against the full one. The
    # training step of each, per thread count: rnnfast's, and torch's where it ran.
    for kind, suffix in PAIRED.items():
        out[kind] = []
        for n, cases in sorted(by_threads.items()):
            train = {(c["cell"], c["size"]): {k: v.get("train") for k, v in c["results"].items()}
                     for c in cases}
            for (cell, size), r in train.items():
                base = train.get((cell[:-len(suffix)], size)) if cell.endswith(suffix) else None
                if not base or not r.get("rnnfast") or not base.get("rnnfast"):
                    continue
                row = {"threads": n, "case": f"{cell} {size}", "ms": r["rnnfast"]["median_ms"],
                       "base_ms": base["rnnfast"]["median_ms"]}
                row["ratio"] = row["ms"] / row["base_ms"]
                if r.get("torch") and base.get("torch"):
                    row["torch_ratio"] = r["torch"]["median_ms"] / base["torch"]["median_ms"]
                out[kind].append(row)
    return out


# Paired cases (see summary): kind -> the suffix of the cell timed beside its partner.
PAIRED = {"final_state": "_final", "ragged": "_ragged"}


def summary_lines(rep):
    s = summary(rep)
    lines = []
    for n, t in s["threads"].items():
        if not t["cases"] and not t["worst_vs_best_peer"]:
            continue
        parts = []
        if t["train_geomean_vs_torch"]:
            parts.append(f"training speedup over torch, geometric mean of {t['cases']} cases: "
                         f"{t['train_geomean_vs_torch']:.2f}x")
        w = t["worst_vs_best_peer"]
        if w:
            parts.append(f"lowest speedup over the faster peer: {w['speedup']:.2f}x ({w['case']})")
        lines.append(f"Summary, {n} thread{'s' if n > 1 else ''}: " + "; ".join(parts) + ".")
    what = {"final_state": ("Final-state loss", "with a loss on every output"),
            "ragged": ("Ragged batch", "for the full batch")}
    for kind, (title, base) in what.items():
        for f in s[kind]:
            torch_part = (f"; torch {f['torch_ratio']:.2f}x" if "torch_ratio" in f else "")
            lines.append(f"{title}, {f['threads']} thread{'s' if f['threads'] > 1 else ''}: "
                         f"{f['case']} training step {f['ms']:.1f} ms against "
                         f"{f['base_ms']:.1f} ms {base} ({f['ratio']:.2f}x{torch_part}).")
    if s["scaling"]:
        w = s["scaling"]
        lines.append(f"Summary: lowest {w['threads'][1]}-thread speedup over {w['threads'][0]} "
                     f"thread at medium and larger: {w['ratio']:.2f}x ({w['case']}).")
    return lines


def footer(rep):
    lines = ["",
             ("ms: median per call. train = forward + backward (all gradients). speedup = the "
              "implementation's ms / rnnfast's ms (> 1: rnnfast is faster)."),
             ("GFLOP/s counts the matrix products: forward 2*T*B*G*H*(I+H), G = 4 lstm, 3 gru, "
              "1 rnn; a training step 3x forward.")]
    if any(c["cell"].startswith("indrnn") for c in rep["cases"]):
        lines.append("indrnn_relu: IndRNN (nn.IndRNN), no recurrent product (u * h, one weight "
                     "per unit): its FLOPs and its GEMM shape are the input product's, "
                     "2*T*B*H*I and [T*B x I] @ [I x H].")
    if any(c["cell"] in ("mingru", "minlstm") for c in rep["cases"] if "cell" in c):
        lines.append("mingru, minlstm: minGRU and minLSTM (G = 2, 3), gates from the input only: "
                     "no recurrent product, forward 2*T*B*G*H*I, the GEMM shape "
                     "[T*B x I] @ [I x G*H]; beside gru and lstm of the same size.")
    if any(c.get("layers", 1) > 1 or c.get("bidirectional") for c in rep["cases"]):
        lines.append("lstm_2x_bi: 2-layer bidirectional LSTM (rnnfast.nn.LSTM against "
                     "torch.nn.LSTM, num_layers=2, bidirectional=True); gru_bi: a bidirectional "
                     "GRU (nn.GRU(I, H, bidirectional=True)), its loss on every output as in the "
                     "other cases, gru_bi_final: the same with the loss on h_n only (a sequence "
                     "classifier); FLOPs summed over layers and directions, the second layer's "
                     "input being 2H.")
    libs = rep.get("gemm_libraries")
    if libs and rep["cases"]:
        names = ", ".join(lib["function"] for lib in libs)
        lines.append(
            "% GEMM: rnnfast's GFLOP/s as a percentage of the machine's float32 GEMM rate for "
            "[T*B x (I+H)] @ [(I+H) x G*H] (the same FLOPs): the fastest of "
            f"{names} at that shape, measured here at the same thread count (median of "
            "repeats; lstm_2x_bi: the FLOP-weighted rate of both layers' shapes). Rates and "
            "the fastest library per shape in the JSON (cases[].gemm).")
        for lib in libs:
            if lib["library"] == "numpy" and lib["threads_set"]:
                lines.append("  numpy.matmul's BLAS threads limited to the case's count with "
                             "threadpoolctl.")
            elif lib["library"] == "numpy":
                lines.append(
                    "  numpy.matmul's BLAS threads cannot be set without threadpoolctl: it "
                    f"takes part only at {lib.get('default_threads', '?')} thread(s), the count "
                    "it runs at.")
    against = sorted({a for c in rep["cases"] if c.get("check") for a in c["check"]["against"]})
    if against:
        lines.append(f"Results checked before timing against: {', '.join(against)}.")
    elif rep["cases"]:
        lines.append("Results NOT checked (no reference, no torch, or --no-check).")
    lines += summary_lines(rep)
    for n in rep["notes"]:
        lines.append(f"note: {n}")
    for f in rep["failures"]:
        lines.append(f"MISMATCH: {f['error']}")
    return "\n".join(lines)


def write_json(rep, path):
    with open(path, "w", encoding="utf-8") as f:
        json.dump({**rep, "summary": summary(rep)}, f, indent=2, default=_jsonable)
        f.write("\n")


def _jsonable(o):
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")
