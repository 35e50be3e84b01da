"""Command line of the benchmark suite: ``python -m rnnfast [options]``.

With no options it runs the quick default (QUICK_CASES at 1 thread and at all cores). It prints
the table as cases finish, then the peak-memory table, optionally writes JSON and a PNG chart,
and exits 0 on success, 1 when a result check failed, 2 when rnnfast itself cannot run (e.g. the
C++ module is not built) or an option is wrong.

With ``--programs [NAMES...]`` it runs the programs benchmark instead (programs.py: whole
training programs against their plain-PyTorch twins), with the same exit codes.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys

from . import plot, programs, report, suite

__all__ = ["build_parser", "main"]


def _list(values):
    """Flatten "a,b c" style option values into ["a", "b", "c"]."""
    out = []
    for v in values:
        out += [p for p in v.split(",") if p]
    return out


def build_parser():
    sizes = ", ".join(f"{k} {'x'.join(map(str, v))}" for k, v in suite.SIZES.items())
    quick = ", ".join(f"{c}/{s}" for c, s in suite.QUICK_CASES)
    cores = suite.all_cores()
    p = argparse.ArgumentParser(
        prog="python -m rnnfast",
        description="Benchmark rnnfast's fused RNN/LSTM/GRU kernels against the NumPy reference, "
                    "torch and onnxruntime (when installed): results are checked first, then "
                    "inference and training steps are timed with interleaved repeats, at 1 "
                    "thread and at all cores; rnnfast's GFLOP/s are also given as a percentage "
                    "of the machine's float32 GEMM rate, and the peak memory of a training step "
                    "is measured against torch's.",
        epilog=f"Cells: lstm, gru, rnn_tanh (one layer, one direction); lstm_2x_bi (a 2-layer "
               f"bidirectional LSTM, nn.LSTM(I, H, num_layers=2, bidirectional=True); its "
               f"default size is medium); gru_bi and gru_bi_final (a bidirectional GRU, the loss "
               f"on every output or on h_n only; size classifier); lstm_ragged (lengths uniform "
               f"in [1, T], torch through a PackedSequence; size long, beside lstm at the same "
               f"size). Sizes (T x B x I x H): {sizes}; or any TxBxIxH. "
               f"Quick default: {quick}, at 1 thread and at all cores ({cores} here), "
               f"except lstm/medium, which runs at all cores only: at 1 thread too it would "
               f"take the run past a minute on 2 cores (about 45 s on an idle 2-core VM). Peak "
               f"memory: one fresh process per implementation and (cell, size), after the timing; "
               f"in the quick default only for lstm/medium (about 3 s), otherwise for every "
               f"(cell, size) run (about 2 s each with torch).")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_true",
                      help="the quick default (see below; under a minute on 2 cores)")
    mode.add_argument("--full", action="store_true",
                      help=f"lstm, gru and rnn_tanh at every size "
                           f"({', '.join(suite.DEFAULT_SIZES)}) and lstm_2x_bi at medium")
    p.add_argument("--cells", nargs="+", metavar="CELL",
                   help=f"cells to run, from {', '.join(suite.CELLS)} (comma or space "
                        f"separated); without --sizes, their quick-default sizes (lstm_2x_bi: "
                        f"medium)")
    p.add_argument("--sizes", nargs="+", metavar="SIZE",
                   help="size names or TxBxIxH (comma or space separated)")
    p.add_argument("--threads", nargs="+", metavar="N",
                   help=f"thread counts for rnnfast, the peers and the GEMM rate, one pass over "
                        f"the cases each (default: 1 and all cores, here "
                        f"{','.join(map(str, suite.default_threads()))})")
    p.add_argument("--repeats", type=int, default=None,
                   help="timed rounds per case (default 7; with --programs, epochs per "
                        "framework, default 5); medians are reported")
    p.add_argument("--warmup", type=int, default=1, help="warm-up calls per implementation")
    p.add_argument("--settle", type=float, default=500.0, metavar="MS",
                   help="before switching implementations, wait up to MS for the previous "
                        "one's spinning threads to go idle (default 500; 0 = no wait)")
    p.add_argument("--json", metavar="PATH", help="also write all results as JSON to PATH")
    p.add_argument("--plot", metavar="PATH",
                   help="also write a PNG chart of rnnfast's speedup over each peer, per case, "
                        "inference and training panels (needs matplotlib: pip install "
                        "'rnnfast[plot]'); not written unless asked for")
    p.add_argument("--no-memory", action="store_true",
                   help="skip the peak-memory measurement of a training step")
    p.add_argument("--no-reference", action="store_true",
                   help="skip the NumPy reference (slow at large sizes): no numpy column, "
                        "rnnfast is checked against torch only")
    p.add_argument("--no-torch", action="store_true",
                   help="skip torch (and onnxruntime); the GEMM rate then comes from numpy")
    p.add_argument("--no-onnxruntime", action="store_true", help="skip onnxruntime")
    p.add_argument("--no-check", action="store_true", help="time without checking results")
    p.add_argument("--seed", type=int, default=0, help="seed of the random inputs and weights")
    prog = p.add_argument_group(
        "programs, not kernels",
        "--programs times whole training programs instead of kernels: each example's training "
        "loop at a fixed size (benchmarks/programs/), rnnfast against its plain-PyTorch twin "
        "with the same data, model, initial weights, batch, optimizer and loss. Both are "
        "checked first at a tiny size (same per-step losses), then epochs of each are timed "
        "interleaved after --warmup epochs; the table gives seconds per epoch (medians), "
        "their ratio and the final losses, then the geometric mean of the ratios. --threads "
        "N sets rnnfast's, torch's and numpy's BLAS threads (default all cores); --repeats, "
        "--warmup, --settle, --seed, --no-check and --json apply. Needs torch.")
    prog.add_argument("--programs", nargs="*", metavar="NAME",
                      help="run these programs (default: all; comma or space separated)")
    prog.add_argument("--programs-dir", metavar="DIR",
                      help="the programs' directory (default: benchmarks/programs under the "
                           "current directory, else under rnnfast's checkout)")
    prog.add_argument("--check", action="store_true",
                      help="with --programs: only the check, at the tiny size (one short epoch "
                           "of each framework, data in a fixed order); seconds")
    prog.add_argument("--profile", type=int, default=0, metavar="N",
                      help="with --programs: after the timing, one more rnnfast epoch of each "
                           "program under cProfile; print its top N entries")
    return p


def _select(args):
    """(cells, sizes, cases, memory_cases, top_threads_only) for suite.run from the options;
    all None for the quick default; otherwise memory_cases None means every (cell, size)."""
    cells = _list(args.cells) if args.cells else None
    sizes = _list(args.sizes) if args.sizes else None
    for c in cells or []:
        if c not in suite.CELLS:
            raise ValueError(f"cell: expected one of {suite.CELLS}, got {c!r}")
    if args.full:
        return cells or list(suite.CELLS), sizes, None, None, ()
    if sizes is None:
        if cells is None:  # the quick default: run() applies its rules (QUICK_*)
            return None, None, None, None, None
        quick = {c for c, _ in suite.QUICK_CASES}
        cases = [(c, s) for c, s in suite.QUICK_CASES if c in cells]
        cases += [(c, s) for c in cells if c not in quick
                  for s in suite.CELL_SIZES.get(c, suite.DEFAULT_SIZES)]
        return None, None, cases, None, ()
    return cells or list(suite.CELLS), sizes, None, None, ()


def main(argv=None):
    args = build_parser().parse_args(argv)
    if args.programs is not None:
        return programs.main(args)
    for flag in ("programs_dir", "check", "profile"):
        if getattr(args, flag):
            print(f"error: --{flag.replace('_', '-')} applies only with --programs",
                  file=sys.stderr)
            return 2
    if args.repeats is None:
        args.repeats = 7
    try:
        cells, sizes, cases, memory_cases, top_only = _select(args)
        threads = [int(t) for t in _list(args.threads)] if args.threads else None
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if args.plot and importlib.util.find_spec("matplotlib") is None:
        print("warning: --plot needs matplotlib (pip install 'rnnfast[plot]'): the benchmark "
              "runs, no chart will be written", file=sys.stderr)

    impls_printed = []

    def on_case(rep, case):
        if not impls_printed:
            print(report.header(rep))
            print()
            print(report.table_header(rep["implementations"]))
            impls_printed.append(True)
        for row in report.case_rows(case, rep["implementations"]):
            print(row, flush=True)

    memory = False if args.no_memory else (True if memory_cases is None else memory_cases)
    try:
        rep = suite.run(cells, sizes, threads, repeats=args.repeats, warmup=args.warmup,
                        reference=not args.no_reference, torch=not args.no_torch,
                        onnxruntime=not args.no_onnxruntime, check=not args.no_check,
                        settle=args.settle / 1e3, seed=args.seed, keep_going=True, cases=cases,
                        on_case=on_case, memory=memory, top_threads_only=top_only)
    except ImportError as e:
        print(f"error: rnnfast cannot run ({e}); is the C++ module built and installed?",
              file=sys.stderr)
        return 2
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    mem = report.memory_table(rep)
    if mem:
        print()
        print("\n".join(mem))
    print(report.footer(rep))
    if args.json:
        report.write_json(rep, args.json)
        print(f"wrote {args.json}")
    if args.plot:
        try:
            plot.plot(rep, args.plot)
        except plot.PlotUnavailable as e:
            print(f"warning: no chart written: {e}", file=sys.stderr)
        else:
            print(f"wrote {args.plot}")
    return 1 if rep["failures"] else 0
