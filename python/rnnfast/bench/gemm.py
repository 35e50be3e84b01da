"""The machine's float32 matrix-product (GEMM) rate, the yardstick of the "% GEMM" column.

A case's forward call is worth, in FLOPs, the product [T*B x (I+H)] @ [(I+H) x G*H] per layer
and direction (suite.gemm_shapes). This module times that product, C = A @ B into a
preallocated C, with every GEMM at hand at the case's thread count and takes the fastest per
shape: rnnfast's own packed micro-kernels (rnnfast._core.matmul, the GEMM the cells are built
on), torch.matmul under torch.set_num_threads(n) when torch is importable (and not switched
off with --no-torch), and numpy.matmul, whose BLAS thread count cannot be set without extra
packages (threadpoolctl), so it runs at NumPy's default threads whatever the case's count
(which can only raise the yardstick). On the 2-core Zen 5 machine torch's MKL and NumPy's
OpenBLAS both run AVX2 kernels (about 110 and 125 GFLOP/s per core) while rnnfast's AVX-512
kernels reach about 245 (the FMA peak measured there is 264): the yardstick is rnnfast's own.
Each shape is timed with suite.time_tasks (warm-up, then the median of ``repeats`` samples) and
measured once per (library, shape, threads) in a run.

For a stacked cell (lstm_2x_bi: the first layer's K = I+H, the second's 2H+H) the rate is the
FLOP-weighted mix: total FLOPs / the sum over the products of FLOPs / that shape's best rate,
i.e. the rate at which the best GEMM would do all of the case's products.

What it does not do: no search over layouts, no float64.
"""

from __future__ import annotations

import numpy as np

from . import peers

__all__ = ["describe", "libraries", "measure_one", "rate"]


def libraries(use_torch=True):
    """The GEMMs to time: rnnfast's, torch's when wanted and importable, and numpy's."""
    libs = ["rnnfast"]
    if use_torch and peers.torch_version() is not None:
        libs.append("torch")
    return tuple(libs + ["numpy"])


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
            "threads_set": False}


def measure_one(lib, m, k, n, threads, repeats=5, min_sample=0.002, settle=0.5, seed=0):
    """GFLOP/s of C[m,n] = A[m,k] @ B[k,n] (float32) with lib at ``threads`` threads (rnnfast,
    torch; numpy's BLAS threads are left as they are). The median of ``repeats`` samples."""
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
    try:
        # 3 warm-up calls: the first one pays the library's set-up, and the fastest of them
        # sets how many calls one sample makes.
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
