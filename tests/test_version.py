"""One version, set in pyproject.toml: ``rnnfast.__version__``, the installed distribution's
metadata and the C++ library's ``rnnfast::version()`` (``rnnfast._core.version()``, compiled
with the version scikit-build-core passes to CMake) all report it. The plain-CMake build's
version (CMakeLists.txt reading pyproject.toml) is checked by test_cpp_package.py's example.
"""

from importlib import metadata

import rnnfast

from _tools import pyproject_version


def test_version_is_pyprojects():
    want = pyproject_version()
    assert rnnfast.__version__ == want
    assert metadata.version("rnnfast") == want, "installed metadata is stale: reinstall rnnfast"
    assert rnnfast._core.version() == want, "the compiled module is stale: rebuild rnnfast"


def test_version_without_metadata_falls_back_to_the_compiled_module(monkeypatch):
    """A source checkout that was never installed has no distribution metadata."""
    def missing(name):
        raise metadata.PackageNotFoundError(name)

    monkeypatch.setattr(metadata, "version", missing)
    assert rnnfast._dist_version() == rnnfast._core.version() == pyproject_version()
