"""The C++ API test program (tests/cpp/test_api.cc): configure the repository with CMake and
RNNFAST_BUILD_TESTS=ON in a temporary directory, build it, and run it through ctest and
directly: argument validation (std::invalid_argument naming the argument, nothing written),
closed-form cases, float against double, finite differences, accumulation, bitwise thread
independence, NaN/Inf, and std::bad_alloc for impossible sizes followed by working calls; and
the ops' test program (tests/cpp/test_ops.cc) from the same build.

Needs a cmake executable (PATH or the `cmake` package) and skips cleanly without one.
"""

import os
import re
import subprocess

import pytest

from _tools import REPO, STEP_TIMEOUT, cmake_or_skip, find_cmake, find_program, run


@pytest.fixture(scope="module")
def build_dir(tmp_path_factory):
    cmake, gen = cmake_or_skip()
    build = tmp_path_factory.mktemp("cpp_api") / "build"
    run([cmake, "-S", REPO, "-B", str(build), *gen, "-DRNNFAST_PYTHON=OFF",
         "-DRNNFAST_BUILD_TESTS=ON", "-DCMAKE_BUILD_TYPE=Release"])
    run([cmake, "--build", str(build), "--config", "Release", "-j2"])
    return build


def _program(build_dir, group, name="rnnfast_test_api", env=None):
    exe = find_program(str(build_dir), name)
    proc = subprocess.run([exe] + ([group] if group else []), capture_output=True, text=True,
                          timeout=STEP_TIMEOUT, check=False,
                          env=None if env is None else {**os.environ, **env})
    out = proc.stdout + proc.stderr
    m = re.search(r"(\d+) passed, (\d+) failed", out)
    return proc.returncode, out, (int(m.group(1)), int(m.group(2))) if m else None


def test_api_program(build_dir):
    rc, out, counts = _program(build_dir, "all")
    assert rc == 0 and counts is not None and counts[1] == 0, out[-6000:]
    assert counts[0] >= 400, f"only {counts[0]} checks ran:\n{out[-3000:]}"


@pytest.mark.parametrize("split", ["units", "time"])
def test_api_program_under_each_scan_split(build_dir, split):
    """The program again with the scan cells' split forced (RNNFAST_SCAN is read once per
    process): their checks, the streaming one's bitwise or rounding-level equality included,
    under each way of splitting the scan."""
    rc, out, counts = _program(build_dir, "all", env={"RNNFAST_SCAN": split})
    assert rc == 0 and counts is not None and counts[1] == 0, out[-6000:]
    assert counts[0] >= 400, f"only {counts[0]} checks ran:\n{out[-3000:]}"


def test_ops_program(build_dir):
    """tests/cpp/test_ops.cc: the ops' API (rnnfast/ops.h) -- argument checks, accumulation,
    float against double, layouts, closed forms, bitwise thread independence."""
    rc, out, counts = _program(build_dir, None, "rnnfast_test_ops")
    assert rc == 0 and counts is not None and counts[1] == 0, out[-6000:]
    # every group but the threads' runs once per instruction set this CPU has (about 89 checks)
    isas = int(re.search(r"(\d+) instruction sets", out).group(1))
    assert isas >= 1 and counts[0] >= 85 * isas, f"only {counts[0]} checks ran:\n{out[-3000:]}"


def test_api_bad_alloc(build_dir):
    """A work buffer that cannot be allocated throws std::bad_alloc, and the same thread's
    next calls work (a crash here shows as a negative return code: the signal)."""
    rc, out, counts = _program(build_dir, "bad_alloc")
    assert rc == 0 and counts is not None and counts[1] == 0, f"exit {rc}:\n{out[-6000:]}"
    assert counts[0] == 2 or "skipped" in out, out


def test_ctest_runs_both_groups(build_dir):
    ctest = os.path.join(os.path.dirname(find_cmake()), "ctest")
    if not os.path.isfile(ctest):
        pytest.skip("ctest not next to cmake")
    listed = run([ctest, "-N"], cwd=str(build_dir))
    assert "api" in listed and "api_bad_alloc" in listed, listed
    proc = subprocess.run([ctest, "--output-on-failure"], cwd=str(build_dir),
                          capture_output=True, text=True, timeout=STEP_TIMEOUT, check=False)
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-2000:]
