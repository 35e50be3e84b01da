"""The machine's float32 matrix-product (GEMM) rate, the yardstick of the "% GEMM" column.

A case's forward call is worth, in FLOPs, the product [T*B x (I+H)] @ [(I+H) x G*H] per layer
and direction (suite.gemm_shapes). This module times that product, C = A @ B into a
preallocated C, with every GEMM at hand at the case's thread count and takes the fastest per
shape: rnnfast's own packed micro-kernels (rnnfast._core.matmul, the GEMM the cells are built
on), torch.matmul under torch.set_num_threads(n) when torch is importable (and not switched
off with --no-torch), and numpy.matmul: its BLAS threads are limited to n with threadpoolctl
when that is installed (the bench extra); without it numpy's thread count cannot be set, so
numpy takes part only at the thread count its BLAS runs at anyway (OPENBLAS_NUM_THREADS,
OMP_NUM_THREADS, else every core): a 2-thread numpy must not be the yardstick of a 1-thread
case. Which library is fastest depends on the CPU: MKL and OpenBLAS pick AVX2 or AVX-512
kernels by CPU model (rates measured on the project's machines: docs/ARCHITECTURE.md).
Each shape is timed with suite.time_tasks (warm-up, then the median of ``repeats`` samples) and
measured once per (library, shape, threads) in a run.

For a stacked cell (lstm_2x_bi: the first layer's K = I+H, the second's 2H+H) the rate is the
FLOP-weighted mix: total FLOPs / the sum over the products of FLOPs / that shape's best rate,
i.e. the rate at which the best GEMM would do all of the case's products.

What it does not do: no search over layouts, no float64.
"""

from __future__ import annotations

import contextlib
import os

import numpy as np

from . import peers

__all__ = ["describe", "libraries", "measure_one", "numpy_default_threads", "rate"]


def _threadpoolctl():
    try:
        import threadpoolctl
    except ImportError:
        return None
    return threadpoolctl


def numpy_default_threads():
    """The threads numpy's BLAS uses when nothing limits it: its own report through
    threadpoolctl when installed, else the environment variables OpenBLAS reads, else every
    core."""
    tpc = _threadpoolctl()
    if tpc is not None:
        counts = [i["num_threads"] for i in tpc.threadpool_info() if i.get("user_api") == "blas"]
        if counts:
            return int(max(counts))
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS"):
        first = os.environ.get(var, "").split(",")[0].strip()
        if first.isdigit() and int(first) > 0:
            return int(first)
    return os.cpu_count() or 1


def libraries(use_torch=True, threads=None):
    """The GEMMs to time at ``threads`` threads (None: every library that may take part at
    some thread count): rnnfast's, torch's when wanted and importable, and numpy's when its
    BLAS threads can be set to ``threads`` (threadpoolctl) or run at that count anyway."""
    libs = ["rnnfast"]
    if use_torch and peers.torch_version() is not None:
        libs.append("torch")
    if threads is None or _threadpoolctl() is not None or int(threads) == numpy_default_threads():
        libs.append("numpy")
    return tuple(libs)


def describe(lib):
    """A human-readable name of a GEMM and whether its thread count is the case's."""
    if lib == "rnnfast":
        import rnnfast
        return {"library": "rnnfast", "function": "rnnfast._core.matmul",
                "version": rnnfast.__version__, "threads_set": True}
    if lib == "torch":
        return {"library": "torch", "function": "torch.matmul", "version": peers.torch_version(),
                "threads_set": True}
    return {"library": "numpy", "function": "numpy.matmul", "version": np.__version__,
            "threads_set": _threadpoolctl() is not None,
            "default_threads": numpy_default_threads()}


def measure_one(lib, m, k, n, threads, repeats=5, min_sample=0.002, settle=0.5, seed=0):
    """GFLOP/s of C[m,n] = A[m,k] @ B[k,n] (float32) with lib at ``threads`` threads (numpy's
    BLAS limited through threadpoolctl when installed, else left as it is). The median of
    ``repeats`` samples."""
    from .suite import time_tasks

    rng = np.random.default_rng(seed)
    a = rng.standard_normal((m, k), dtype=np.float32)
    b = rng.standard_normal((k, n), dtype=np.float32)
    c = np.empty((m, n), dtype=np.float32)
    old = None
    if lib == "rnnfast":
        import rnnfast
        from rnnfast import _core
        old = rnnfast.get_num_threads()
        rnnfast.set_num_threads(int(threads))

        def call():
            _core.matmul(a, b, c)
    elif lib == "torch":
        import torch
        old = torch.get_num_threads()
        torch.set_num_threads(int(threads))
        a, b, c = torch.from_numpy(a), torch.from_numpy(b), torch.from_numpy(c)

        def call():
            torch.matmul(a, b, out=c)
    else:
        def call():
            np.matmul(a, b, out=c)
    tpc = _threadpoolctl() if lib == "numpy" else None
    limit = (tpc.threadpool_limits(limits=int(threads), user_api="blas") if tpc is not None
             else contextlib.nullcontext())
    try:
        # 3 warm-up calls: the first one pays the library's set-up, and the fastest of them
        # sets how many calls one sample makes.
        with limit:
            samples = time_tasks({("gemm", "infer"): call}, repeats, warmup=3,
                                 min_sample=min_sample, settle=settle)
    finally:
        if old is not None:
            if lib == "rnnfast":
                rnnfast.set_num_threads(old)
            else:
                torch.set_num_threads(old)
    return 2.0 * m * k * n / float(np.median(samples[("gemm", "infer")])) / 1e9


def rate(shapes, threads, libs, cache=None, **kw):
    """The GEMM rate for a case's products: shapes [(M, K, N, count)] (suite.gemm_shapes), each
    timed with every library in ``libs`` (see libraries) and rated at the fastest.

    Returns {"gflops": the FLOP-weighted best rate, "threads", "library": the fastest library
    of the case's largest product, "shapes": [{"m", "k", "n", "count", "gflops", "library",
    "by_library": {lib: gflops}}], "libraries": [describe(lib) ...]}. ``cache`` (a dict) keeps
    rates across calls; ``kw`` goes to measure_one.
    """
    cache = {} if cache is None else cache
    libs = (libs,) if isinstance(libs, str) else tuple(libs)
    per, total, seconds = [], 0.0, 0.0
    for m, k, n, count in shapes:
        by = {}
        for lib in libs:
            key = (lib, m, k, n, int(threads))
            if key not in cache:
                cache[key] = measure_one(lib, m, k, n, threads, **kw)
            by[lib] = cache[key]
        best = max(by, key=by.get)
        g = by[best]
        f = 2.0 * m * k * n * count
        total += f
        seconds += f / (g * 1e9)
        per.append({"m": m, "k": k, "n": n, "count": count, "gflops": g, "library": best,
                    "by_library": by})
    biggest = max(per, key=lambda r: r["m"] * r["k"] * r["n"] * r["count"])
    return {"gflops": total / seconds / 1e9, "threads": int(threads),
            "library": biggest["library"], "shapes": per,
            "libraries": [describe(lib) for lib in libs]}
