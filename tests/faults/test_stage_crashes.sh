#!/usr/bin/env bash
# Crashes: bw-classify and bw-alert killed with SIGKILL at five random points
# each while their input is still arriving, restarted each time; what they
# leave behind equals a clean run's. (bw-logistics and bw-correlate get the
# same treatment, with a rebalance too, in tests/integration/*_exactly_once.sh.)
#   bw-classify: every review comes out (at least once: a batch produced but
#     not committed comes out again), and bw-correlate downstream, reading
#     what the crashed classifier wrote, ends with every Redis key equal to
#     the clean chain's and the same signals: the duplicates are skipped by
#     event id, not counted.
#   bw-alert: the same alert ids, each with the same final state, highest
#     severity and occurrences (nothing counted twice or lost), and the same
#     alerts active at the end (a warning sent just before a crash may be
#     sent again, with the same id and version).
here=$(cd "$(dirname "$0")/../integration" && pwd)
. "$here/lib.sh"
. "$(dirname "$0")/alerts.sh"
CONTROL="$WORK/control"
start_devkafka 6 --control.file "$CONTROL"
for _ in $(seq 1 50); do [ -p "$CONTROL" ] && break; sleep 0.1; done
[ -p "$CONTROL" ] || fail "no control FIFO"
# 30 ms a request: a batch's produce, flush and commit take long enough for
# a kill to land between flushing its outputs and committing its offsets
echo "rtt all 30" >"$CONTROL"
start_redis
REVIEWS=${BW_CRASH_REVIEWS:-6000}
python3 "$here/gen_reviews.py" "$REVIEWS" 13 >"$WORK/reviews.jsonl"
python3 "$(dirname "$0")/gen_signals.py" 90 20 >"$WORK/signals.jsonl"
SIGNALS=$(wc -l <"$WORK/signals.jsonl")
KAFKA_ARGS=(--kafka.session.timeout.ms 3000 --kafka.heartbeat.interval.ms 300 --log.level warn)
. "$here/exactly_once.sh" # settle()

# replay_slowly TOPIC FILE SECONDS [ARGS]: in the background, spread over SECONDS
replay_slowly() {
    local rate=$(($(wc -l <"$2") / $3 + 1))
    "$BW_BUILD/tools/bw-replay" --brokers "$BROKERS" --topic "$1" --rate "$rate" \
        --progress never "${@:4}" "$2" 2>>"$WORK/replay.log" &
    REPLAY=$!
    PIDS+=($REPLAY)
}
# crash_loop START_FN: five times: start (START_FN sets PID and PORT), wait
# until it consumes (a restarted member gets its partitions once the killed
# one's session has timed out), let it work 0.1 to 1.5 s more, SIGKILL
consumed() { # port
    curl -sf "http://127.0.0.1:$1/metrics" 2>/dev/null |
        awk '/^bw_messages_consumed_total/ { n += $2 } END { print n + 0 }'
}
crash_loop() {
    for i in 1 2 3 4 5; do
        "$1"
        for _ in $(seq 1 150); do
            [ "$(consumed "$PORT")" -gt 0 ] && break
            sleep 0.1
        done
        sleep "$(python3 -c "import random; print(round(random.uniform(0.1, 1.5), 2))")"
        kill -KILL "$PID"
        wait "$PID" 2>/dev/null || true
    done
}
tail_topic() { # topic
    "$BW_BUILD/tools/bw-tail" --brokers "$BROKERS" "$1" --timeout.ms 2500 --log.level error
}

# ---- bw-classify, bw-correlate downstream ----
classify() { # run
    PORT=$(free_port)
    "$BW_BUILD/stages/classify/bw-classify" --brokers "$BROKERS" --group.id "cls-$1" \
        --http.listen "127.0.0.1:$PORT" --output.topic "bw.classified.$1" \
        --deadletter.topic "bw.deadletter.$1" "${KAFKA_ARGS[@]}" 2>>"$WORK/classify-$1.log" &
    PID=$!
    PIDS+=($PID)
}
correlate() { # run db
    CORR_PORT=$(free_port)
    "$BW_BUILD/stages/correlate/bw-correlate" --brokers "$BROKERS" --group.id "corr-$1" \
        --reviews.topic "bw.classified.$1" --actions.topic "bw.actions.$1" \
        --redis.url "redis://127.0.0.1:$REDIS_PORT/$2" --http.listen "127.0.0.1:$CORR_PORT" \
        --output.topic "bw.signals.$1" --deadletter.topic "bw.deadletter.$1" --idle.ms 600000 \
        "${KAFKA_ARGS[@]}" 2>>"$WORK/correlate-$1.log" &
    CORR=$!
    PIDS+=($CORR)
}
classify_crashy() { classify crashy; }

replay_slowly bw.reviews "$WORK/reviews.jsonl" 15
correlate crashy 2
crashy_corr_port=$CORR_PORT
crashy_corr=$CORR
crash_loop classify_crashy
classify crashy
wait "$REPLAY" || fail "replay: $(tail -3 "$WORK/replay.log")"
cls_pid=$PID
correlate clean 1
classify clean
settle 1
settle 2
skipped=$(curl -sf "http://127.0.0.1:$crashy_corr_port/metrics" |
    awk '/^bw_correlate_duplicates_total/ {print $2}')
