#!/usr/bin/env bash
# AddressSanitizer + UndefinedBehaviorSanitizer over the C++ library and the Python module.
#  1. One CMake build (GCC, RNNFAST_SANITIZE=ON): the library, the C++ API tests
#     (tests/cpp/test_api.cc) and the module rnnfast._core, all instrumented.
#  2. ctest: the C++ API tests.
#  3. pytest on a subset of the Python tests (kernels, validation, bad input, threads, fuzzing)
#     against the instrumented module, with libasan preloaded into the (uninstrumented) Python.
# Any sanitizer report fails the run: UB is built with -fno-sanitize-recover, ASan halts on its
# first error, and the logs are searched for reports as well. Torch is hidden from the tests
# (its own runtime does not belong under ASan): the torch comparisons skip here and run in the
# ordinary test run. Needs gcc/g++, python with numpy, pytest, hypothesis and pybind11 (the
# [test] extra and the build requirements), cmake and ninja (PATH or the pip packages).
# Usage: .ci/sanitize.sh [pytest args...]   (default: the subset below)
set -euo pipefail
cd "$(dirname "$0")/.."
repo="$(pwd)"
started=$(date +%s)

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
py="$(command -v python3 || command -v python)"
py="$("$py" -c 'import sys; print(sys.executable)')"

tool() {  # cmake / ninja from PATH or from their pip packages
  if command -v "$1" >/dev/null 2>&1; then command -v "$1"; return; fi
  "$py" -c "import os, $1 as m; d = getattr(m, 'CMAKE_BIN_DIR', None) or m.BIN_DIR; print(os.path.join(d, '$1'))"
}
cmake="$(tool cmake)"
ninja="$(tool ninja)"
pybind11_dir="$("$py" -m pybind11 --cmakedir)"

echo "== sanitize: configure and build (gcc, -fsanitize=address,undefined)"
"$cmake" -S "$repo" -B "$work/build" -G Ninja -DCMAKE_MAKE_PROGRAM="$ninja" \
  -DCMAKE_CXX_COMPILER=g++ -DCMAKE_BUILD_TYPE=Release \
  -DRNNFAST_SANITIZE=ON -DRNNFAST_BUILD_TESTS=ON -DRNNFAST_PYTHON=ON \
  -DPython_EXECUTABLE="$py" -Dpybind11_DIR="$pybind11_dir" > "$work/configure.log" \
  || { cat "$work/configure.log"; exit 1; }
"$cmake" --build "$work/build" -j2 > "$work/build.log" 2>&1 || { tail -50 "$work/build.log"; exit 1; }

report() {  # fails if a log holds a sanitizer report
  if grep -nE "ERROR: AddressSanitizer|ERROR: LeakSanitizer|runtime error:|SUMMARY: (Address|UndefinedBehavior|Leak)Sanitizer" "$1"; then
    echo "sanitize: sanitizer report in $(basename "$1")"
    exit 1
  fi
}

echo "== sanitize: C++ API tests (ctest)"
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:strict_string_checks=1:detect_stack_use_after_return=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
(cd "$work/build" && ctest --output-on-failure) 2>&1 | tee "$work/ctest.log"
report "$work/ctest.log"

echo "== sanitize: Python tests against the instrumented module"
site="$work/site"
mkdir -p "$site"
cp -r "$repo/python/rnnfast" "$site/"
find "$work/build" -maxdepth 1 -name "_core*.so" -exec cp {} "$site/rnnfast/" \;
cat > "$work/run_pytest.py" <<'EOF'
import sys
site, args = sys.argv[1], sys.argv[2:]
# Drop editable-install finders so the staged, instrumented package is the one imported.
sys.meta_path[:] = [f for f in sys.meta_path if "editable" not in type(f).__module__]
sys.path.insert(0, site)
sys.modules["torch"] = None  # import torch -> ImportError: torch comparisons skip
import rnnfast
assert rnnfast._core.__file__.startswith(site), rnnfast._core.__file__
print("sanitize: rnnfast._core from", rnnfast._core.__file__, flush=True)
import pytest
sys.exit(pytest.main(["-p", "no:cacheprovider", *args]))
EOF
if [ "$#" -eq 0 ]; then
  set -- -q tests/test_validation.py tests/test_kernels.py tests/test_reliability.py \
    tests/test_concurrency.py tests/test_fuzz.py tests/test_nn_layers.py tests/test_losses.py
fi
# libasan first; libstdc++ too, or ASan's __cxa_throw interceptor finds no real one (Python
# does not link libstdc++, so it is not loaded when ASan starts) and C++ exceptions abort.
preload="$(g++ -print-file-name=libasan.so) $(g++ -print-file-name=libstdc++.so)"
# Python itself leaks by design at exit: no leak detection in this step.
export ASAN_OPTIONS="detect_leaks=0:abort_on_error=1:strict_string_checks=1"
export RNNFAST_SANITIZED=1
set +e
LD_PRELOAD="$preload" "$py" "$work/run_pytest.py" "$site" "$@" 2>&1 | tee "$work/pytest.log"
status=${PIPESTATUS[0]}
set -e
report "$work/pytest.log"
if [ "$status" -ne 0 ]; then
  echo "sanitize: pytest failed with status $status"
  exit "$status"
fi
echo "== sanitize: no sanitizer report ($(( $(date +%s) - started )) s)"
