#!/usr/bin/env bash
# Event-to-alert latency through the pipeline (embedded broker, real
# redis-server, every stage), at a steady background rate, beside the raw
# produce-to-consume latency of the same broker measured the same way (see
# bench/latency.py): the logistics path (shipments -> bw-logistics ->
# bw-alert) and the review path (reviews -> bw-classify -> bw-correlate ->
# bw-alert, four Kafka hops). Usage: bench/bench_latency.sh [RATE ...]
# (default 5000 50000); BW_PATHS="logistics reviews" picks the paths;
# BW_STAGE_LOG=debug logs each batch's process, flush and commit times.
set -euo pipefail
cd "$(dirname "$0")/.."
BW_BUILD=${BW_BUILD:-$PWD/build}
export BW_BUILD
. tests/integration/lib.sh

echo "command: $0 $*"
echo "machine: $(uname -srm), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) CPUs"
for rate in ${@:-5000 50000}; do
    for path in ${BW_PATHS:-logistics reviews}; do
        start_devkafka 6
        start_redis
        for stage in classify logistics correlate alert; do
            "$BW_BUILD/stages/$stage/bw-$stage" --brokers "$BROKERS" --redis.url "$REDIS_URL" \
                --http.listen "127.0.0.1:$(free_port)" --log.level "${BW_STAGE_LOG:-warn}" \
                2>"$WORK/$stage-$rate-$path.log" &
            PIDS+=($!)
        done
        sleep 4
        mkdir -p "$WORK/r$rate-$path"
        echo "path: $path"
        python3 bench/latency.py "$BW_BUILD" "$BROKERS" "$rate" "${BW_SECONDS:-40}" \
            "$WORK/r$rate-$path" "$path"
        # stages first, then Redis and the broker (a stage drains into the broker)
        for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do
            kill "${PIDS[$i]}" 2>/dev/null || true
            wait "${PIDS[$i]}" 2>/dev/null || true
        done
        PIDS=()
        echo
    done
done
