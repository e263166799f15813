#!/usr/bin/env bash
# The test command: installs what is missing, checks formatting, builds with
# -Werror and runs every test (unit and integration, against a real
# redis-server and the embedded broker), then builds again with
# AddressSanitizer + UndefinedBehaviorSanitizer and runs every test again,
# then runs each libFuzzer target (scripts/fuzz.sh) for BW_FUZZ_SECONDS
# (default 60; 0 skips them).
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc 2>/dev/null || echo 2)

scripts/install-deps.sh
scripts/format.sh --check

echo "== build (RelWithDebInfo, -Werror)"
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DBW_WERROR=ON >/dev/null
cmake --build build -j"$jobs"
echo "== tests"
BW_BUILD=build scripts/gen-docs.sh --check
ctest --test-dir build --output-on-failure -j"$jobs"

echo "== build (ASan + UBSan)"
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DBW_WERROR=ON -DBW_SANITIZE=ON \
      -DBW_BENCH=OFF >/dev/null
cmake --build build-asan -j"$jobs"
echo "== tests under ASan + UBSan"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:strict_string_checks=1 \
UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
BW_ROUNDTRIP_COUNT=${BW_ROUNDTRIP_COUNT_ASAN:-20000} BW_EXONCE_PER_DAY=${BW_EXONCE_PER_DAY_ASAN:-250} \
    BW_CORR_EXONCE_PER_DAY=${BW_CORR_EXONCE_PER_DAY_ASAN:-30} \
    ctest --test-dir build-asan --output-on-failure -j"$jobs"

if [ "${BW_FUZZ_SECONDS:-60}" != 0 ]; then
    echo "== fuzzing (libFuzzer, ${BW_FUZZ_SECONDS:-60} s per target)"
    scripts/fuzz.sh "${BW_FUZZ_SECONDS:-60}"
fi
