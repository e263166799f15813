#!/usr/bin/env bash
# Event-to-alert latency through bw-logistics and bw-alert (embedded broker,
# real redis-server), at a steady background rate, beside the raw
# produce-to-consume latency of the same broker measured the same way (see
# bench/latency.py). Usage: bench/bench_latency.sh [RATE ...] (default 5000 50000)
set -euo pipefail
cd "$(dirname "$0")/.."
BW_BUILD=${BW_BUILD:-$PWD/build}
export BW_BUILD
. tests/integration/lib.sh

echo "command: $0 $*"
echo "machine: $(uname -srm), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) CPUs"
for rate in ${@:-5000 50000}; do
    start_devkafka 6
    start_redis
    "$BW_BUILD/stages/logistics/bw-logistics" --brokers "$BROKERS" --redis.url "$REDIS_URL" \
        --http.listen "127.0.0.1:$(free_port)" --log.level warn 2>"$WORK/logistics-$rate.log" &
    PIDS+=($!)
    "$BW_BUILD/stages/alert/bw-alert" --brokers "$BROKERS" --redis.url "$REDIS_URL" \
        --http.listen "127.0.0.1:$(free_port)" --log.level warn 2>"$WORK/alert-$rate.log" &
    PIDS+=($!)
    sleep 4
    mkdir -p "$WORK/r$rate"
    python3 bench/latency.py "$BW_BUILD" "$BROKERS" "$rate" "${BW_SECONDS:-40}" "$WORK/r$rate"
    # stages first, then Redis and the broker (a stage drains into the broker)
    for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do
        kill "${PIDS[$i]}" 2>/dev/null || true
        wait "${PIDS[$i]}" 2>/dev/null || true
    done
    PIDS=()
    echo
done
