#!/usr/bin/env bash
# Poison input on every topic a stage reads, in one place: bw.reviews
# (bw-classify), bw.orders and bw.shipments (bw-logistics),
# bw.reviews.classified and bw.actions (bw-correlate), bw.signals (bw-alert)
# each get the same malformed cases, made from a valid record of the topic
# (poison.py): garbage, JSON instead of Avro, a record
# cut in half, one cut by a byte, trailing bytes, an unknown schema id,
# another topic's record, invalid UTF-8, a negative and a 2^40 string
# length, an unknown enum index. Then one valid record (the canary) on the
# same partition. Each poison must come out on bw.deadletter exactly once,
# with its topic, partition, offset, an error code and a reason; the canary
# must be processed (the partition keeps moving), and nothing else is
# dead-lettered.
here=$(cd "$(dirname "$0")/../integration" && pwd)
faults=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
start_devkafka 2
start_redis
bootstrap=$(cat "$WORK/bootstrap")
# (an empty payload is not among them: neither kcat nor librdkafka's mock
# broker passes one on; tests/unit/test_serde.c decodes every length from 0)
CASES=(garbage json truncated cut1 trailing unknown_id other_type bad_utf8 neg_length huge_length
       bad_enum)
T='"2024-03-01T00:00:00.000Z"'
N='"store_id":"s1","platform":null,"sku":null,"carrier":null,"lane":null'
# topic | record type | a valid record (ID is replaced: PZ-... for the poisons, CANARY for
# the canary) | the marker string an enum follows | bytes between them
rows() {
    cat <<ROWS
bw.reviews|ReviewEvent|{"event_id":"ID","platform":"AMAZON","marketplace":"US","store_id":"s1","kind":"PRODUCT_REVIEW","order_id":null,"sku":null,"rating":1,"title":null,"body":"arrived broken","language":null,"fulfilled_by_platform":null,"occurred_at":$T}|ID|0
bw.orders|OrderEvent|{"event_id":"oe-ID","store_id":"s1","platform":"AMAZON","marketplace":"US","order_id":"ID","skus":[],"placed_at":$T,"promised_ship_by":$T,"promised_delivery_by":$T,"status":"PLACED","occurred_at":$T}|s1|0
bw.shipments|ShipmentEvent|{"event_id":"se-ID","store_id":"s1","order_id":"ID","carrier":"DHL","tracking_no":"T1","origin_country":"CN","dest_country":"US","dest_region":null,"status":"PICKED_UP","estimated_delivery":null,"occurred_at":$T}|US|1
bw.actions|SellerAction|{"event_id":"ae-ID","store_id":"s1","ref_event_id":"ID","action":"REPLIED","occurred_at":$T}|ID|0
bw.reviews.classified|ClassifiedReview|{"event_id":"ID","platform":"AMAZON","marketplace":"US","store_id":"s1","kind":"SELLER_FEEDBACK","order_id":null,"sku":null,"rating":2,"title":null,"body":"slow","language":null,"fulfilled_by_platform":null,"occurred_at":$T,"causes":[],"primary_cause":null,"sentiment":0.0,"severity":"LOW","removable":null,"policy_flags":[],"response_due_at":null,"rules":[],"detected_language":"en","body_truncated":false,"classified_at":$T}|ID|0
bw.signals|Signal|{"alert_id":"ID","type":"CARRIER_DELAY_SPIKE","severity":"WARNING","state":"FIRING","scope":{$N,"event_id":null},"window_start":$T,"window_end":$T,"observed":0.3,"baseline":0.05,"threshold":0.1,"sample_size":120,"evidence":[],"playbook":"act","detail":null,"first_seen":$T,"last_seen":$T,"occurrences":1}|ID|0
ROWS
}
# a record's wire bytes: through bw-replay (which validates and encodes)
# into a scratch topic, read back raw
wire() { # schema json out
    local scratch="pz.$(basename "$3" .bin)"
    printf '%s\n' "$2" | "$BW_BUILD/tools/bw-replay" --brokers "$BROKERS" --topic "$scratch" \
        --schema "$1" --progress never 2>>"$WORK/replay.log" ||
        fail "replay of a $1: $(tail -2 "$WORK/replay.log")"
    kcat -C -b "$bootstrap" -t "$scratch" -o beginning -c 1 -e -f '%s' -q >"$3" 2>/dev/null ||
        fail "kcat $scratch"
    [ -s "$3" ] || fail "no record on $scratch"
}
n=0
while IFS='|' read -r topic schema json marker skip; do
    n=$((n + 1))
    canary=${json//\"ID\"/\"CANARY\"}
    canary=${canary//-ID\"/-CANARY\"}
    wire "$schema" "${json//\"ID\"/\"PZ-ID\"}" "$WORK/valid-$n.bin"
    wire "$schema" "$canary" "$WORK/canary-$n.bin"
    echo "$topic" >"$WORK/topic-$n"
    echo "$marker|$skip" >"$WORK/marker-$n"
done < <(rows)
# each input topic: the poisons at offsets 0..10 of one partition (key s1),
# then the canary
for i in $(seq 1 "$n"); do
    topic=$(cat "$WORK/topic-$i")
    IFS='|' read -r marker skip <"$WORK/marker-$i"
    [ "$marker" = ID ] && marker=PZ-ID
    other="$WORK/valid-$((i % n + 1)).bin"
    for c in "${CASES[@]}"; do
        python3 "$faults/poison.py" "$c" "$WORK/valid-$i.bin" "$other" "$marker" "$skip" \
            >"$WORK/p-$i-$c.bin" || fail "poison.py $c for $topic"
        kcat -P -b "$bootstrap" -t "$topic" -k s1 "$WORK/p-$i-$c.bin" 2>/dev/null || fail "kcat -P $topic"
    done
    kcat -P -b "$bootstrap" -t "$topic" -k s1 "$WORK/canary-$i.bin" 2>/dev/null || fail "kcat -P $topic"
done
npoison=$((n * ${#CASES[@]}))
echo "input: ${#CASES[@]} poisons and a canary on each of $n topics"

# ---- the four stages ----
start() { # stage
    local port
    port=$(free_port)
    "$BW_BUILD/stages/$1/bw-$1" --brokers "$BROKERS" --redis.url "$REDIS_URL" \
        --http.listen "127.0.0.1:$port" --log.level warn 2>"$WORK/$1.log" &
    PIDS+=($!)
    eval "PORT_$1=$port PID_$1=$!"
}
for s in classify logistics correlate alert; do start "$s"; done
metric() { # stage regex: the sum of the matching series
    curl -sf "http://127.0.0.1:$(eval echo "\$PORT_$1")/metrics" 2>/dev/null |
        awk -v re="$2" '$0 ~ re { n += $2 } END { print n + 0 }'
}
# every record read: the poisons and the canary of each topic (bw-correlate
# also reads bw-classify's canary output)
per=$((${#CASES[@]} + 1))
want=(classify $per logistics $((2 * per)) correlate $((2 * per + 1)) alert $per)
for k in 0 2 4 6; do
    s=${want[$k]}
    for _ in $(seq 1 150); do
        [ "$(metric "$s" '^bw_messages_consumed_total')" -ge "${want[$((k + 1))]}" ] && break
        sleep 0.2
    done
    got=$(metric "$s" '^bw_messages_consumed_total')
    [ "$got" -ge "${want[$((k + 1))]}" ] ||
        fail "bw-$s consumed $got of ${want[$((k + 1))]}: $(grep -v CONFWARN "$WORK/$s.log" | tail -3)"
done
sleep 2
"$BW_BUILD/tools/bw-tail" --brokers "$BROKERS" bw.deadletter --timeout.ms 3000 \
    --log.level warn >"$WORK/dead.jsonl"
python3 - "$WORK/dead.jsonl" "$n" "${#CASES[@]}" "${CASES[@]}" <<'PY' || fail "dead letters wrong"
import json, sys
dead = [json.loads(l) for l in open(sys.argv[1])]
ntopics, ncases, cases = int(sys.argv[2]), int(sys.argv[3]), sys.argv[4:]
by = {}
for d in dead:
    by.setdefault(d["topic"], []).append(d)
assert len(by) == ntopics, sorted(by)
for topic, ds in sorted(by.items()):
    offs = sorted(d["offset"] for d in ds)
    assert offs == list(range(ncases)), (topic, offs)
    assert len({d["partition"] for d in ds}) == 1, topic
    for d in sorted(ds, key=lambda d: d["offset"]):
        assert d["error_code"] and d["error"] and d["stage"], d
    print("%-22s %d dead letters, one per case (%s)" % (
        topic, len(ds), ", ".join(sorted({d["error_code"] for d in ds}))))
for d in sorted(by["bw.reviews"], key=lambda d: d["offset"]):
    print("  bw.reviews %-12s %s: %s" % (cases[d["offset"]], d["error_code"], d["error"][:90]))
PY
# ---- the canaries: each partition kept moving ----
[ "$(metric classify '^bw_messages_produced_total.*bw.reviews.classified')" = 1 ] ||
    fail "bw-classify did not classify its canary"
rcli() { redis-cli -p "$REDIS_PORT" "$@"; }
[ -n "$(rcli HGET 'bw:{s=s1}:o:CANARY' placed)" ] || fail "bw-logistics did not index its canary order"
[ -n "$(rcli HGET 'bw:{s=s1}:o:CANARY' shipped)$(rcli HGET 'bw:{s=s1}:o:CANARY' carrier)" ] ||
    fail "bw-logistics did not apply its canary scan: $(rcli HGETALL 'bw:{s=s1}:o:CANARY' | tr '\n' ' ')"
[ -n "$(rcli HGET 'bw:{s=s1}:m:CANARY' replied)" ] || fail "bw-correlate did not apply its canary action"
[ "$(rcli HGET "bw:{s=s1}:r:$(( $(date -d 2024-03-01Z +%s) * 1000 ))" fb)" = 1 ] ||
    fail "bw-correlate did not count its canary feedback"
for _ in $(seq 1 50); do
    [ "$(metric alert '^bw_alerts_sent_total')" -ge 1 ] && break
    sleep 0.2
done
[ "$(metric alert '^bw_alerts_sent_total')" -ge 1 ] || fail "bw-alert did not alert on its canary"
for s in classify logistics correlate alert; do
    kill -TERM "$(eval echo "\$PID_$s")"
    wait "$(eval echo "\$PID_$s")" || fail "bw-$s exit status $?"
done
echo "canaries processed on every topic; $npoison poisons, $npoison dead letters"
echo "PASS test_poison"
