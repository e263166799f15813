# The effectively-once harness (source it after lib.sh): the same input
# through a stage three times, each run into its own Redis database and its
# own output topic:
#   clean  one instance, undisturbed;
#   crashy one instance killed with SIGKILL at 5 random points, restarted each time;
#   pair   two instances, a rebalance when the second joins, another when
#          the first is killed with SIGKILL.
# exactly_once_run compares every key of every database with the clean
# run's, value for value (redis_dump.sh says what is left out and why).
# The caller sets STAGE (the binary) and STAGE_ARGS (an array of extra
# arguments) and replays the input first.
#
# idle.ms is set past the test's length: an idle partition stops holding the
# watermark after idle.ms of processing time, which would make when timers
# fire depend on how long a restart took. With it, the watermark is a
# function of the data alone (and persisted per partition with the state).

start_stage() { # group db port
    "$STAGE" --brokers "$BROKERS" --group.id "$1" \
        --redis.url "redis://127.0.0.1:$REDIS_PORT/$2" --http.listen "127.0.0.1:$3" \
        --output.topic "bw.signals.$1" \
        --kafka.session.timeout.ms 6000 --kafka.heartbeat.interval.ms 500 --log.level warn \
        --batch.size 2000 --idle.ms 600000 "${STAGE_ARGS[@]}" 2>>"$WORK/stage-$1.log" &
    STAGE_PID=$!
    PIDS+=($STAGE_PID)
}

# Database 1 (the clean run) until it is stable; the others until they
# equal it (lib.sh).
settle() { # db
    if [ "$1" = 1 ]; then settle_stable 1; else settle_equal "$1" 1; fi
}

exactly_once_run() { # events
    local keys clean_pid crashy_pid first second db
    start_stage clean 1 "$(free_port)"
    clean_pid=$STAGE_PID
    settle 1
    kill -TERM $clean_pid; wait $clean_pid || true
    keys=$(wc -l <"$WORK/dump-1")
    [ "$keys" -gt 1000 ] || fail "clean run wrote only $keys keys: $(tail -3 "$WORK/stage-clean.log")"

    for i in 1 2 3 4 5; do
        start_stage crashy 2 "$(free_port)"
        sleep "$(python3 -c "import random; print(round(random.uniform(3.5, 6.0), 2))")"
        kill -KILL $STAGE_PID; wait $STAGE_PID 2>/dev/null || true
    done
    start_stage crashy 2 "$(free_port)"
    crashy_pid=$STAGE_PID
    settle 2
    kill -TERM $crashy_pid; wait $crashy_pid || true

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
    echo "clean, crashed 5 times, and rebalanced: $keys keys identical after $1 events"
}
