#!/usr/bin/env bash
# The libFuzzer targets (tests/fuzz/), built with clang under ASan + UBSan,
# each run for SECONDS (default 60) from a seed corpus made of the project's
# fixtures and rule pack, as many at a time as there are cores. A finding
# (crash, leak, sanitizer report, broken round trip) fails the run and its
# input is kept in build-fuzz/findings/ with the command that reproduces it.
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]     # targets: avro json conf pack classify
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-60}
[ $# -gt 0 ] && shift
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(avro json conf pack classify)
jobs=$(nproc 2>/dev/null || echo 2)
B=${BW_FUZZ_BUILD:-build-fuzz}

command -v clang >/dev/null || { echo "fuzz: clang is missing (scripts/install-deps.sh)" >&2; exit 1; }
echo "== build (clang, libFuzzer, ASan + UBSan) into $B"
cmake -S . -B "$B" -DCMAKE_C_COMPILER=clang -DBW_FUZZ=ON -DBW_TESTS=OFF -DBW_BENCH=OFF \
    -DBW_WERROR=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$B" -j"$jobs" --target bw-fuzz-seeds "${targets[@]/#/fuzz_}" >/dev/null

rm -rf "$B/seeds" && mkdir -p "$B/seeds" "$B/findings"
"$B/tests/fuzz/bw-fuzz-seeds" "$B/seeds"
# hand-made seeds and past findings (tests/fuzz/corpus/TARGET/), kept as regressions
for dir in tests/fuzz/corpus/*/; do
    t=$(basename "$dir")
    mkdir -p "$B/seeds/$t" && cp "$dir"* "$B/seeds/$t/"
done

export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:strict_string_checks=1
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
run_one() { # target: a growing corpus of its own, seeds read-only
    local t=$1 corpus="$B/corpus/$1"
    mkdir -p "$corpus"
    "$B/tests/fuzz/fuzz_$t" "$corpus" "$B/seeds/$t" -max_total_time="$secs" -timeout=10 \
        -rss_limit_mb=2048 -max_len=65536 -artifact_prefix="$B/findings/$t-" -print_final_stats=1 \
        >"$B/fuzz_$t.log" 2>&1
}
export -f run_one
export B secs
echo "== fuzzing ${targets[*]} for ${secs}s each, $jobs at a time"
failed=()
printf '%s\n' "${targets[@]}" | xargs -P "$jobs" -I{} bash -c 'run_one {} || touch "$B/fuzz_{}.failed"' || true
for t in "${targets[@]}"; do
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$B/fuzz_$t.log" | tail -1)
    cov=$(grep -o 'cov: [0-9]*' "$B/fuzz_$t.log" | tail -1 || true)
    if [ -e "$B/fuzz_$t.failed" ]; then
        rm -f "$B/fuzz_$t.failed"
        failed+=("$t")
        echo "fuzz_$t: FINDING after ${runs:-?} runs"
        grep -E "fuzz finding|ERROR: |SUMMARY|runtime error|Test unit written" "$B/fuzz_$t.log" | head -8
        echo "  reproduce: $B/tests/fuzz/fuzz_$t $B/findings/$t-<file>   (log: $B/fuzz_$t.log)"
    else
        echo "fuzz_$t: ${runs:-?} runs in ${secs}s, no finding (${cov:-cov: ?}, corpus $(ls "$B/corpus/$t" | wc -l) inputs)"
    fi
done
[ ${#failed[@]} -eq 0 ] || { echo "fuzz: findings in ${failed[*]}" >&2; exit 1; }
