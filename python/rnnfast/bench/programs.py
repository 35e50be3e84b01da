"""The "programs, not kernels" benchmark: ``python -m rnnfast --programs [NAMES...]``.

Each program in ``benchmarks/programs/`` is one example's training loop at a fixed size,
written twice: with rnnfast and as its plain-PyTorch twin (same data, model, initial weights,
batch, optimizer and loss; see benchmarks/programs/_harness.py). For every program this
module first checks the twins against each other at a tiny size with the data in a fixed
order: the same initial weights and batches must give the same first-step loss and close
losses over the following steps. Then it builds both at the fixed size, trains ``warmup``
epochs of each, and interleaves ``repeats`` epochs (rnnfast, torch, rnnfast, torch, ...),
timing each. It reports the median seconds per epoch of each, their ratio (torch / rnnfast:
above 1, rnnfast is faster), the final epoch's mean loss of each (equal within noise: the
data order differs, each framework shuffles with its own generator), and the geometric mean of
the ratios.

Threads: rnnfast's kernels, torch and NumPy's BLAS (which rnnfast's Linear and Embedding use)
all run at the same count (default all cores); the BLAS limit needs threadpoolctl, and the
header says when it was not set.

Not here: the kernel benchmark (suite.py), peak memory, charts. torch is imported only when
the programs run, never by ``import rnnfast``.
"""

from __future__ import annotations

import contextlib
import cProfile
import datetime
import gc
import importlib
import importlib.machinery
import importlib.util
import io
import json
import math
import os
import pathlib
import platform
import pstats
import statistics
import sys
import time

import numpy as np

from . import gemm, report, suite

__all__ = ["FIRST_STEP_RTOL", "STEPS_RTOL", "find_dir", "program_names", "load_program",
           "check_program", "time_program", "run", "table", "write_json", "main"]

# The check: both twins start from the same weights and see the same batches in the same
# order, so their losses differ only by float32 rounding (different summation orders), which
# grows slowly over the optimizer's steps.
FIRST_STEP_RTOL = 1e-5
STEPS_RTOL = 1e-4

FRAMEWORKS = ("rnnfast", "torch")


def _repo_root():
    """The checkout this rnnfast was imported from (python/rnnfast/bench -> repository root)."""
    return pathlib.Path(__file__).resolve().parents[3]


def find_dir(directory=None):
    """The programs' directory: ``directory`` if given, else ``benchmarks/programs`` under the
    current directory, else under the checkout rnnfast was imported from. Raises
    FileNotFoundError naming every place it looked."""
    if directory is not None:
        places = [pathlib.Path(directory)]
    else:
        places = [pathlib.Path.cwd() / "benchmarks" / "programs",
                  _repo_root() / "benchmarks" / "programs"]
    for p in places:
        if (p / "_harness.py").is_file():
            return p.resolve()
    looked = ", ".join(str(p) for p in dict.fromkeys(places))
    raise FileNotFoundError(
        f"no benchmark programs (benchmarks/programs/_harness.py) found; looked in {looked}. "
        f"Run from the repository's root or give the directory with --programs-dir DIR")


def program_names(directory):
    """The program modules in ``directory`` (every .py not starting with "_"), sorted."""
    return sorted(p.stem for p in pathlib.Path(directory).glob("*.py")
                  if not p.stem.startswith("_"))


_PACKAGES = {}


def _package(directory):
    """Import ``directory`` as a package (the programs import their siblings relatively) under
    a name of its own, once per directory."""
    directory = pathlib.Path(directory).resolve()
    if directory not in _PACKAGES:
        name = f"_rnnfast_programs_{len(_PACKAGES)}"
        init = directory / "__init__.py"
        if init.is_file():
            spec = importlib.util.spec_from_file_location(
                name, init, submodule_search_locations=[str(directory)])
        else:  # a plain directory of programs: a package without an __init__
            spec = importlib.machinery.ModuleSpec(name, None, is_package=True)
            spec.submodule_search_locations = [str(directory)]
        pkg = importlib.util.module_from_spec(spec)
        sys.modules[name] = pkg
        if spec.loader is not None:
            spec.loader.exec_module(pkg)
        _PACKAGES[directory] = name
    return _PACKAGES[directory]


def load_program(name, directory=None):
    """The program module ``name`` from the programs' directory (find_dir)."""
    directory = find_dir(directory)
    names = program_names(directory)
    if name not in names:
        raise ValueError(f"program: expected one of {', '.join(names)}, got {name!r}")
    return importlib.import_module(f"{_package(directory)}.{name}")


