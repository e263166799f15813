#!/usr/bin/env bash
# Soak: the whole pipeline (embedded broker, real redis-server, all four
# stages) fed at a steady, bounded rate for MINUTES minutes; every minute it
# prints each stage's resident memory (VmRSS), open file descriptors and
# records consumed, and Redis's memory. Memory and descriptors must stay
# flat once the windows have filled and the response clocks started firing
# (about minute 3: the reviews' event time passes 24 h): the last minute is
# compared with the middle one (the baseline of the same run).
# Usage: bench/bench_soak.sh [MINUTES] [EVENTS_PER_S] (default 10, 1500:
# about two thirds orders and scans, one third reviews).
set -euo pipefail
cd "$(dirname "$0")/.."
BW_BUILD=${BW_BUILD:-$PWD/build}
export BW_BUILD
. tests/integration/lib.sh
here=tests/integration
MINUTES=${1:-10}
RATE=${2:-1500}
SECS=$((MINUTES * 60))

echo "command: $0 $*"
echo "machine: $(uname -srm), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) CPUs"
# enough input for the whole run at the rate (and some to spare)
reviews=$((RATE * SECS / 3 + 1000))
python3 "$here/gen_reviews.py" "$reviews" 21 >"$WORK/reviews.jsonl"
per_day=1000 # gen_logistics: (days + 10) x 2 lanes x per_day orders x 3 events
days=$((RATE * 2 * SECS / 3 / (6 * per_day) - 10 + 2))
[ "$days" -ge 1 ] || days=1
python3 "$here/gen_logistics.py" "$WORK" "$days" "$per_day" 5 >/dev/null
orders=$(wc -l <"$WORK/orders.jsonl")
scans=$(wc -l <"$WORK/shipments.jsonl")
echo "input: $orders orders, $scans scans, $reviews reviews; $RATE events/s for $MINUTES min"

start_devkafka 6
start_redis
declare -A PID PORT
for stage in classify logistics correlate alert; do
    PORT[$stage]=$(free_port)
    "$BW_BUILD/stages/$stage/bw-$stage" --brokers "$BROKERS" --redis.url "$REDIS_URL" \
        --http.listen "127.0.0.1:${PORT[$stage]}" --log.level warn 2>"$WORK/$stage.log" &
    PID[$stage]=$!
    PIDS+=($!)
done
sleep 3
# orders and scans in proportion, so scans follow their orders in time
total=$((orders + scans))
for f in orders:$((RATE * 2 / 3 * orders / total + 1)) shipments:$((RATE * 2 / 3 * scans / total + 1)) \
         reviews:$((RATE / 3 + 1)); do
    t=${f%%:*}
    "$BW_BUILD/tools/bw-replay" --brokers "$BROKERS" --topic "bw.$t" --rate "${f##*:}" \
        --progress never "$WORK/$t.jsonl" 2>"$WORK/replay-$t.log" &
    PIDS+=($!)
done

consumed() {
    curl -sf "http://127.0.0.1:$1/metrics" | awk '/^bw_messages_consumed_total/ {n += $2} END {print n + 0}'
}
rss_kib() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }
fds() { ls "/proc/$1/fd" | wc -l; }
printf '%-4s' min
for s in classify logistics correlate alert; do printf ' | %-28s' "bw-$s RSS KiB, fds, consumed"; done
printf ' | %s\n' "redis used KiB"
declare -A FIRST LAST
for m in $(seq 1 "$MINUTES"); do
    sleep 60
    printf '%-4s' "$m"
    for s in classify logistics correlate alert; do
        kill -0 "${PID[$s]}" 2>/dev/null || fail "bw-$s died: $(tail -3 "$WORK/$s.log")"
        r=$(rss_kib "${PID[$s]}")
        printf ' | %9s %5s %12s' "$r" "$(fds "${PID[$s]}")" "$(consumed "${PORT[$s]}")"
        [ "$m" = "$(((MINUTES + 1) / 2))" ] && FIRST[$s]=$r
        LAST[$s]=$r
    done 2>/dev/null
    printf ' | %s\n' "$(( $(redis-cli -p "$REDIS_PORT" info memory | awk -F: '/^used_memory:/ {print $2}' | tr -d '\r') / 1024 ))"
done
if [ "$MINUTES" -ge 3 ]; then
    for s in classify logistics correlate alert; do
        echo "bw-$s: RSS minute $(((MINUTES + 1) / 2)) ${FIRST[$s]} KiB, minute $MINUTES ${LAST[$s]} KiB ($(( (LAST[$s] - FIRST[$s]) * 100 / FIRST[$s] ))%)"
    done
fi
grep -h 'level":"error' "$WORK"/{classify,logistics,correlate,alert}.log | grep -v CONFWARN | head -5 || true
