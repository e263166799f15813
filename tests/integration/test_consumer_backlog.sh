#!/usr/bin/env bash
# A stage going through a backlog larger than its prefetch bound does not
# stop for a second each time the bound is reached. librdkafka 2.0 stops
# fetching a partition while the prefetch queue is over its bound and
# looks again only when its broker thread next wakes up, up to a second
# later; bw_consumer_poll wakes it (common/bw_kafka.c, wake_fetchers).
# With a 16 KiB bound, 12,000 reviews refill the queue over a hundred
# times: without the wake-up they took 13-14 s here, most of it in pauses of
# up to a second; with it 0.13 s (1.25 s, in pauses of 100 ms, while a poll
# could wait out its timeout before waking them). What is asserted is the
# pauses, not the time, which depends on the machine: outputs more than
# 500 ms apart add up to under 2 s.
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"

N=12000
start_devkafka 3
bootstrap=$(cat "$WORK/bootstrap")
python3 "$here/gen_reviews.py" $N 5 >"$WORK/in.jsonl"
"$BW_BUILD/tools/bw-replay" --brokers "$BROKERS" --progress never "$WORK/in.jsonl" 2>/dev/null ||
    fail "replay"

port=$(free_port)
"$BW_BUILD/stages/classify/bw-classify" --brokers "$BROKERS" --http.listen "127.0.0.1:$port" \
    --kafka.session.timeout.ms 6000 --kafka.queued.max.messages.kbytes 16 --log.level warn \
    2>"$WORK/classify.log" &
cls=$!
PIDS+=($cls)
# every output's timestamp (ms), as the stage's producer set it
timeout 120 kcat -C -b "$bootstrap" -t bw.reviews.classified -o beginning -c $N -q -f '%T\n' \
    2>/dev/null >"$WORK/ts" || true
python3 - "$WORK/ts" $N <<'PY' || fail "backlog too slow; log: $(tail -3 "$WORK/classify.log")"
import sys
ts = sorted(int(l) for l in open(sys.argv[1]) if l.strip())
n = int(sys.argv[2])
assert len(ts) == n, "%d of %d outputs" % (len(ts), n)
span = (ts[-1] - ts[0]) / 1000.0
pauses = [b - a for a, b in zip(ts, ts[1:]) if b - a > 500]
print("%d reviews through a 16 KiB prefetch bound in %.2f s, %d pauses over 500 ms" %
      (n, span, len(pauses)))
assert sum(pauses) < 2000, "%d pauses of %d ms in all: the consumer waited on its prefetch bound" % (
    len(pauses), sum(pauses))
PY
kill -TERM $cls
wait $cls || fail "bw-classify exit status $? after SIGTERM"
PIDS=("${PIDS[@]/$cls}")
echo "PASS test_consumer_backlog"