def _harness(module):
    return importlib.import_module(module.__name__.rpartition(".")[0] + "._harness")


def missing_data(module):
    """The pip command for the program's data package when it is not installed, else None."""
    from .. import datasets
    data = getattr(module, "DATA", None)
    if data is None:
        return None
    try:
        found = importlib.util.find_spec(data) is not None
    except (ImportError, ValueError):
        found = False
    return None if found else datasets.install_command(data)


def _rel(a, b):
    return abs(a - b) / max(abs(b), 1e-12)


def _epoch(program, settle):
    """Train one epoch; returns (seconds, mean loss). The previous framework's threads are let
    go idle first and garbage from earlier epochs is collected outside the timed region."""
    if settle > 0:
        suite.wait_idle(settle)
    gc.collect()
    t0 = time.perf_counter()
    loss = program.epoch()
    return time.perf_counter() - t0, loss


def time_program(module, seed=0, size="full", shuffle=True, repeats=5, warmup=1, settle=0.5):
    """Build both twins of ``module`` at ``size``, train ``warmup`` epochs of each, then
    ``repeats`` rounds of one epoch of rnnfast and one of torch, each timed. Returns
    {"steps", "rnnfast": {...}, "torch": {...}, "ratio"} where each framework's entry holds
    "seconds" (per timed epoch), "median", "epoch_losses" (every epoch's mean loss),
    "final_loss" and "first_epoch_losses" (the first epoch's per-step losses)."""
    h = _harness(module)
    progs = {fw: h.build(module, fw, seed, size, shuffle) for fw in FRAMEWORKS}
    out = {fw: {"seconds": [], "epoch_losses": [], "first_epoch_losses": None}
           for fw in FRAMEWORKS}

    def one(fw, timed):
        seconds, loss = _epoch(progs[fw], settle)
        r = out[fw]
        if r["first_epoch_losses"] is None:
            r["first_epoch_losses"] = list(progs[fw].losses)
        r["epoch_losses"].append(loss)
        if timed:
            r["seconds"].append(seconds)

    for _ in range(warmup):
        for fw in FRAMEWORKS:
            one(fw, False)
    for _ in range(max(1, repeats)):
        for fw in FRAMEWORKS:
            one(fw, True)
    for fw in FRAMEWORKS:
        r = out[fw]
        r["median"] = statistics.median(r["seconds"])
        r["final_loss"] = r["epoch_losses"][-1]
        r["steps"] = len(progs[fw].losses)
    out["steps"] = out["rnnfast"]["steps"]
    out["ratio"] = out["torch"]["median"] / out["rnnfast"]["median"]
    out["_programs"] = progs
    return out


def compare_losses(rnnfast_losses, torch_losses):
    """The check's verdict on two per-step loss lists of the same batches in the same order:
    {"steps", "first_step_rel_diff", "max_rel_diff", "ok", "reason"}."""
    a, b = list(rnnfast_losses), list(torch_losses)
    res = {"steps": len(a), "first_step": [a[0] if a else None, b[0] if b else None],
           "first_step_rel_diff": None, "max_rel_diff": None, "ok": False, "reason": ""}
    if len(a) != len(b) or not a:
        res["reason"] = f"step counts differ: rnnfast {len(a)}, torch {len(b)}"
        return res
    if not all(math.isfinite(v) for v in a + b):
        res["reason"] = "a loss is not finite"
        return res
    res["first_step_rel_diff"] = _rel(a[0], b[0])
    res["max_rel_diff"] = max(_rel(x, y) for x, y in zip(a, b))
    if res["first_step_rel_diff"] > FIRST_STEP_RTOL:
        res["reason"] = (f"first-step loss rnnfast {a[0]:.6g}, torch {b[0]:.6g} (relative "
                         f"difference {res['first_step_rel_diff']:.2g} > {FIRST_STEP_RTOL:g})")
    elif res["max_rel_diff"] > STEPS_RTOL:
        i = max(range(len(a)), key=lambda k: _rel(a[k], b[k]))
        res["reason"] = (f"step {i + 1} loss rnnfast {a[i]:.6g}, torch {b[i]:.6g} (relative "
                         f"difference {res['max_rel_diff']:.2g} > {STEPS_RTOL:g})")
    else:
        res["ok"] = True
    return res


