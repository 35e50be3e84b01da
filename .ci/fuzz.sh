#!/usr/bin/env bash
# Coverage-guided fuzzing of the C++ API: libFuzzer + AddressSanitizer + UndefinedBehavior-
# Sanitizer (clang), target tests/fuzz/fuzz_api.cc, for a bounded time. Any finding (crash,
# sanitizer report, failed check, timeout, out of memory) fails the run and prints the input
# that caused it (hex and base64: save it and run `rnnfast_fuzz_api FILE` to reproduce).
# Needs clang with libFuzzer and OpenMP (Debian: clang libclang-rt-dev libomp-dev); installs
# them with apt-get when run as root without them. cmake and ninja from PATH or pip.
# Usage: .ci/fuzz.sh [seconds]   (default 60, or FUZZ_SECONDS)
set -euo pipefail
cd "$(dirname "$0")/.."
repo="$(pwd)"
seconds="${1:-${FUZZ_SECONDS:-60}}"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
py="$(command -v python3 || command -v python)"

tool() {  # cmake / ninja from PATH or from their pip packages
  if command -v "$1" >/dev/null 2>&1; then command -v "$1"; return; fi
  "$py" -c "import os, $1 as m; d = getattr(m, 'CMAKE_BIN_DIR', None) or m.BIN_DIR; print(os.path.join(d, '$1'))"
}

toolchain_ok() {  # clang++ that links a libFuzzer target with ASan, UBSan and OpenMP
  command -v clang++ >/dev/null 2>&1 || return 1
  printf '#include <omp.h>\n#include <cstdint>\n#include <cstddef>\nextern "C" int LLVMFuzzerTestOneInput(const uint8_t*, size_t) { return omp_get_max_threads() > 0 ? 0 : 1; }\n' \
    > "$work/probe.cc"
  clang++ -fsanitize=fuzzer,address,undefined -fopenmp "$work/probe.cc" -o "$work/probe" \
    > "$work/probe.log" 2>&1
}

if ! toolchain_ok; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "== fuzz: installing clang, libFuzzer and OpenMP (apt-get)"
    apt-get update -qq > /dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq clang libclang-rt-dev libomp-dev \
      > "$work/apt.log" 2>&1 || { tail -20 "$work/apt.log"; exit 1; }
  fi
  toolchain_ok || { echo "fuzz: clang++ with libFuzzer and OpenMP not available:"; \
                    cat "$work/probe.log"; exit 1; }
fi

echo "== fuzz: build (clang, libFuzzer, -fsanitize=address,undefined)"
"$(tool cmake)" -S "$repo" -B "$work/build" -G Ninja -DCMAKE_MAKE_PROGRAM="$(tool ninja)" \
  -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=Release -DRNNFAST_FUZZ=ON \
  > "$work/configure.log" || { cat "$work/configure.log"; exit 1; }
"$(tool cmake)" --build "$work/build" -j2 --target rnnfast_fuzz_api > "$work/build.log" 2>&1 \
  || { tail -50 "$work/build.log"; exit 1; }

# Seeds: every cell with and without options, and each invalid-argument kind; the byte layout
# is decode() in fuzz_api.cc (flags, threads/split/ISA, invalid selector, T, B, I, H, H_out,
# then values).
mkdir -p "$work/corpus"
"$py" - "$work/corpus" <<'EOF'
import os, sys
out = sys.argv[1]
seeds = []
for cell in range(4):
    for flags in (0x00, 0xF8, 0x5C):
        for b1 in (0x00, 0x03, 0x15, 0x2D):
            # b2 0x03: the RNNs' IndRNNs, the GRU's and LSTM's scan twins (and variants)
            for b2 in (0x00, 0x03):
                seeds.append(bytes([cell | flags, b1, b2, 5, 3, 4, 17, 0x87])
                             + bytes(range(7, 250, 3)))
for cell in (2, 3):  # the scan cells (b2's second bit) in place of the LSTM and the GRU
    for flags in (0x00, 0xF8, 0x5C):
        seeds.append(bytes([cell | flags, 0x01, 0x02, 9, 2, 4, 17, 0x87]) + bytes(range(5, 250, 3)))
