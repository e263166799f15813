#!/usr/bin/env bash
# Broker faults: the four stages read the same input twice, once undisturbed
# and once while bw-devkafka (three brokers) has a broker go down and come
# back, partition leaders move, and produce, fetch and offset-commit
# requests fail (tools/devkafka/control.h). bw-classify and bw-logistics
# read the input; bw-correlate reads what bw-classify wrote, bw-alert what
# bw-logistics signalled. Every stage keeps going, and:
#   bw-logistics: every Redis key equals the clean run's, value for value,
#                 and it sends the same signals;
#   bw-classify:  every review in comes out classified or dead-lettered
#                 (count in = count out + dead letters; duplicates allowed,
#                 at least once), the poison ones dead-lettered;
#   bw-correlate: every Redis key equals the clean run's (what bw-classify
#                 wrote twice is counted once);
#   bw-alert:     the same alerts, states, severities and occurrences
#                 (tests/faults/alerts.sh).
here=$(cd "$(dirname "$0")/../integration" && pwd)
. "$here/lib.sh"
. "$(dirname "$0")/alerts.sh"
CONTROL="$WORK/control"
start_devkafka 6 --broker.count 3 --control.file "$CONTROL"
for _ in $(seq 1 50); do [ -p "$CONTROL" ] && break; sleep 0.1; done
[ -p "$CONTROL" ] || fail "no control FIFO"
start_redis
bootstrap=$(cat "$WORK/bootstrap")

# ---- input: orders and scans, reviews and five poison records ----
python3 "$here/gen_logistics.py" "$WORK" 12 150 11
python3 "$here/gen_reviews.py" 3000 5 >"$WORK/reviews.jsonl"
events=$(($(wc -l <"$WORK/orders.jsonl") + $(wc -l <"$WORK/shipments.jsonl")))
for t in orders shipments reviews; do
    "$BW_BUILD/tools/bw-replay" --brokers "$BROKERS" --topic "bw.$t" --progress never \
        "$WORK/$t.jsonl" 2>>"$WORK/replay.log" || fail "replay $t: $(tail -3 "$WORK/replay.log")"
done
printf 'definitely not avro' | kcat -P -b "$bootstrap" -t bw.reviews -k s1 2>/dev/null
for k in bad_enum bad_utf8 truncated order_event; do
    python3 "$here/rawavro.py" $k >"$WORK/$k.bin"
    kcat -P -b "$bootstrap" -t bw.reviews -k s1 "$WORK/$k.bin" 2>/dev/null
done
reviews=$(($(wc -l <"$WORK/reviews.jsonl") + 5))
echo "input: $events orders and scans, $reviews reviews (5 poison)"

# a member whose coordinator went away is noticed in seconds, not librdkafka's default 45 s
KAFKA_ARGS=(--kafka.session.timeout.ms 6000 --kafka.heartbeat.interval.ms 500)
start_run() { # run db: the stages, with their own groups, databases (db, db + 2, db + 4) and topics
    "$BW_BUILD/stages/logistics/bw-logistics" --brokers "$BROKERS" --group.id "logi-$1" \
        --redis.url "redis://127.0.0.1:$REDIS_PORT/$2" --http.listen "127.0.0.1:$(free_port)" \
        --output.topic "bw.signals.$1" --deadletter.topic "bw.deadletter.logi-$1" \
        --idle.ms 600000 "${KAFKA_ARGS[@]}" --log.level warn 2>>"$WORK/logistics-$1.log" &
    PIDS+=($!)
    LOGI=$!
    "$BW_BUILD/stages/classify/bw-classify" --brokers "$BROKERS" --group.id "cls-$1" \
        --http.listen "127.0.0.1:$(free_port)" --output.topic "bw.classified.$1" \
        --deadletter.topic "bw.deadletter.cls-$1" "${KAFKA_ARGS[@]}" --log.level warn \
        2>>"$WORK/classify-$1.log" &
    PIDS+=($!)
    CLS=$!
    "$BW_BUILD/stages/correlate/bw-correlate" --brokers "$BROKERS" --group.id "corr-$1" \
        --reviews.topic "bw.classified.$1" --actions.topic "bw.actions.$1" \
        --redis.url "redis://127.0.0.1:$REDIS_PORT/$(($2 + 2))" --http.listen "127.0.0.1:$(free_port)" \
        --output.topic "bw.corr.$1" --deadletter.topic "bw.deadletter.corr-$1" --idle.ms 600000 \
        "${KAFKA_ARGS[@]}" --log.level warn 2>>"$WORK/correlate-$1.log" &
    PIDS+=($!)
    CORR=$!
    ALERT_PORT=$(free_port)
    "$BW_BUILD/stages/alert/bw-alert" --brokers "$BROKERS" --group.id "alert-$1" \
        --input.topic "bw.signals.$1" --output.topic "bw.alerts.$1" \
        --redis.url "redis://127.0.0.1:$REDIS_PORT/$(($2 + 4))" --http.listen "127.0.0.1:$ALERT_PORT" \
        --deadletter.topic "bw.deadletter.alert-$1" "${KAFKA_ARGS[@]}" --log.level warn \
        2>>"$WORK/alert-$1.log" &
    PIDS+=($!)
    ALERT=$!
}
stop_run() {
    kill -TERM "$LOGI" "$CLS" "$CORR" "$ALERT"
    wait "$LOGI" || fail "bw-logistics exit status $?: $(tail -3 "$WORK"/logistics-*.log)"
    wait "$CLS" || fail "bw-classify exit status $?: $(tail -3 "$WORK"/classify-*.log)"
    wait "$CORR" || fail "bw-correlate exit status $?: $(tail -3 "$WORK"/correlate-*.log)"
    wait "$ALERT" || fail "bw-alert exit status $?: $(tail -3 "$WORK"/alert-*.log)"
}
# distinct event ids of a stage's output (classified + dead letters), and signals
distinct_out() { # run
    {
        "$BW_BUILD/tools/bw-tail" --brokers "$BROKERS" "bw.classified.$1" --timeout.ms 4000 \
            --log.level error | python3 -c 'import json,sys; [print(json.loads(l)["event_id"]) for l in sys.stdin]'
        "$BW_BUILD/tools/bw-tail" --brokers "$BROKERS" "bw.deadletter.cls-$1" --timeout.ms 4000 \
            --log.level error | python3 -c '
import json, sys
for l in sys.stdin:
    d = json.loads(l)
    print("dl:%s:%s" % (d["partition"], d["offset"]))'
    } | sort -u | wc -l
}
signals() { # run: each signal's id and severity, once
    "$BW_BUILD/tools/bw-tail" --brokers "$BROKERS" "bw.signals.$1" --timeout.ms 4000 \
        --log.level error | python3 -c '
import json, sys
for l in sys.stdin:
    s = json.loads(l)
    print(s["alert_id"], s["severity"])' | sort -u
}

