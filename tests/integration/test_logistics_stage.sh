#!/usr/bin/env bash
# bw-logistics through the embedded broker and a real redis-server: a delay
# spike on one carrier x lane raises CARRIER_DELAY_SPIKE for its days; the
# calm lane stays quiet; events from the year 3000 are dead-lettered.
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"

start_devkafka 3
start_redis
python3 "$here/gen_logistics.py" "$WORK" 22 60
port=$(free_port)
"$BW_BUILD/stages/logistics/bw-logistics" --brokers "$BROKERS" --redis.url "$REDIS_URL" \
    --http.listen "127.0.0.1:$port" --kafka.session.timeout.ms 6000 --log.level info \
    2>"$WORK/logistics.log" &
lg=$!
PIDS+=($lg)
"$BW_BUILD/tools/bw-replay" --brokers "$BROKERS" --topic bw.orders "$WORK/orders.jsonl" 2>/dev/null
"$BW_BUILD/tools/bw-replay" --brokers "$BROKERS" --topic bw.shipments "$WORK/shipments.jsonl" 2>/dev/null
echo '{"event_id":"future","store_id":"store-01","order_id":"o-x","carrier":"DHL","tracking_no":"T","origin_country":"CN","dest_country":"DE","dest_region":null,"status":"DELIVERED","estimated_delivery":null,"occurred_at":"3000-01-01T00:00:00Z"}' |
    "$BW_BUILD/tools/bw-replay" --brokers "$BROKERS" --topic bw.shipments 2>/dev/null
total=$(( $(wc -l <"$WORK/orders.jsonl") + $(wc -l <"$WORK/shipments.jsonl") + 1 ))
# wait until every event is consumed
for _ in $(seq 1 300); do
    got=$(curl -sf "http://127.0.0.1:$port/metrics" | awk '/^bw_messages_consumed_total/{s+=$2} END{print s+0}')
    [ "$got" -ge "$total" ] && break
    sleep 0.2
done
[ "$got" -ge "$total" ] || fail "consumed $got of $total: $(tail -3 "$WORK/logistics.log")"
sleep 1
"$BW_BUILD/tools/bw-tail" --brokers "$BROKERS" bw.signals --timeout.ms 3000 --log.level warn >"$WORK/signals.jsonl"
"$BW_BUILD/tools/bw-tail" --brokers "$BROKERS" bw.deadletter --count 1 --timeout.ms 10000 --log.level warn >"$WORK/dead.jsonl" ||
    fail "the year-3000 event was not dead-lettered"
grep -q 'further in the future' "$WORK/dead.jsonl" || fail "dead letter reason: $(cat "$WORK/dead.jsonl")"
python3 - "$WORK/signals.jsonl" "$WORK/truth.json" <<'PY' || fail "wrong signals"
import json, sys
sig = [json.loads(l) for l in open(sys.argv[1])]
truth = json.load(open(sys.argv[2]))
spikes = [s for s in sig if s["type"] == "CARRIER_DELAY_SPIKE"]
t = truth["spike"]
def day(s):  # the day judged: the last of the signal's span
    from datetime import datetime
    ms = int(datetime.strptime(s["window_end"], "%Y-%m-%dT%H:%M:%S.%fZ").timestamp() * 1000)
    return (ms - t["base"]) // t["day_ms"] - 1
hit = sorted({day(s) for s in spikes if s["scope"]["carrier"] == t["carrier"] and s["scope"]["lane"] == t["lane"] and day(s) >= 0})
calm = [s for s in spikes if s["scope"]["carrier"] == truth["calm"]["carrier"] and day(s) >= 0]
print("delay spike windows (days):", hit, "calm-lane spikes:", len(calm))
assert hit, "no spike for the spiking lane"
assert set(hit) <= set(t["days"]), "spike outside the delay period: %s %s" % (hit, [ (s["window_start"], s["observed"], s["baseline"], s["sample_size"], s["detail"]) for s in spikes if day(s) not in t["days"]])
assert not calm, "calm lane fired: %s" % [(s["window_start"], s["observed"], s["baseline"], s["threshold"], s["sample_size"], s["detail"]) for s in calm]
s = [s for s in spikes if s["scope"]["carrier"] == t["carrier"]][0]
assert s["observed"] > s["threshold"] > s["baseline"] and len(s["evidence"]) >= 1 and s["sample_size"] >= 30
PY
kill -TERM $lg
wait $lg || fail "bw-logistics exit status $?"
PIDS=("${PIDS[@]/$lg}")
echo "PASS test_logistics_stage"
