#!/usr/bin/env bash
# bw-classify through the embedded broker, beside the raw consume rate of
# the same broker measured in the same run.
#   raw:      kcat reads N ReviewEvents from bw.reviews (a consumer doing nothing)
#   classify: bw-classify (ready, one instance) turns the same N into
#             ClassifiedReviews; timed from the first input to the Nth output
# Usage: bench/bench_classify_e2e.sh [N=30000]   (needs a build in build/)
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-30000}
BW_BUILD=${BW_BUILD:-$PWD/build}
export BW_BUILD
. tests/integration/lib.sh

echo "command: $0 $N"
echo "machine: $(uname -srm), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) CPUs"
start_devkafka 6
bootstrap=$(cat "$WORK/bootstrap")
python3 tests/integration/gen_reviews.py "$N" 11 >"$WORK/in.jsonl"
port=$(free_port)
"$BW_BUILD/stages/classify/bw-classify" --brokers "$BROKERS" --http.listen "127.0.0.1:$port" \
    --log.level ${BW_LOG:-warn} --kafka.session.timeout.ms 6000 ${BW_EXTRA:-} 2>"$WORK/classify.log" &
PIDS+=($!)
for _ in $(seq 1 200); do curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && break; sleep 0.1; done

# The output reader counts messages as they arrive.
( kcat -C -b "$bootstrap" -t bw.reviews.classified -o beginning -c "$N" -q -f '.' 2>/dev/null |
      head -c "$N" >/dev/null; date +%s.%N >"$WORK/out_done" ) &
reader=$!
t0=$(date +%s.%N)
"$BW_BUILD/tools/bw-replay" --brokers "$BROKERS" --progress never "$WORK/in.jsonl" 2>"$WORK/replay.log"
t_in=$(date +%s.%N)
wait $reader
t_out=$(cat "$WORK/out_done")
[ "${BW_LOG:-}" = debug ] && grep -o "batch of.*ms" "$WORK/classify.log" | head -5
# Raw: a plain consumer reading the same N input messages from the broker.
r0=$(date +%s.%N)
kcat -C -b "$bootstrap" -t bw.reviews -o beginning -c "$N" -q -f '.' 2>/dev/null | head -c "$N" >/dev/null
r1=$(date +%s.%N)
curl -sf "http://127.0.0.1:$port/metrics" | grep -E "^bw_batch_seconds_(sum|count)|^bw_offset_commits_total" | sed "s/^/  stage: /"
python3 - "$N" "$t0" "$t_in" "$t_out" "$r0" "$r1" <<'PY'
import sys
n, t0, tin, tout, r0, r1 = int(sys.argv[1]), *map(float, sys.argv[2:])
raw = n / (r1 - r0)
cls = n / (tout - t0)
print("reviews: %d; replayed in %.2f s" % (n, tin - t0))
print("raw consume (kcat):           %9.0f msg/s" % raw)
print("bw-classify end to end:       %9.0f reviews/s  (%.0f%% of raw; target >= 50%%)" % (cls, 100 * cls / raw))
PY
