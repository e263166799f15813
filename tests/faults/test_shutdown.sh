#!/usr/bin/env bash
# Every stage stops on SIGTERM, promptly, when its broker has gone away
# first: an operator stopping a deployment whose Kafka is already down, or
# a container runtime stopping the broker before the stages. Found in a
# soak: bw-logistics hung for good in rd_kafka_consumer_close(), waiting for
# a group coordinator that was not coming back. Each stage must exit within
# its close bound (BW_CLOSE_TIMEOUT_MS, 10 s) and a margin, status 0.
set -euo pipefail
. "$(dirname "$0")/../integration/lib.sh"
here=$(dirname "$0")/../integration

python3 "$here/gen_reviews.py" 300 3 >"$WORK/reviews.jsonl"
python3 "$here/gen_logistics.py" "$WORK" 2 50 5 >/dev/null
CONTROL="$WORK/control"
start_devkafka 6 --control.file "$CONTROL"
broker_pid=${PIDS[-1]}
start_redis
declare -A PID
for stage in classify logistics correlate alert; do
    "$BW_BUILD/stages/$stage/bw-$stage" --brokers "$BROKERS" --redis.url "$REDIS_URL" \
        --http.listen "127.0.0.1:$(free_port)" 2>"$WORK/$stage.log" &
    PID[$stage]=$!
    PIDS+=($!)
done
for t in orders shipments reviews; do
    "$BW_BUILD/tools/bw-replay" --brokers "$BROKERS" --topic "bw.$t" --progress never \
        "$WORK/$t.jsonl" 2>"$WORK/replay-$t.log" || fail "replay $t: $(tail -3 "$WORK/replay-$t.log")"
done
# every stage in its group, partitions assigned and records read
for stage in classify logistics correlate alert; do
    for _ in $(seq 1 100); do
        grep -q '"msg":"assigned' "$WORK/$stage.log" && break
        sleep 0.2
    done
    grep -q '"msg":"assigned' "$WORK/$stage.log" || fail "bw-$stage never joined its group"
done
sleep 2

# the broker stops answering (a hung broker, a network partition): every
# request waits, the group's LeaveGroup and the last commit too
echo "rtt all 600000" >"$CONTROL"
sleep 2
start=$(date +%s)
kill -TERM "${PID[@]}"
for stage in classify logistics correlate alert; do
    pid=${PID[$stage]}
    for _ in $(seq 1 300); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        gdb -p "$pid" -batch -ex "thread apply all bt 6" 2>/dev/null | grep -E "^#[0-9]" | grep -v futex |
            head -8 >&2 || true
        fail "bw-$stage still running $(($(date +%s) - start)) s after SIGTERM with its broker gone"
    fi
    wait "$pid" || fail "bw-$stage exit status $? after SIGTERM: $(tail -2 "$WORK/$stage.log")"
done
echo "all four stages stopped $(($(date +%s) - start)) s after SIGTERM, their broker gone"
echo "PASS test_shutdown"
