"""Plumbing shared by the examples (not part of rnnfast): command-line options, the output
folder, optional matplotlib, a data-package check, and the final machine-readable RESULT line
that tests/test_examples.py reads. Each example stays readable on its own; only this
boilerplate lives here.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import sys
import time

import numpy as np

import rnnfast


EXAMPLES = pathlib.Path(__file__).resolve().parent


def parser(doc: str, name: str) -> argparse.ArgumentParser:
    """An ArgumentParser with the options every example has."""
    p = argparse.ArgumentParser(description=doc.strip().splitlines()[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true",
                   help="a short run (seconds) that still shows learning")
    p.add_argument("--epochs", type=int, default=None, help="override the number of epochs")
    p.add_argument("--seed", type=int, default=0, help="seed of every random draw")
    p.add_argument("--threads", type=int, default=None,
                   help="kernel threads (default: rnnfast's, OMP_NUM_THREADS or all cores)")
    p.add_argument("--out", type=pathlib.Path, default=EXAMPLES / "output" / name,
                   help=f"folder for plots and samples (default: examples/output/{name})")
    p.add_argument("--no-plots", action="store_true", help="skip the PNG plots")
    return p


def setup(args) -> np.random.Generator:
    """Seed rnnfast and return a NumPy generator for the data; set threads; make --out."""
    rnnfast.manual_seed(args.seed)
    if args.threads:
        rnnfast.set_num_threads(args.threads)
    args.out.mkdir(parents=True, exist_ok=True)
    print(f"rnnfast {rnnfast.__version__}, {rnnfast.get_num_threads()} thread(s), "
          f"{'quick' if args.quick else 'full'} run, output in {args.out}")
    return np.random.default_rng(args.seed)


def load(loader, *args, **kwargs):
    """Call a rnnfast.datasets loader; a missing data package ends the program with the pip
    command instead of a traceback."""
    try:
        return loader(*args, **kwargs)
    except ModuleNotFoundError as e:
        sys.exit(f"{loader.__name__}: {e}")


def pyplot(args):
    """matplotlib.pyplot with a file-only backend, or None (with a note) when it is missing
    or --no-plots was given."""
    if args.no_plots:
        return None
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("note: matplotlib is not installed, so no plots (pip install matplotlib)")
        return None
    return plt


class Timer:
    def __init__(self):
        self.start = time.perf_counter()

    def __call__(self) -> float:
        return time.perf_counter() - self.start


def result(**values):
    """Print the final machine-readable line: RESULT {json}."""
    clean = {k: (round(float(v), 6) if isinstance(v, (float, np.floating)) else v)
             for k, v in values.items()}
    print("RESULT " + json.dumps(clean), flush=True)