def check_program(module, seed=0):
    """The twins at the tiny size, data in a fixed order, one epoch each (untimed): their
    per-step losses compared (compare_losses)."""
    r = time_program(module, seed, size="tiny", shuffle=False, repeats=1, warmup=0, settle=0)
    return compare_losses(r["rnnfast"]["first_epoch_losses"], r["torch"]["first_epoch_losses"])


def profile_epoch(program, top=12):
    """One more epoch of ``program`` under cProfile: its top entries by own time, as text."""
    prof = cProfile.Profile()
    gc.collect()
    prof.enable()
    program.epoch()
    prof.disable()
    buf = io.StringIO()
    pstats.Stats(prof, stream=buf).sort_stats("tottime").print_stats(top)
    # File names relative to the checkout, so that a report names no local directory.
    lines = buf.getvalue().replace(str(_repo_root()) + os.sep, "").splitlines()
    start = next((i for i, ln in enumerate(lines) if ln.lstrip().startswith("ncalls")), 0)
    return "\n".join(ln for ln in lines[start:] if ln.strip())


@contextlib.contextmanager
def threads_for_both(n):
    """rnnfast's kernels, torch and NumPy's BLAS at ``n`` threads; restored afterwards. Yields
    whether NumPy's BLAS could be limited (threadpoolctl)."""
    import torch

    from .. import get_num_threads, set_num_threads
    old = get_num_threads(), torch.get_num_threads()
    set_num_threads(n)
    torch.set_num_threads(n)
    tpc = gemm._threadpoolctl()
    limits = tpc.threadpool_limits(limits=n, user_api="blas") if tpc is not None else None
    try:
        yield limits is not None
    finally:
        if limits is not None:
            limits.restore_original_limits()
        set_num_threads(old[0])
        torch.set_num_threads(old[1])


