#!/usr/bin/env bash
# bw-alert through the embedded broker and a real redis-server: a flood of
# one signal is one alert; a worse one is re-sent; a better one is not;
# alerts resolve after the hold time (event time); poison (garbage, an
# unknown signal type, an empty scope) is dead-lettered;
# /alerts and bw_alerts_active show what fires; after SIGKILL and a restart
# the state is back and nothing is sent twice; with Redis down nothing is
# sent, and once it is back the alert is sent once; e-mail addresses and
# phone numbers are redacted from alerts.
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"

start_devkafka 3
start_redis
bootstrap=$(cat "$WORK/bootstrap")
port=$(free_port)
# a bad alert.keep.ms (negative, not a number) stops bw-alert before it
# starts, naming the key
for bad in -1 soon; do
    if "$BW_BUILD/stages/alert/bw-alert" --brokers "$BROKERS" --redis.url "$REDIS_URL" \
        --alert.keep.ms "$bad" 2>"$WORK/bad.log"; then
        fail "bw-alert started with alert.keep.ms=$bad"
    fi
    grep -q 'alert.keep.ms' "$WORK/bad.log" || fail "alert.keep.ms=$bad refused without naming it: $(cat "$WORK/bad.log")"
done
start_alert() {
    "$BW_BUILD/stages/alert/bw-alert" --brokers "$BROKERS" --redis.url "$REDIS_URL" \
        --http.listen "127.0.0.1:$port" --alert.hold.ms 86400000 --alert.cooldown.ms 0 \
        --kafka.session.timeout.ms 6000 --log.level info 2>>"$WORK/alert.log" &
    ALERT=$!
    PIDS+=($ALERT)
}
signal() { # id type severity scope-json last_seen-day
    printf '{"alert_id":"%s","type":"%s","severity":"%s","state":"FIRING","scope":%s,"window_start":"2024-01-%02dT00:00:00Z","window_end":"2024-01-%02dT00:00:00Z","observed":0.3,"baseline":0.05,"threshold":0.1,"sample_size":120,"evidence":["e-%s"],"playbook":"act","detail":null,"first_seen":"2024-01-%02dT00:00:00Z","last_seen":"2024-01-%02dT%02d:00:00Z","occurrences":1}\n' \
        "$1" "$2" "$3" "$4" "$5" "$(($5 + 1))" "$1" "$5" "$5" "$6"
}
DHL='{"store_id":null,"platform":null,"sku":null,"carrier":"DHL","lane":"CN->DE","event_id":null}'
STORE='{"store_id":"store-7","platform":null,"sku":null,"carrier":null,"lane":null,"event_id":null}'
UPS='{"store_id":null,"platform":null,"sku":null,"carrier":"UPS","lane":"US->DE","event_id":null}'
NONE='{"store_id":null,"platform":null,"sku":null,"carrier":null,"lane":null,"event_id":null}'
{
    signal d1 CARRIER_DELAY_SPIKE WARNING "$DHL" 1 1
    for h in 2 3 4 5 6 7 8 9 10 11; do signal d1 CARRIER_DELAY_SPIKE WARNING "$DHL" 1 $h; done
    signal d1 CARRIER_DELAY_SPIKE CRITICAL "$DHL" 1 12
    signal d1 CARRIER_DELAY_SPIKE WARNING "$DHL" 1 13
    signal l1 LATE_SHIPMENT_RATE_AT_RISK WARNING "$STORE" 1 14
    signal x1 CARRIER_DELAY_SPIKE WARNING "$NONE" 1 15
} >"$WORK/first.jsonl"
start_alert
"$BW_BUILD/tools/bw-replay" --brokers "$BROKERS" --topic bw.signals --key.field alert_id \
    --progress never "$WORK/first.jsonl" 2>/dev/null || fail "replay"
printf 'definitely not avro' | kcat -P -b "$bootstrap" -t bw.signals -k d1 2>/dev/null
python3 "$here/rawavro.py" signal_bad_type >"$WORK/bad_type.bin"
kcat -P -b "$bootstrap" -t bw.signals -k d1 "$WORK/bad_type.bin" 2>/dev/null
"$BW_BUILD/tools/bw-tail" --brokers "$BROKERS" bw.alerts --count 3 --timeout.ms 30000 \
    --log.level warn >"$WORK/a1.jsonl" || fail "alerts: $(cat "$WORK/a1.jsonl"); $(tail -3 "$WORK/alert.log")"
