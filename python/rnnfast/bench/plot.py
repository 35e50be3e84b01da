"""The benchmark chart: rnnfast's speedup over each peer, as a PNG (``--plot PATH``).

Two panels, inference and training step; one group of bars per case (cell, size, threads),
one bar per peer (torch, onnxruntime, numpy) with the peer's median time over rnnfast's, on a
log scale with a line at 1x (above it rnnfast is faster). matplotlib is an optional extra
(``pip install 'rnnfast[plot]'``): without it, plot() raises PlotUnavailable with that advice.
It draws through matplotlib's object API and the Agg canvas only, so it never touches pyplot's
global state or needs a display.

What it does not do: no absolute times or GFLOP/s (they are in the table and the JSON).
"""

from __future__ import annotations

import math

__all__ = ["PEERS", "PlotUnavailable", "plot"]

PEERS = ("torch", "onnxruntime", "numpy")
_COLORS = {"torch": "#d95f02", "onnxruntime": "#7570b3", "numpy": "#1b9e77"}


class PlotUnavailable(ImportError):
    """matplotlib is not installed."""


def plot(rep, path):
    """Write the speedup chart of a run() report to ``path`` (PNG). Returns ``path``."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as e:
        raise PlotUnavailable(
            f"the chart needs matplotlib, which is not installed ({e}); install it with "
            "pip install 'rnnfast[plot]' (or pip install matplotlib)") from None

    cases = rep["cases"]
    peers = [p for p in PEERS if any(p in c["speedup"] for c in cases)]
    labels = [f"{c['cell']}\n{c['size']}\n{c['threads']} thr" for c in cases]
    n = max(1, len(cases))
    fig = Figure(figsize=(max(7.0, 0.75 * n + 2.0), 7.5), dpi=110)
    FigureCanvasAgg(fig)
    axes = fig.subplots(2, 1, sharex=True)
    width = 0.8 / max(1, len(peers))
    for ax, phase, title in zip(axes, ("infer", "train"),
                                ("inference", "training step (forward + backward)")):
        values = []  # every bar's height, for the limits and the legend
        for j, peer in enumerate(peers):
            xs, ys = [], []
            for i, c in enumerate(cases):
                s = c["speedup"].get(peer, {}).get(phase)
                if s is not None and s > 0 and math.isfinite(s):
                    xs.append(i - 0.4 + width * (j + 0.5))
                    ys.append(s)
            values += ys
            if xs:
                ax.bar(xs, ys, width=width * 0.95, label=peer, color=_COLORS.get(peer))
        ax.axhline(1.0, color="black", linewidth=1.0)
        ax.set_yscale("log")
        if values:
            lo, hi = min(values + [1.0]), max(values + [1.0])
            ax.set_ylim(lo / 1.5, hi * 1.5)
        ax.set_ylabel("speedup (peer ms / rnnfast ms)")
        ax.set_title(f"rnnfast's speedup, {title}: above 1x rnnfast is faster", fontsize=10)
        ax.grid(axis="y", which="both", alpha=0.3)
        if values:
            ax.legend(fontsize=8, loc="upper right")
    axes[-1].set_xticks(range(len(cases)))
    axes[-1].set_xticklabels(labels, fontsize=7)
    env = rep.get("environment", {})
    fig.suptitle(f"rnnfast {env.get('rnnfast', '')} benchmark, {env.get('cpu', '')}, "
                 f"{env.get('date', '')}", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, format="png")
    return path