# ---- the clean run ----
start_run clean 1
settle_stable 1
settle_stable 3
for _ in $(seq 1 20); do # bw-alert is done once its outcome stops changing
    alert_outcome clean "$ALERT_PORT" 5 >"$WORK/alerts-clean"
    [ -s "$WORK/alerts-clean" ] && cmp -s "$WORK/alerts-clean" "$WORK/alerts-clean.prev" && break
    cp "$WORK/alerts-clean" "$WORK/alerts-clean.prev"
    sleep 1
done
stop_run
keys=$(wc -l <"$WORK/dump-1")
[ "$keys" -gt 500 ] || fail "clean run wrote only $keys keys: $(tail -3 "$WORK/logistics-clean.log")"
clean_out=$(distinct_out clean)
[ "$clean_out" -eq "$reviews" ] || fail "clean run: $clean_out of $reviews reviews out"
signals clean >"$WORK/signals-clean"

# ---- the same input while the broker misbehaves ----
ctl() { echo "$*" >"$CONTROL"; }
ctl rtt all 40 # slow answers stretch the run over the faults
start_run faulty 2
sleep 1
ctl errors fetch 20 NOT_LEADER_FOR_PARTITION
ctl errors offsetcommit 10 REQUEST_TIMED_OUT
sleep 1
ctl down 1
sleep 3
ctl up 1
ctl leader bw.shipments 0 2
ctl leader bw.orders 1 0
ctl leader bw.reviews 2 1
ctl errors produce 10 NOT_LEADER_FOR_PARTITION
sleep 1
ctl errors fetch 5 _TRANSPORT
ctl errors produce 3 _TRANSPORT
ctl errors offsetcommit 5 _TRANSPORT
sleep 1
ctl down 2
sleep 2
ctl up 2
ctl rtt all 0
settle_equal 2 1
if ! cmp -s "$WORK/dump-1" "$WORK/dump-2"; then
    diff "$WORK/dump-1" "$WORK/dump-2" | head -20 >&2
    fail "bw-logistics under faults: Redis differs from the clean run"
fi
settle_equal 4 3
if ! cmp -s "$WORK/dump-3" "$WORK/dump-4"; then
    diff "$WORK/dump-3" "$WORK/dump-4" | head -20 >&2
    fail "bw-correlate under faults: Redis differs from the clean run"
fi
for _ in $(seq 1 20); do
    alert_outcome faulty "$ALERT_PORT" 6 >"$WORK/alerts-faulty"
    cmp -s "$WORK/alerts-clean" "$WORK/alerts-faulty" && break
    sleep 1
done
cmp -s "$WORK/alerts-clean" "$WORK/alerts-faulty" ||
    fail "bw-alert under faults: $(alert_difference clean faulty)"
faulty_out=$(distinct_out faulty)
for _ in $(seq 1 20); do
    [ "$faulty_out" -ge "$reviews" ] && break
    sleep 2
    faulty_out=$(distinct_out faulty)
done
stop_run
[ "$faulty_out" -eq "$reviews" ] || fail "bw-classify under faults: $faulty_out of $reviews reviews out"
signals faulty >"$WORK/signals-faulty"
cmp -s "$WORK/signals-clean" "$WORK/signals-faulty" ||
    fail "signals differ: $(diff "$WORK/signals-clean" "$WORK/signals-faulty" | head -5)"
# a malformed command is refused with why, and the broker keeps serving
ctl errors fetch 2 NO_SUCH_ERROR
ctl leader bw.orders x 1
ctl stall all offsetcommit 1 1000 # one broker by id, not all
ctl stall 1 offsetcommit 1 999999999
sleep 1
[ "$(grep -c 'unknown or malformed command' "$WORK/devkafka.log")" -eq 4 ] ||
    fail "malformed control commands not refused: $(tail -3 "$WORK/devkafka.log")"
kcat -L -b "$bootstrap" >/dev/null 2>&1 || fail "bw-devkafka stopped answering after bad commands"
echo "faults applied: $(grep -c '"msg":"control: ' "$WORK/devkafka.log")"
echo "bw-logistics: $keys keys identical after $events events; $(wc -l <"$WORK/signals-clean") signals, the same"
echo "bw-classify: $reviews of $reviews reviews out (classified or dead-lettered)"
echo "bw-correlate: $(wc -l <"$WORK/dump-3") keys identical; bw-alert: $(grep -c ^sent "$WORK/alerts-clean") alerts, the same outcome"
echo "PASS test_broker_faults"