python3 - "$WORK/a1.jsonl" <<'PY' || fail "first alerts wrong: $(cat "$WORK/a1.jsonl")"
import json, sys
a = [json.loads(l) for l in open(sys.argv[1])]
got = sorted((x["type"], x["severity"], x["state"], x["version"], x["occurrences"]) for x in a)
assert got == [("CARRIER_DELAY_SPIKE", "CRITICAL", "FIRING", 2, 12),
               ("CARRIER_DELAY_SPIKE", "WARNING", "FIRING", 1, 1),
               ("LATE_SHIPMENT_RATE_AT_RISK", "WARNING", "FIRING", 1, 1)], got
dhl = [x for x in a if x["type"] == "CARRIER_DELAY_SPIKE"]
assert dhl[0]["alert_id"] == dhl[1]["alert_id"], "one alert, two versions"
assert all(x["summary"] and x["playbook"] for x in a)
PY
"$BW_BUILD/tools/bw-tail" --brokers "$BROKERS" bw.deadletter --count 3 --timeout.ms 20000 \
    --log.level warn >"$WORK/dead.jsonl" || fail "dead letters: $(cat "$WORK/dead.jsonl")"
grep -q 'scope: empty' "$WORK/dead.jsonl" || fail "no dead letter for the empty scope"
grep -q 'magic\|too short\|wire' "$WORK/dead.jsonl" || fail "no dead letter for the garbage: $(cat "$WORK/dead.jsonl")"
grep -q '"error":"type: enum index 99 out of range' "$WORK/dead.jsonl" || fail "no dead letter for the unknown type: $(cat "$WORK/dead.jsonl")"
sleep 1
# (no curl | grep -q under pipefail: grep's early exit is curl's SIGPIPE)
grep -q '"severity":"CRITICAL"' <<<"$(curl -sf "http://127.0.0.1:$port/alerts?type=CARRIER_DELAY_SPIKE")" ||
    fail "/alerts: $(curl -s "http://127.0.0.1:$port/alerts")"
