"""Build tools for the tests that configure the repository with CMake (test_cpp_api.py,
test_cpp_package.py): finding cmake and ninja, running one build step, finding a built program;
pyproject.toml's version, the one every build reports (test_version.py); and the ONNX exporters
the torch export tests run (``onnx_exporters``).

cmake and ninja come from PATH or from their PyPI packages; nothing here installs them, and a
test without cmake skips (``cmake_or_skip``).
"""

import importlib
import os
import re
import shutil
import subprocess

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
STEP_TIMEOUT = 240  # seconds per cmake step; a whole test takes far less

_EXE = ".exe" if os.name == "nt" else ""


def _tool(name, bin_dir_attr):
    """`name` on PATH, else from the PyPI package of that name (which ships the binary in the
    directory its `bin_dir_attr` names), else None."""
    exe = shutil.which(name)
    if exe:
        return exe
    try:
        package = importlib.import_module(name)
    except ImportError:
        return None
    exe = os.path.join(getattr(package, bin_dir_attr), name + _EXE)
    return exe if os.path.isfile(exe) else None


def find_cmake():
    return _tool("cmake", "CMAKE_BIN_DIR")


def find_ninja():
    return _tool("ninja", "BIN_DIR")


def cmake_or_skip():
    """(cmake, generator arguments): Ninja where there is a ninja, else CMake's default
    generator. Skips the calling test where there is no cmake."""
    cmake = find_cmake()
    if cmake is None:
        pytest.skip("cmake not found (neither on PATH nor the `cmake` Python package)")
    ninja = find_ninja()
    gen = ["-G", "Ninja", f"-DCMAKE_MAKE_PROGRAM={ninja}"] if ninja is not None else []
    return cmake, gen


def run(cmd, cwd=None):
    """Runs one step; fails the test with the command and the tail of its output unless it
    exits 0. Returns its stdout."""
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=STEP_TIMEOUT,
                          check=False)
    assert proc.returncode == 0, (
        f"command failed ({proc.returncode}): {' '.join(cmd)}\n"
        f"--- stdout ---\n{proc.stdout[-6000:]}\n--- stderr ---\n{proc.stderr[-6000:]}"
    )
    return proc.stdout


def find_program(build_dir, name):
    """The path of the program `name` built somewhere under build_dir."""
    exe = name + _EXE
    for root, _, files in os.walk(build_dir):
        if exe in files:
            return os.path.join(root, exe)
    raise AssertionError(f"{exe} not found under {build_dir}")


def pyproject_version():
    """``[project] version`` of the repository's pyproject.toml."""
    path = os.path.join(REPO, "pyproject.toml")
    try:
        import tomllib  # Python 3.11+
    except ModuleNotFoundError:  # Python 3.10: the one line CMakeLists.txt reads too
        with open(path, encoding="utf-8") as f:
            m = re.search(r'^version *= *"([^"]+)"', f.read(), re.M)
        assert m, f"no version line in {path}"
        return m.group(1)
    with open(path, "rb") as f:
        return tomllib.load(f)["project"]["version"]


def onnx_exporters():
    """``torch.onnx.export``'s two exporters as pytest params of ``dynamo``: the dynamo-based
    one (skipped, saying why, without onnxscript, which it needs) and the TorchScript one."""
    out = [pytest.param(False, id="torchscript")]
    try:
        import onnxscript  # noqa: F401
        out.insert(0, pytest.param(True, id="dynamo"))
    except ImportError:
        out.insert(0, pytest.param(True, id="dynamo", marks=pytest.mark.skip(
            reason="the dynamo-based exporter needs onnxscript (pip install onnxscript)")))
    return out