def environment(threads, blas_limited):
    import torch

    from .. import __version__, _core
    isa = getattr(_core, "isa", None)
    try:
        load = [round(v, 2) for v in os.getloadavg()]
    except OSError:
        load = None
    return {
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "cpu": report.cpu_model(),
        "simd": report.cpu_simd(),
        "cores": os.cpu_count(),
        "cores_available": suite.all_cores(),
        "threads": threads,
        "blas_threads_limited": blas_limited,
        "load_average_start": load,
        "rnnfast": __version__,
        "isa": isa() if callable(isa) else None,
        "torch": torch.__version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def run(names=None, directory=None, threads=None, repeats=5, warmup=1, seed=0, check=True,
        check_only=False, settle=0.5, profile=0, on_result=None, size="full"):
    """Run the programs (``names``, default all) and return the report (a dict; see
    write_json). ``check``: check each program at the tiny size before timing it;
    ``check_only``: the tiny check alone, whose one epoch per framework is also what the table
    shows. ``size``: the programs' size for the timing ("full", the benchmark; "tiny" for a
    quick look). ``profile``: after timing, one more rnnfast epoch of each program under
    cProfile, its top ``profile`` entries kept. ``on_result(report, result)`` is called as each
    program finishes. Raises ImportError without torch, ValueError for an unknown program name
    or bad options, FileNotFoundError when the programs' directory is not found."""
    try:
        import torch  # noqa: F401  (only here: `import rnnfast` never imports torch)
    except ImportError:
        raise ImportError("torch is not installed, and the programs benchmark compares rnnfast "
                          "with torch: pip install torch") from None
    directory = find_dir(directory)
    available = program_names(directory)
    names = list(available if not names else names)
    for n in names:
        if n not in available:
            raise ValueError(f"program: expected one of {', '.join(available)}, got {n!r}")
    threads = suite.all_cores() if threads is None else threads
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise ValueError(f"threads: expected an int >= 1, got {threads!r}")
    for opt, v, lo in (("repeats", repeats, 1), ("warmup", warmup, 0), ("profile", profile, 0)):
        if isinstance(v, bool) or not isinstance(v, int) or v < lo:
            raise ValueError(f"{opt}: expected an int >= {lo}, got {v!r}")
    if size not in ("full", "tiny"):
        raise ValueError(f"size: expected 'full' or 'tiny', got {size!r}")
    size = "tiny" if check_only else size
    rep = {"kind": "programs",
           "options": {"repeats": 1 if check_only else repeats,
                       "warmup": 0 if check_only else warmup, "seed": seed,
                       "check": bool(check or check_only), "check_only": bool(check_only),
                       "size": size,
                       "first_step_rtol": FIRST_STEP_RTOL, "steps_rtol": STEPS_RTOL},
           "programs": [], "skipped": [], "failures": []}
    with threads_for_both(threads) as blas_limited:
        rep["environment"] = environment(threads, blas_limited)
        for name in names:
            module = load_program(name, directory)
            pip = missing_data(module)
            if pip is not None:
                skip = {"name": name, "reason": f"data package {module.DATA!r} is not installed",
                        "pip": pip}
                rep["skipped"].append(skip)
                if on_result:
                    on_result(rep, dict(skip, skipped=True))
                continue
            res = {"name": name, "port_lines": _harness(module).port_lines(module)}
            if check_only:
                t = time_program(module, seed, size="tiny", shuffle=False, repeats=1, warmup=0,
                                 settle=settle)
                res["check"] = compare_losses(t["rnnfast"]["first_epoch_losses"],
                                              t["torch"]["first_epoch_losses"])
            else:
                if check:
                    res["check"] = check_program(module, seed)
                t = time_program(module, seed, size, True, repeats, warmup, settle)
            progs = t.pop("_programs")
            res.update(t)
            if profile:
                res["profile_rnnfast"] = profile_epoch(progs["rnnfast"], profile)
            if "check" in res and not res["check"]["ok"]:
                rep["failures"].append(f"{name}: {res['check']['reason']}")
            rep["programs"].append(res)
            if on_result:
                on_result(rep, res)
    try:
        rep["environment"]["load_average_end"] = [round(v, 2) for v in os.getloadavg()]
    except OSError:
        pass
    ratios = [r["ratio"] for r in rep["programs"]]
    rep["geomean_ratio"] = (math.exp(sum(math.log(r) for r in ratios) / len(ratios))
                            if ratios else None)
    return rep


# ----------------------------------------------------------------------------- the table

_COLS = (("program", 20, "<"), ("steps", 5, ">"), ("rnnfast s/ep", 12, ">"),
         ("torch s/ep", 10, ">"), ("ratio", 6, ">"), ("rnnfast loss", 12, ">"),
         ("torch loss", 10, ">"), ("port", 4, ">"), ("check", 5, "<"))


def _fmt_row(values):
    return "  ".join(f"{v:{a}{w}}" for v, (_, w, a) in zip(values, _COLS)).rstrip()


def header(rep):
    env, opts = rep["environment"], rep["options"]
    cpu = env["cpu"] + (f" ({' '.join(env['simd'])})" if env.get("simd") else "")
    blas = "" if env["blas_threads_limited"] else (
        "; numpy's BLAS not limited (pip install threadpoolctl)")
    load = env.get("load_average_start")
    lines = [
        f"rnnfast {env['rnnfast']} programs benchmark, {env['date']}",
        f"cpu: {cpu} | cores: {env['cores']} | threads: {env['threads']} (rnnfast, torch, "
        f"numpy's BLAS{blas})" + (f" | isa: {env['isa']}" if env.get("isa") else ""),
        f"torch {env['torch']} | numpy {env['numpy']} | python {env['python']}"
        + (f" | load average {load[0]:.2f}" if load else ""),
    ]
    if opts["check_only"]:
        lines.append("check only: the tiny size, data in a fixed order, one epoch each; the "
                     "times are not the benchmark")
    else:
        lines.append(f"{opts['warmup']} warm-up epoch(s), then {opts['repeats']} interleaved "
                     f"epochs each (rnnfast, torch, rnnfast, ...); medians")
    return "\n".join(lines)


def table_header():
    return _fmt_row([c for c, _, _ in _COLS]) + "\n" + _fmt_row(["-" * w for _, w, _ in _COLS])


def row(res):
    if res.get("skipped"):
        return f"{res['name']:<20}  skipped: {res['reason']} ({res['pip']})"
    chk = res.get("check")
    verdict = "-" if chk is None else ("ok" if chk["ok"] else "FAIL")
    r, t = res["rnnfast"], res["torch"]
    return _fmt_row([res["name"], res["steps"], f"{r['median']:.3f}", f"{t['median']:.3f}",
                     f"{res['ratio']:.2f}", f"{r['final_loss']:.4f}", f"{t['final_loss']:.4f}",
                     res["port_lines"], verdict])


def footer(rep):
    lines = []
    n = len(rep["programs"])
    if rep.get("geomean_ratio") is not None:
        lines.append(f"geometric mean of the ratios: {rep['geomean_ratio']:.2f} over {n} "
                     f"program(s)")
    lines.append("ratio: torch s/epoch / rnnfast s/epoch (above 1: rnnfast faster); loss: the "
                 "last epoch's mean; port: lines of the rnnfast version that differ from the "
                 "torch twin beyond the imports; check: the tiny size's per-step losses agree "
                 f"(first step within {FIRST_STEP_RTOL:g}, every step within {STEPS_RTOL:g}, "
                 "relative)")
    env = rep["environment"]
    loads = [v[0] for v in (env.get("load_average_start"), env.get("load_average_end")) if v]
    if loads:
        lines.append(f"load average (1 min) at the start {loads[0]:.2f}, at the end "
                     f"{loads[-1]:.2f}")
        # At the start the load is others' (and what is left of an earlier run); at the end it
        # includes this run's own threads, up to their count.
        busy = [loads[0] - (env["cores_available"] - env["threads"]),
                loads[-1] - env["cores_available"]]
        if max(busy) > 0.5:
            lines.append(f"warning: other processes were using the cores (load average "
                         f"{max(loads):.2f} on {env['cores_available']} cores, {env['threads']} "
                         f"thread(s) here): times are inflated, most for thread teams that "
                         f"wait at barriers; compare ratios within one run only")
    for s in rep["skipped"]:
        lines.append(f"skipped {s['name']}: {s['reason']}; {s['pip']}")
    for f in rep["failures"]:
        lines.append(f"CHECK FAILED {f}")
    return "\n".join(lines)


def table(rep):
    """The whole report as text: header, table, footer."""
    rows = [row(r) for r in rep["programs"]] + [row(dict(s, skipped=True))
                                               for s in rep["skipped"]]
    return "\n".join([header(rep), "", table_header(), *rows, "", footer(rep)])


def _jsonable(o):
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def write_json(rep, path):
    """The report as JSON: environment, options, programs (per framework: every timed epoch's
    seconds, the median, every epoch's mean loss), skipped, failures, geomean_ratio."""
    with open(path, "w", encoding="utf-8") as f:
        json.dump(rep, f, indent=1, default=_jsonable)
        f.write("\n")


# ----------------------------------------------------------------------------- command line

# Options of the kernel suite that mean nothing with --programs: (attribute, flag).
_KERNEL_ONLY = (("quick", "--quick"), ("full", "--full"), ("cells", "--cells"),
                ("sizes", "--sizes"), ("plot", "--plot"), ("no_memory", "--no-memory"),
                ("no_reference", "--no-reference"), ("no_torch", "--no-torch"),
                ("no_onnxruntime", "--no-onnxruntime"))


def main(args):
    """``python -m rnnfast --programs ...`` from the parsed options (cli.build_parser).
    Returns the exit status: 0 success, 1 a check failed, 2 torch missing or a wrong option."""
    def error(msg):
        print(f"error: {msg}", file=sys.stderr)
        return 2

    for attr, flag in _KERNEL_ONLY:
        if getattr(args, attr, None):
            return error(f"{flag} applies to the kernel benchmark, not to --programs")
    names = []
    for v in args.programs:
        names += [p for p in v.split(",") if p]
    threads = None
    if args.threads:
        values = [p for v in args.threads for p in v.split(",") if p]
        if len(values) != 1:
            return error(f"--threads: --programs runs at one thread count, got {values}")
        try:
            threads = int(values[0])
        except ValueError:
            return error(f"--threads: expected an int, got {values[0]!r}")
    repeats = 5 if args.repeats is None else args.repeats

    def on_result(rep, res):
        if not printed:
            print(header(rep))
            print()
            print(table_header())
            printed.append(True)
        print(row(res), flush=True)
        if res.get("profile_rnnfast"):
            print(f"  cProfile of one more rnnfast epoch of {res['name']} (top entries by own "
                  f"time):")
            print("\n".join("    " + ln for ln in res["profile_rnnfast"].splitlines()),
                  flush=True)

    printed = []
    try:
        rep = run(names, args.programs_dir, threads, repeats=repeats, warmup=args.warmup,
                  seed=args.seed, check=not args.no_check, check_only=args.check,
                  settle=args.settle / 1e3, profile=args.profile, on_result=on_result)
    except ImportError as e:
        return error(str(e))
    except (ValueError, FileNotFoundError) as e:
        return error(str(e))
    if not printed:
        print(header(rep))
    print()
    print(footer(rep))
    if args.json:
        write_json(rep, args.json)
        print(f"wrote {args.json}")
    return 1 if rep["failures"] else 0
