#!/usr/bin/env bash
# Effectively once: the same >= 100,000 order and shipment events through
# bw-logistics three times, each into its own Redis database:
#   clean  one instance, undisturbed;
#   crashy one instance killed with SIGKILL at 5 random points, restarted each time;
#   pair   two instances, a rebalance when the second joins, another when
#          the first is killed with SIGKILL.
# Every key of every database must equal the clean run's, value for value.
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
# 20 days (10 of warm-up) x 2 lanes x 850 orders x 3 events = 102,000 events
PER_DAY=${BW_EXONCE_PER_DAY:-850}
DAYS=${BW_EXONCE_DAYS:-10}

start_devkafka 6
start_redis
python3 "$here/gen_logistics.py" "$WORK" "$DAYS" "$PER_DAY" 7
events=$(( $(wc -l <"$WORK/orders.jsonl") + $(wc -l <"$WORK/shipments.jsonl") ))
echo "events: $events"
"$BW_BUILD/tools/bw-replay" --brokers "$BROKERS" --topic bw.orders "$WORK/orders.jsonl" 2>/dev/null || fail "replay orders"
"$BW_BUILD/tools/bw-replay" --brokers "$BROKERS" --topic bw.shipments "$WORK/shipments.jsonl" 2>/dev/null || fail "replay shipments"

# idle.ms is set past the test's length: an idle partition stops holding the
# watermark after idle.ms of processing time, which would make when parcel
# timers fire depend on how long a restart took. With it, the watermark is
# a function of the data alone (and persisted per partition with the state).
start_stage() { # group db port
    "$BW_BUILD/stages/logistics/bw-logistics" --brokers "$BROKERS" --group.id "$1" \
        --redis.url "redis://127.0.0.1:$REDIS_PORT/$2" --http.listen "127.0.0.1:$3" \
        --kafka.session.timeout.ms 6000 --kafka.heartbeat.interval.ms 500 --log.level warn \
        --batch.size 2000 --idle.ms 600000 2>>"$WORK/stage-$1.log" &
    STAGE_PID=$!
    PIDS+=($STAGE_PID)
}

# Wait until database $1 equals the clean run's dump (when there is one),
# or has data and has stopped changing for 4 s; then dump it.
settle() { # db
    local last="" cur n=0
    for _ in $(seq 1 400); do
        "$here/redis_dump.sh" "$REDIS_PORT" "$1" >"$WORK/dump-$1"
        if [ "$1" != 1 ]; then # the others run until they match, or time out
            cmp -s "$WORK/dump-1" "$WORK/dump-$1" && return
            sleep 0.5
            continue
        fi
        cur=$(md5sum <"$WORK/dump-$1")
        if [ "$cur" = "$last" ] && [ "$(wc -l <"$WORK/dump-$1")" -gt 10 ]; then
            n=$((n + 1))
        else
            n=0
        fi
        [ $n -ge 8 ] && return
        last=$cur
        sleep 0.5
    done
}

# clean
start_stage clean 1 "$(free_port)"
clean_pid=$STAGE_PID
settle 1
kill -TERM $clean_pid; wait $clean_pid || true
keys=$(wc -l <"$WORK/dump-1")
[ "$keys" -gt 1000 ] || fail "clean run wrote only $keys keys: $(tail -3 "$WORK/stage-clean.log")"

# crashy: SIGKILL at 5 random points
for i in 1 2 3 4 5; do
    start_stage crashy 2 "$(free_port)"
    sleep "$(python3 -c "import random; print(round(random.uniform(3.5, 6.0), 2))")"
    kill -KILL $STAGE_PID; wait $STAGE_PID 2>/dev/null || true
done
start_stage crashy 2 "$(free_port)"
crashy_pid=$STAGE_PID
settle 2
kill -TERM $crashy_pid; wait $crashy_pid || true

# pair: a second instance joins, then the first dies
start_stage pair 3 "$(free_port)"
first=$STAGE_PID
sleep 4
start_stage pair 3 "$(free_port)"
second=$STAGE_PID
sleep 3
kill -KILL $first; wait $first 2>/dev/null || true
settle 3
kill -TERM $second; wait $second || true

for db in 2 3; do
    if ! cmp -s "$WORK/dump-1" "$WORK/dump-$db"; then
        diff "$WORK/dump-1" "$WORK/dump-$db" | head -20 >&2
        fail "database $db differs from the clean run ($(diff "$WORK/dump-1" "$WORK/dump-$db" | grep -c '^[<>]') lines)"
    fi
done
echo "clean, crashed 5 times, and rebalanced: $keys keys identical after $events events"
echo "PASS test_logistics_exactly_once"