kill -TERM "$PID" "$cls_pid" "$CORR" "$crashy_corr"
for p in "$PID" "$cls_pid" "$CORR" "$crashy_corr"; do wait "$p" || fail "a stage exited with $?"; done
keys=$(wc -l <"$WORK/dump-1")
[ "$keys" -gt 1000 ] || fail "clean chain wrote only $keys keys: $(tail -3 "$WORK/correlate-clean.log")"
if ! cmp -s "$WORK/dump-1" "$WORK/dump-2"; then
    diff "$WORK/dump-1" "$WORK/dump-2" | head -20 >&2
    fail "bw-correlate behind a crashing bw-classify: Redis differs from the clean chain"
fi
for run in clean crashy; do
    tail_topic "bw.classified.$run" >"$WORK/classified-$run.jsonl"
    tail_topic "bw.signals.$run" | python3 -c '
import json, sys
for l in sys.stdin:
    s = json.loads(l)
    print(s["alert_id"], s["type"], s["severity"])' | sort -u >"$WORK/sig-$run"
done
python3 - "$WORK/classified-clean.jsonl" "$WORK/classified-crashy.jsonl" "$REVIEWS" <<'PY' ||
import json, sys
clean, crashy = ([json.loads(l)["event_id"] for l in open(p)] for p in sys.argv[1:3])
n = int(sys.argv[3])
assert len(clean) == n and len(set(clean)) == n, ("clean", len(clean), len(set(clean)))
assert set(crashy) == set(clean), ("lost", len(set(clean) - set(crashy)))
print("bw-classify killed 5 times: %d of %d reviews out, %d written twice" %
      (len(set(crashy)), n, len(crashy) - len(set(crashy))))
PY
    fail "bw-classify lost reviews"
cmp -s "$WORK/sig-clean" "$WORK/sig-crashy" ||
    fail "signals differ: $(diff "$WORK/sig-clean" "$WORK/sig-crashy" | head -5)"
echo "bw-correlate behind it: $keys keys identical, $(wc -l <"$WORK/sig-clean") signals the same, ${skipped:-0} duplicates skipped"

# ---- bw-alert ----
alert() { # run db
    "$BW_BUILD/stages/alert/bw-alert" --brokers "$BROKERS" --group.id "alert-$1" \
        --redis.url "redis://127.0.0.1:$REDIS_PORT/$2" --http.listen "127.0.0.1:$3" \
        --output.topic "bw.alerts.$1" --deadletter.topic "bw.deadletter.$1" \
        --alert.cooldown.ms 0 "${KAFKA_ARGS[@]}" 2>>"$WORK/alert-$1.log" &
    PID=$!
    PIDS+=($PID)
}
alert_port=$(free_port)
alert_crashy() {
    PORT=$alert_port
    alert crashy 4 "$PORT"
}
replay_slowly bw.signals "$WORK/signals.jsonl" 15 --key.field alert_id
crash_loop alert_crashy
alert_crashy
crashy_pid=$PID
wait "$REPLAY" || fail "replay: $(tail -3 "$WORK/replay.log")"
clean_port=$(free_port)
alert clean 3 "$clean_port"
clean_pid=$PID
for _ in $(seq 1 30); do
    alert_outcome clean "$clean_port" 3 >"$WORK/alerts-clean"
    alert_outcome crashy "$alert_port" 4 >"$WORK/alerts-crashy"
    [ -s "$WORK/alerts-clean" ] && cmp -s "$WORK/alerts-clean" "$WORK/alerts-crashy" && break
    sleep 1
done
cmp -s "$WORK/alerts-clean" "$WORK/alerts-crashy" ||
    fail "bw-alert killed 5 times: alerts differ: $(alert_difference clean crashy)"
total=$(tail_topic bw.alerts.crashy | wc -l)
# episodes resolved long enough left memory, and signals brought some back
# (alert.keep.ms): the outcomes above include them
evicted=$(redis-cli -p "$REDIS_PORT" -n 4 --scan --pattern 'bw:{alerts}:done:*' | wc -l)
recalled=$(curl -sf "http://127.0.0.1:$clean_port/metrics" | awk '/^bw_alerts_recalled_total/ {print $2}')
[ "$evicted" -gt 0 ] && [ "${recalled:-0}" != 0 ] ||
    fail "no state left memory ($evicted) or came back (${recalled:-none}): eviction not tested"
kill -TERM "$clean_pid" "$crashy_pid"
wait "$clean_pid" || fail "bw-alert exit status $?"
wait "$crashy_pid" || fail "bw-alert exit status $?"
echo "bw-alert killed 5 times during $SIGNALS signals: $(grep -c ^sent "$WORK/alerts-clean") alerts of $(grep -c ^state "$WORK/alerts-clean") problems, $(grep -c ^active "$WORK/alerts-clean") active at the end, the same outcome; $total warnings sent; $evicted problems out of memory at the end, $recalled recalled from Redis by a later signal"
echo "PASS test_stage_crashes"
