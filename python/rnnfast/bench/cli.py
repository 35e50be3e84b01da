"""Command line of the benchmark suite: ``python -m rnnfast [options]``.

With no options it runs the quick default (QUICK_CASES). It prints the table as cases finish,
optionally writes JSON, and exits 0 on success, 1 when a result check failed, 2 when rnnfast
itself cannot run (e.g. the C++ module is not built).
"""

from __future__ import annotations

import argparse
import sys

from . import report, suite

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
    p = argparse.ArgumentParser(
        prog="python -m rnnfast",
        description="Benchmark rnnfast's fused RNN/LSTM/GRU kernels against the NumPy reference, "
                    "torch and onnxruntime (when installed): results are checked first, then "
                    "inference and training steps are timed with interleaved repeats.",
        epilog=f"Sizes (T x B x I x H): {sizes}; or any TxBxIxH. Quick default: {quick}.")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_true",
                      help="the quick default (well under a minute on 2 cores)")
    mode.add_argument("--full", action="store_true",
                      help=f"every cell at every size ({', '.join(suite.DEFAULT_SIZES)})")
    p.add_argument("--cells", nargs="+", metavar="CELL",
                   help=f"cells to run, from {', '.join(suite.CELLS)} (comma or space separated)")
    p.add_argument("--sizes", nargs="+", metavar="SIZE",
                   help="size names or TxBxIxH (comma or space separated)")
    p.add_argument("--threads", nargs="+", metavar="N",
                   help="thread counts for rnnfast and the peers (default: rnnfast's current)")
    p.add_argument("--repeats", type=int, default=7,
                   help="timed rounds per case (default 7); medians are reported")
    p.add_argument("--warmup", type=int, default=1, help="warm-up calls per implementation")
    p.add_argument("--settle", type=float, default=500.0, metavar="MS",
                   help="before switching implementations, wait up to MS for the previous "
                        "one's spinning threads to go idle (default 500; 0 = no wait)")
    p.add_argument("--json", metavar="PATH", help="also write all results as JSON to PATH")
    p.add_argument("--no-reference", action="store_true",
                   help="skip the NumPy reference (slow at large sizes): no numpy column, "
                        "rnnfast is checked against torch only")
    p.add_argument("--no-torch", action="store_true", help="skip torch (and onnxruntime)")
    p.add_argument("--no-onnxruntime", action="store_true", help="skip onnxruntime")
    p.add_argument("--no-check", action="store_true", help="time without checking results")
    p.add_argument("--seed", type=int, default=0, help="seed of the random inputs and weights")
    return p


def _select(args):
    """(cells, sizes, cases) for suite.run from the options."""
    cells = _list(args.cells) if args.cells else None
    sizes = _list(args.sizes) if args.sizes else None
    if args.full:
        return cells or list(suite.CELLS), sizes or list(suite.DEFAULT_SIZES), None
    if sizes is None:  # quick default, possibly narrowed to some cells
        cases = [(c, s) for c, s in suite.QUICK_CASES if cells is None or c in cells]
        extra = [c for c in cells or [] if c not in {c for c, _ in suite.QUICK_CASES}]
        if extra:
            raise ValueError(f"cell: expected one of {suite.CELLS}, got {extra[0]!r}")
        return None, None, cases
    return cells or list(suite.CELLS), sizes, None


def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
        cells, sizes, cases = _select(args)
        threads = [int(t) for t in _list(args.threads)] if args.threads else None
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2

    impls_printed = []

    def on_case(rep, case):
        if not impls_printed:
            print(report.header(rep))
            print()
            print(report.table_header(rep["implementations"]))
            impls_printed.append(True)
        for row in report.case_rows(case, rep["implementations"]):
            print(row, flush=True)

    try:
        rep = suite.run(cells, sizes, threads, repeats=args.repeats, warmup=args.warmup,
                        reference=not args.no_reference, torch=not args.no_torch,
                        onnxruntime=not args.no_onnxruntime, check=not args.no_check,
                        settle=args.settle / 1e3, seed=args.seed, keep_going=True, cases=cases,
                        on_case=on_case)
    except ImportError as e:
        print(f"error: rnnfast cannot run ({e}); is the C++ module built and installed?",
              file=sys.stderr)
        return 2
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(report.footer(rep))
    if args.json:
        report.write_json(rep, args.json)
        print(f"wrote {args.json}")
    return 1 if rep["failures"] else 0
