"""The rnnfast benchmark suite: rnnfast against the NumPy reference, torch and onnxruntime.

Every case checks results first (rnnfast against the NumPy reference and torch), then times
inference and one training step (forward + BPTT) of every implementation with interleaved
repeats, at 1 thread and at all cores, and reports medians, GFLOP/s, the percentage of the
machine's GEMM rate (gemm.py) and speedups; then the peak memory of a training step against
torch's (memory.py); optionally a PNG chart (plot.py). ``python -m rnnfast`` runs the quick
default; ``python -m rnnfast --help`` lists the options. Programmatic use::

    from rnnfast import bench
    report = bench.run(cells=["lstm", "lstm_2x_bi"], sizes=["small"], repeats=5)
    bench.plot.plot(report, "speedup.png")  # needs matplotlib

torch and onnxruntime are optional: their columns appear only when they can be imported.
"""

from .cli import main
from .suite import CELLS, QUICK_CASES, SIZES, MismatchError, flops, run

__all__ = ["CELLS", "QUICK_CASES", "SIZES", "MismatchError", "flops", "main", "run"]
