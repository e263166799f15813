#!/usr/bin/env bash
# The broker stops answering under all four stages (a hung broker, a
# network partition), then they get SIGTERM:
# - an offset commit waits at most BW_COMMIT_TIMEOUT_MS (10 s), then the
#   stage says so and goes on (the batch may be read again; the fences
#   skip what was applied): a synchronous commit once hung a stage for good;
# - every stage stops on SIGTERM within BW_STOP_TIMEOUT_MS (25 s), status 0:
#   leaving the group is bounded (BW_CLOSE_TIMEOUT_MS), and past the bound
#   the stop guard ends it (librdkafka's teardown can wait on the broker for
#   good; a soak's bw-logistics hung in rd_kafka_consumer_close()); so does
#   bw-replay, feeding them (status 1 if it stopped short).
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
    port=$(free_port)
    "$BW_BUILD/stages/$stage/bw-$stage" --brokers "$BROKERS" --redis.url "$REDIS_URL" \
        --http.listen "127.0.0.1:$port" 2>"$WORK/$stage.log" &
    PID[$stage]=$!
    PIDS+=($!)
done
REPLAYS=()
for t in orders shipments reviews; do # still arriving when the broker hangs
    "$BW_BUILD/tools/bw-replay" --brokers "$BROKERS" --topic "bw.$t" --progress never --rate 40 \
        "$WORK/$t.jsonl" 2>"$WORK/replay-$t.log" &
    PIDS+=($!)
    REPLAYS+=($!)
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

# offset commits answered 60 s late while fetches flow: each stage's next
# commit is given up on after 10 s, and the stage reads on
echo "stall 1 offsetcommit 8 60000" >"$CONTROL"
hung=$(date +%s)
timed_out=
for _ in $(seq 1 250); do
    timed_out=$(grep -ls 'commit: Local: Timed out' "$WORK"/{classify,logistics,correlate,alert}.log) &&
        break
    sleep 0.1
done
[ -n "$timed_out" ] || fail "no stage gave up on a commit within 25 s of commits hanging"
echo "commits given up on $(($(date +%s) - hung)) s after they began to hang ($(basename -a $timed_out | tr '\n' ' '))"
# then the broker stops answering at all: every request waits 10 minutes
echo "rtt all 600000" >"$CONTROL"
sleep 1
start=$(date +%s)
kill -TERM "${PID[@]}" "${REPLAYS[@]}" 2>/dev/null || true
# gone within the bound (25 s) and a margin; $1 the name, $2 the pid, $3
# the statuses it may stop with
stopped() {
    for _ in $(seq 1 400); do
        kill -0 "$2" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$2" 2>/dev/null; then
        gdb -p "$2" -batch -ex "thread 1" -ex "bt 12" 2>/dev/null | grep -E "^#[0-9]" >&2 || true
        fail "$1 still running $(($(date +%s) - start)) s after SIGTERM with its broker gone"
    fi
    local rc=0
    wait "$2" || rc=$?
    [[ " $3 " == *" $rc "* ]] || fail "$1 exit status $rc after SIGTERM (expected $3)"
    echo "$1 stopped $(($(date +%s) - start)) s after SIGTERM, status $rc"
}
for stage in classify logistics correlate alert; do
    stopped "bw-$stage" "${PID[$stage]}" 0
done
# bw-replay: 0 if it had sent everything before, 1 if stopped short (its
# report says what was not delivered)
for pid in "${REPLAYS[@]}"; do
    stopped bw-replay "$pid" "0 1"
done
echo "all four stages and the feeders stopped $(($(date +%s) - start)) s after SIGTERM, their broker gone"
echo "PASS test_shutdown"
