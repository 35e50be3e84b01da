"""The rnnfast benchmark suite: rnnfast against the NumPy reference, torch and onnxruntime.

Every case checks results first (rnnfast against the NumPy reference and torch), then times
inference and one training step (forward + BPTT) of every implementation with interleaved
repeats, and reports medians, GFLOP/s and speedups. ``python -m rnnfast`` runs the quick default;
``python -m rnnfast --help`` lists the options. Programmatic use::

    from rnnfast import bench
    report = bench.run(cells=["lstm"], sizes=["small"], repeats=5)

torch and onnxruntime are optional: their columns appear only when they can be imported.
"""

from .cli import main
from .suite import CELLS, QUICK_CASES, SIZES, MismatchError, flops, run

__all__ = ["CELLS", "QUICK_CASES", "SIZES", "MismatchError", "flops", "main", "run"]
