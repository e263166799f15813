#!/usr/bin/env bash
# bw-classify through the embedded broker, beside the raw consume rate of
# the same broker measured in the same run. The input is in the topic
# before either reader starts, so neither waits on the producer:
#   raw:      bench_raw_consume (a librdkafka consumer doing nothing, in
#             a group of its own) reads the N ReviewEvents from bw.reviews,
#             timed from its first message to its Nth, as the stage is;
#             kcat's rate from its start to its Nth message is printed
#             beside it (it counts the start and the join, so it is lower)
#   classify: bw-classify (one instance) turns the same N into
#             ClassifiedReviews; its rate is taken from the output
#             messages' own timestamps (first to Nth), so the consumer
#             group's join before the first batch is not counted
# Usage: bench/bench_classify_e2e.sh [N=100000]   (needs a build in build/)
# BW_INSTANCES=K runs K instances in the consumer group (the stage is
# stateless and scales so); BW_EXTRA adds options to each.
# The stage's log is kept in /tmp/bench_classify_e2e.log (BW_LOG=debug for
# every batch's timings).
# The embedded broker keeps about 5 MB per partition (librdkafka's mock
# cluster drops older records): with 6 partitions, N up to ~150,000.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-100000}
BW_BUILD=${BW_BUILD:-$PWD/build}
export BW_BUILD
. tests/integration/lib.sh

echo "command: $0 $N"
echo "machine: $(uname -srm), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) CPUs"
start_devkafka 6
bootstrap=$(cat "$WORK/bootstrap")
python3 tests/integration/gen_reviews.py "$N" 11 >"$WORK/in.jsonl"
"$BW_BUILD/tools/bw-replay" --brokers "$BROKERS" --progress never "$WORK/in.jsonl" 2>"$WORK/replay.log"

# Raw: plain consumers reading the N input messages.
r0=$(date +%s.%N)
got=$(kcat -C -b "$bootstrap" -t bw.reviews -o beginning -c "$N" -e -q -f '.' 2>/dev/null | head -c "$N" | wc -c)
r1=$(date +%s.%N)
[ "$got" -eq "$N" ] || { echo "the broker holds $got of $N reviews (see Usage)" >&2; exit 1; }
raw=$("$BW_BUILD/bench/bench_raw_consume" "$bootstrap" bw.reviews "$N")

ports=() stages=()
for i in $(seq 1 "${BW_INSTANCES:-1}"); do
    port=$(free_port)
    "$BW_BUILD/stages/classify/bw-classify" --brokers "$BROKERS" --http.listen "127.0.0.1:$port" \
        --log.level ${BW_LOG:-warn} --kafka.session.timeout.ms 6000 ${BW_EXTRA:-} \
        2>"$WORK/classify-$i.log" &
    PIDS+=($!)
    stages+=($!)
    ports+=($port)
done
echo "  instances: ${#stages[@]} (options: ${BW_EXTRA:-defaults})"
# Each output message's timestamp (ms, set by the stage's producer).
timeout 300 kcat -C -b "$bootstrap" -t bw.reviews.classified -o beginning -c "$N" -q -f '%T\n' \
    2>/dev/null >"$WORK/out_ts" || true
cat "$WORK"/classify-*.log >/tmp/bench_classify_e2e.log
for i in "${!stages[@]}"; do
    echo "  stage $((i + 1)): peak RSS $(awk '/^VmHWM/{printf "%.1f MiB", $2 / 1024}' /proc/${stages[$i]}/status)"
    curl -sf "http://127.0.0.1:${ports[$i]}/metrics" |
        grep -E "^bw_batch_seconds_(sum|count)|^bw_offset_commits_total" | sed "s/^/  stage $((i + 1)): /"
done
python3 - "$N" "$r0" "$r1" "$WORK/out_ts" "$raw" "${#stages[@]}" <<'PY'
import os, sys
n, r0, r1 = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3])
ts = sorted(int(l) for l in open(sys.argv[4]) if l.strip())
if len(ts) != n:
    sys.exit("only %d of %d outputs" % (len(ts), n))
raw_span, raw = float(sys.argv[5].split()[2]), float(sys.argv[5].split()[3])
kcat = n / (r1 - r0)
span = (ts[-1] - ts[0]) / 1000.0
cls = (n - 1) / span if span > 0 else float("inf")
print("reviews: %d" % n)
print("kcat, start to Nth message:   %9.0f msg/s" % kcat)
print("raw consume, first to Nth:    %9.0f msg/s  over %.3f s (bench_raw_consume)" % (raw, raw_span))
print("bw-classify end to end:       %9.0f reviews/s  over %.2f s (%.0f%% of raw; target >= 50%%)"
      % (cls, span, 100 * cls / raw))
print("verdict: %s with %s instance(s) on %d CPUs (the stage, the broker and the readers share them)"
      % ("met" if cls >= raw / 2 else "NOT met", sys.argv[6], os.cpu_count()))
PY