for cell in (2, 3):  # the layer-normalized LSTM and GRU (b2's third bit)
    for flags in (0x00, 0xF8, 0x5C):
        for b1 in (0x01, 0x03, 0x15):
            seeds.append(bytes([cell | flags, b1, 0x04, 6, 3, 4, 19, 0x87])
                         + bytes(range(3, 250, 5)))
for k in range(16):
    seeds.append(bytes([2 | 0x18, 0x01, 0xC0 + k, 4, 2, 3, 6, 0x82]) + bytes(range(0, 200, 7)))
# Zoneout (its byte follows dc_n): no options, so the arrays before it are x, w_ih, w_hh, dy,
# dh_n (and dc_n); masks, probabilities, c, and each invalid kind (bit 7, bits 4-5).
G = (1, 1, 4, 3)
for cell in range(4):
    for b2 in (0x00, 0x02):  # the cell, or its IndRNN twin (the RNNs)
        if b2 and cell > 1:
            continue
        T, B, I, H = 4, 3, 2, 5
        n = T * B * I + G[cell] * H * I + (H if b2 else G[cell] * H * H) + T * B * H + B * H
        n += B * H if cell == 2 else 0
        vals = bytes((37 * k + 11) % 256 for k in range(n))
        masks = bytes((13 * k + 5) % 256 for k in range(2 * T * B * H))
        for bz in (0x07, 0x03, 0x05, 0x01, 0x81, 0x91, 0xA1, 0xB1):
            seeds.append(bytes([cell, 0x01, b2, T - 1, B - 1, I - 1, H - 1, 0x00]) + vals
                         + bytes([bz]) + masks)
# ... and a projected LSTM (H_out 3; with peepholes, b2's low bit, their 3*H weights too)
T, B, I, H, Ho = 4, 3, 2, 5, 3
for peep in (0, 1):
    n = T * B * I + 4 * H * I + 4 * H * Ho + Ho * H + 3 * H * peep + T * B * Ho + B * Ho + B * H
    vals = bytes((37 * k + 11) % 256 for k in range(n))
    masks = bytes((13 * k + 5) % 256 for k in range(T * B * (Ho + H)))
    for bz in (0x07, 0x03, 0x05, 0x01, 0x81, 0x91, 0xA1, 0xB1):
        seeds.append(bytes([2, 0x01, peep, T - 1, B - 1, I - 1, H - 1, 0x82]) + vals
                     + bytes([bz]) + masks)
for i, s in enumerate(seeds):
    with open(os.path.join(out, f"seed{i:03d}"), "wb") as f:
        f.write(s)
EOF

echo "== fuzz: running for ${seconds} s"
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:strict_string_checks=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
set +e
(cd "$work" && ./build/rnnfast_fuzz_api -max_total_time="$seconds" -print_final_stats=1 \
   -max_len=2048 -timeout=30 -rss_limit_mb=4096 -artifact_prefix="$work/finding-" corpus) \
  > "$work/fuzz.log" 2>&1
status=$?
set -e
if [ "$status" -ne 0 ] || grep -qE "ERROR: (Address|Leak)Sanitizer|runtime error:|fuzz_api:" "$work/fuzz.log"; then
  grep -vE "^#[0-9]+ +(NEW|REDUCE|pulse)" "$work/fuzz.log" | tail -150
  echo "== fuzz: the report:"
  grep -m5 -E "ERROR: (Address|Leak)Sanitizer|runtime error:|fuzz_api:|ERROR: libFuzzer" "$work/fuzz.log" || true
  for f in "$work"/finding-*; do
    [ -e "$f" ] || continue
    echo "finding $(basename "$f"):"
    od -An -tx1 "$f" | head -20
    echo "base64: $(base64 -w0 "$f")"
  done
  echo "fuzz: FAILED (status $status)"
  exit 1
fi
grep -E "^Done|stat::(number_of_executed_units|average_exec_per_sec|new_units_added|peak_rss_mb)" \
  "$work/fuzz.log" || true
echo "== fuzz: no finding in ${seconds} s"