[ "$(curl -sf "http://127.0.0.1:$port/alerts?store=store-7" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')" = 1 ] ||
    fail "/alerts?store=store-7"
grep -q '^bw_alerts_active{type="CARRIER_DELAY_SPIKE",severity="CRITICAL"} 1' <<<"$(curl -sf "http://127.0.0.1:$port/metrics")" ||
    fail "gauge: $(curl -s "http://127.0.0.1:$port/metrics" | grep alerts_active)"

# SIGKILL, restart: the state comes back from Redis; a repeat is rolled up,
# and two days later (event time) both alerts resolve, once.
sleep 1
kill -KILL $ALERT; wait $ALERT 2>/dev/null || true
start_alert
{
    signal d1 CARRIER_DELAY_SPIKE WARNING "$DHL" 1 16
    signal u1 SHIPMENT_STALLED WARNING "$UPS" 4 1
} | "$BW_BUILD/tools/bw-replay" --brokers "$BROKERS" --topic bw.signals --key.field alert_id \
    --progress never 2>/dev/null || fail "replay 2"
"$BW_BUILD/tools/bw-tail" --brokers "$BROKERS" bw.alerts --count 6 --timeout.ms 30000 \
    --log.level warn >"$WORK/a2.jsonl" || fail "alerts after restart: $(cat "$WORK/a2.jsonl"); $(tail -3 "$WORK/alert.log")"
sleep 3
"$BW_BUILD/tools/bw-tail" --brokers "$BROKERS" bw.alerts --timeout.ms 3000 --log.level warn >"$WORK/all.jsonl"
python3 - "$WORK/all.jsonl" <<'PY' || fail "alerts after restart wrong: $(cut -c1-200 "$WORK/all.jsonl")"
import json, sys
a = [json.loads(l) for l in open(sys.argv[1])]
got = sorted((x["type"], x["state"], x["version"]) for x in a)
assert got == [("CARRIER_DELAY_SPIKE", "FIRING", 1), ("CARRIER_DELAY_SPIKE", "FIRING", 2),
               ("CARRIER_DELAY_SPIKE", "RESOLVED", 3),
               ("LATE_SHIPMENT_RATE_AT_RISK", "FIRING", 1),
               ("LATE_SHIPMENT_RATE_AT_RISK", "RESOLVED", 2),
               ("SHIPMENT_STALLED", "FIRING", 1)], got
r = [x for x in a if x["type"] == "CARRIER_DELAY_SPIKE" and x["state"] == "RESOLVED"][0]
assert r["occurrences"] == 14, r  # the repeat after the restart was rolled up into it
PY
[ "$(curl -sf "http://127.0.0.1:$port/alerts" | python3 -c 'import json,sys; print([x["type"] for x in json.load(sys.stdin)])')" = "['SHIPMENT_STALLED']" ] ||
    fail "/alerts after resolve: $(curl -s "http://127.0.0.1:$port/alerts")"

# Personal data in a signal (an e-mail address as an event id, a phone
# number in the detail) does not reach the alert: redacted by default.
PII='{"store_id":"store-7","platform":null,"sku":null,"carrier":null,"lane":null,"event_id":"buyer@example.com"}'
signal p1 REMOVABLE_FEEDBACK WARNING "$PII" 4 3 |
    sed 's/"detail":null/"detail":"PERSONAL_DATA: call +1 (555) 123-4567"/; s/"evidence":\["e-p1"\]/"evidence":["jane.doe@example.org"]/' |
    "$BW_BUILD/tools/bw-replay" --brokers "$BROKERS" --topic bw.signals --key.field alert_id \
        --progress never 2>/dev/null || fail "replay pii"
for _ in $(seq 1 30); do
    "$BW_BUILD/tools/bw-tail" --brokers "$BROKERS" bw.alerts --timeout.ms 1000 --log.level warn >"$WORK/pii.jsonl"
    grep -q REMOVABLE_FEEDBACK "$WORK/pii.jsonl" && break
done
grep REMOVABLE_FEEDBACK "$WORK/pii.jsonl" >"$WORK/pii1.jsonl" || fail "no REMOVABLE_FEEDBACK alert"
grep -q '@\|555' "$WORK/pii1.jsonl" && fail "personal data in the alert: $(cat "$WORK/pii1.jsonl")"
python3 - "$WORK/pii1.jsonl" <<'PY' || fail "redaction: $(cat "$WORK/pii1.jsonl")"
import json, sys
a = json.loads(open(sys.argv[1]).readline())
assert a["scope"]["event_id"] == "[email]", a["scope"]
assert a["evidence"] == ["[email]"], a["evidence"]
assert a["detail"] == "PERSONAL_DATA: call [phone]", a["detail"]
assert "event_id=[email]" in a["summary"], a["summary"]
PY
grep -q '^bw_alerts_redacted_total 3' <<<"$(curl -sf "http://127.0.0.1:$port/metrics")" ||
    fail "redaction metric: $(curl -s "http://127.0.0.1:$port/metrics" | grep redacted)"

# Redis down while an alert fires: nothing is sent until Redis is back
# (state and outbox are written first), then it is sent exactly once.
redis_pid=$(pgrep -f "redis-server.*:$REDIS_PORT" | head -1)
kill -TERM "$redis_pid"
while kill -0 "$redis_pid" 2>/dev/null; do sleep 0.1; done
FEDEX='{"store_id":null,"platform":null,"sku":null,"carrier":"FedEx","lane":"CN->US","event_id":null}'
signal f1 CARRIER_DELAY_SPIKE CRITICAL "$FEDEX" 4 2 |
    "$BW_BUILD/tools/bw-replay" --brokers "$BROKERS" --topic bw.signals --key.field alert_id \
        --progress never 2>/dev/null || fail "replay 3"
sleep 4
"$BW_BUILD/tools/bw-tail" --brokers "$BROKERS" bw.alerts --timeout.ms 2000 --log.level warn >"$WORK/down.jsonl"
grep -q FedEx "$WORK/down.jsonl" && fail "an alert was sent while Redis was down"
redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --dir "$WORK/redis" --save "" \
    --appendonly yes --appendfsync everysec --loglevel warning >>"$WORK/redis.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 1 100); do redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && break; sleep 0.1; done
for _ in $(seq 1 60); do
    "$BW_BUILD/tools/bw-tail" --brokers "$BROKERS" bw.alerts --timeout.ms 1000 --log.level warn >"$WORK/up.jsonl"
    grep -q FedEx "$WORK/up.jsonl" && break
done
sleep 2
"$BW_BUILD/tools/bw-tail" --brokers "$BROKERS" bw.alerts --timeout.ms 2000 --log.level warn >"$WORK/up.jsonl"
[ "$(grep -c FedEx "$WORK/up.jsonl")" = 1 ] ||
    fail "FedEx alert sent $(grep -c FedEx "$WORK/up.jsonl") times after Redis came back; $(tail -3 "$WORK/alert.log")"
kill -TERM $ALERT
wait $ALERT || fail "bw-alert exit status $?"
PIDS=("${PIDS[@]/$ALERT}")
echo "PASS test_alert_stage"
