"""The installed C++ package: build and install the library with CMake (RNNFAST_PYTHON=OFF),
build examples/cpp against it with find_package(rnnfast), run the LSTM example and compare
every array it prints with rnnfast.reference (float32 kernels against the float64 oracle).

It does not test the Python module; it needs a cmake executable (PATH or the `cmake` package)
and skips cleanly without one.
"""

import os
import sys

import numpy as np
import pytest

from rnnfast import reference

from _problems import tol
from _tools import REPO, cmake_or_skip, find_program, pyproject_version, run

EXAMPLE = os.path.join(REPO, "examples", "cpp")

# float32 kernel against the float64 reference; ATOL is scaled by the array's magnitude.
RTOL = tol(np.float32)["rtol"]
ATOL = tol(np.float32)["atol"]
def _parse(text):
    """`name [d0,d1,...] v0 v1 ...` lines -> arrays; other lines (dims, lengths, error) kept raw."""
    arrays, meta = {}, {}
    for line in text.splitlines():
        if not line.strip():
            continue
        name, _, rest = line.partition(" ")
        if rest.startswith("["):
            shape_str, _, values = rest.partition("]")
            shape = tuple(int(s) for s in shape_str[1:].split(",") if s)
            arr = np.array([float(v) for v in values.split()], dtype=np.float64)
            assert arr.size == int(np.prod(shape)), f"{name}: {arr.size} values for shape {shape}"
            arrays[name] = arr.reshape(shape)
        else:
            meta[name] = rest
    return arrays, meta


def _inputs(T, B, I, H):
    """The example's inputs, by the formulas at the top of lstm_example.cc (double, then float)."""
    G = 4

    def make(shape, f):
        n = np.arange(int(np.prod(shape)), dtype=np.float64)
        return f(n).astype(np.float32).astype(np.float64).reshape(shape)

    return dict(
        x=make((T, B, I), lambda n: np.sin(0.37 * n + 0.1)),
        w_ih=make((G * H, I), lambda n: 0.3 * np.cos(0.11 * n + 0.2)),
        w_hh=make((G * H, H), lambda n: 0.3 * np.sin(0.07 * n + 0.5)),
        b_ih=make((G * H,), lambda n: 0.1 * np.cos(0.5 * n)),
        b_hh=make((G * H,), lambda n: 0.1 * np.sin(0.3 * n + 1.0)),
        h0=make((B, H), lambda n: 0.2 * np.sin(0.9 * n)),
        c0=make((B, H), lambda n: 0.2 * np.cos(0.8 * n)),
        dy=make((T, B, H), lambda n: np.cos(0.23 * n + 0.4)),
        dh_n=make((B, H), lambda n: 0.5 * np.sin(0.41 * n)),
        dc_n=make((B, H), lambda n: 0.5 * np.cos(0.29 * n)),
    )


def _mismatch(name, got, want):
    """None if ``got`` matches ``want`` within the named tolerances, else a one-line report."""
    if got.shape != want.shape:
        return f"{name}: shape {got.shape} != reference {want.shape}"
    scale = max(1.0, float(np.max(np.abs(want))) if want.size else 1.0)
    err = np.abs(got - want)
    bound = ATOL * scale + RTOL * np.abs(want)
    if bool(np.all(err <= bound)):
        return None
    worst = int(np.argmax(err - bound))
    return (f"{name}: max |diff| {err.max():.3g}, worst at flat index {worst}: got "
            f"{got.flat[worst]:.9g}, reference {want.flat[worst]:.9g} "
            f"(allowed {ATOL:g}*{scale:.3g} + {RTOL:g}*|ref|)")


@pytest.fixture(scope="module", params=["openmp", "no-openmp"])
def example_output(request, tmp_path_factory):
    """Build + install the library (with OpenMP, and with it switched off: the build must still
    succeed, single-threaded), then build and run the example against the installed package."""
    cmake, gen = cmake_or_skip()
    tmp = tmp_path_factory.mktemp("cpp_package")
    lib_build, prefix, ex_build = tmp / "build", tmp / "prefix", tmp / "build-example"

    openmp = "ON" if request.param == "openmp" else "OFF"
    run([cmake, "-S", REPO, "-B", str(lib_build), *gen, "-DRNNFAST_PYTHON=OFF",
         f"-DRNNFAST_OPENMP={openmp}",
         "-DCMAKE_BUILD_TYPE=Release", f"-DCMAKE_INSTALL_PREFIX={prefix}"])
    run([cmake, "--build", str(lib_build), "--config", "Release", "-j2"])
    run([cmake, "--install", str(lib_build), "--config", "Release"])

    run([cmake, "-S", EXAMPLE, "-B", str(ex_build), *gen, "-DCMAKE_BUILD_TYPE=Release",
         f"-DCMAKE_PREFIX_PATH={prefix}"])
    run([cmake, "--build", str(ex_build), "--config", "Release", "-j2"])

    arrays, meta = _parse(run([find_program(str(ex_build), "lstm_example")]))
    if openmp == "OFF":
        assert meta.get("openmp") == "0", f"RNNFAST_OPENMP=OFF but the library reports {meta!r}"
    return arrays, meta


def test_example_matches_reference(example_output):
    arrays, meta = example_output
    T, B, I, H = (int(v) for v in meta["dims"].split())
    lengths = np.array([int(v) for v in meta["lengths"].split()], dtype=np.int64)
    assert lengths.shape == (B,)
    inp = _inputs(T, B, I, H)

    y, h_n, c_n, cache = reference.forward(
        "lstm", inp["x"], inp["w_ih"], inp["w_hh"], inp["b_ih"], inp["b_hh"],
        h0=inp["h0"], c0=inp["c0"], lengths=lengths,
    )
    grads = reference.backward(cache, dy=inp["dy"], dh_n=inp["dh_n"], dc_n=inp["dc_n"])

    want = {
        "y": y, "h_n": h_n, "c_n": c_n,
        "dx": grads["dx"], "dh0": grads["dh0"], "dc0": grads["dc0"],
        "dw_ih": grads["w_ih"], "dw_hh": grads["w_hh"],
        "db_ih": grads["b_ih"], "db_hh": grads["b_hh"],
    }
    assert set(arrays) == set(want), f"printed {sorted(arrays)}, expected {sorted(want)}"
    bad = [_mismatch(name, arrays[name], np.asarray(ref, dtype=np.float64))
           for name, ref in want.items()]
    bad = [b for b in bad if b]
    assert not bad, "C++ example differs from rnnfast.reference:\n" + "\n".join(bad)

    # Packed-sequence semantics, independent of the reference: nothing past each sequence's end.
    for b, L in enumerate(lengths):
        assert np.all(arrays["y"][L:, b] == 0.0), f"y[{L}:, {b}] is not zero"


def test_example_reports_invalid_argument(example_output):
    _, meta = example_output
    assert "error" in meta, "the example printed no caught std::invalid_argument"
    msg = meta["error"]
    assert "lengths" in msg, f"message does not name the bad argument: {msg!r}"
    assert "7" in msg, f"message does not give the bad value 7: {msg!r}"


def test_example_version(example_output):
    """A plain CMake build takes its version from pyproject.toml, as the Python build does."""
    _, meta = example_output
    assert meta.get("version", "").strip() == pyproject_version()


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q"]))
