#!/usr/bin/env bash
# bw-classify through the embedded broker: reviews in, classified reviews
# out; every kind of poison dead-lettered with its reason while the
# partition keeps moving; /metrics and /readyz; SIGHUP with a broken rule
# pack keeps the old pack, a fixed one is loaded; SIGTERM drains, exit 0.
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
root=$(cd "$here/../.." && pwd)

# A batch bound out of range, or not a number, stops the start with the key named.
for bad in 100 lots; do
    if "$BW_BUILD/stages/classify/bw-classify" --batch.max.bytes "$bad" 2>"$WORK/bad.log"; then
        fail "bw-classify started with --batch.max.bytes $bad"
    fi
done
grep -q 'batch.max.bytes: expected an integer, got \\"lots\\"' "$WORK/bad.log" ||
    fail "no clear error for --batch.max.bytes lots: $(cat "$WORK/bad.log")"
BW_BATCH_MAX_BYTES=100 "$BW_BUILD/stages/classify/bw-classify" 2>"$WORK/bad.log" &&
    fail "bw-classify started with BW_BATCH_MAX_BYTES=100"
grep -q 'BW_BATCH_MAX_BYTES: batch.max.bytes: expected 65536..1073741824, got 100' "$WORK/bad.log" ||
    fail "no clear error for BW_BATCH_MAX_BYTES=100: $(cat "$WORK/bad.log")"

start_devkafka 3
bootstrap=$(cat "$WORK/bootstrap")
port=$(free_port)
cp -r "$root/stages/classify/rules" "$WORK/rules"

"$BW_BUILD/stages/classify/bw-classify" --brokers "$BROKERS" --http.listen "127.0.0.1:$port" \
    --rules.dir "$WORK/rules" --kafka.session.timeout.ms 6000 --log.level info \
    2>"$WORK/classify.log" &
cls=$!
PIDS+=($cls)

# Five good reviews, then poison of every kind, then one more good review.
cat >"$WORK/good.jsonl" <<'J'
{"event_id":"g1","platform":"AMAZON","marketplace":"US","store_id":"s1","kind":"PRODUCT_REVIEW","rating":1,"body":"Arrived two weeks late and the box was crushed.","occurred_at":"2024-03-01T10:00:00Z"}
{"event_id":"g2","platform":"EBAY","marketplace":"DE","store_id":"s2","kind":"PRODUCT_REVIEW","rating":1,"body":"Funktioniert nicht, sehr schlechte Qualität.","occurred_at":"2024-03-01T10:00:00Z"}
{"event_id":"g3","platform":"OTHER","marketplace":"BR","store_id":"s3","kind":"PRODUCT_REVIEW","rating":1,"body":"Ainda não recebi o produto.","occurred_at":"2024-03-01T10:00:00Z"}
{"event_id":"g4","platform":"AMAZON","marketplace":"JP","store_id":"s1","kind":"PRODUCT_REVIEW","rating":5,"body":"最高です！","occurred_at":"2024-03-01T10:00:00Z"}
{"event_id":"g5","platform":"AMAZON","marketplace":"US","store_id":"s1","kind":"SELLER_MESSAGE","body":"Please update your review and we will refund you.","occurred_at":"2024-03-01T10:00:00Z"}
J
"$BW_BUILD/tools/bw-replay" --brokers "$BROKERS" "$WORK/good.jsonl" 2>/dev/null
printf 'definitely not avro' | kcat -P -b "$bootstrap" -t bw.reviews -k s1 2>/dev/null
for k in bad_enum bad_utf8 truncated order_event; do
    python3 "$here/rawavro.py" $k >"$WORK/$k.bin"
    kcat -P -b "$bootstrap" -t bw.reviews -k s1 "$WORK/$k.bin" 2>/dev/null
done
echo '{"event_id":"g6","platform":"AMAZON","marketplace":"US","store_id":"s1","kind":"PRODUCT_REVIEW","rating":2,"body":"Wrong size sent.","occurred_at":"2024-03-01T10:00:00Z"}' |
    "$BW_BUILD/tools/bw-replay" --brokers "$BROKERS" 2>/dev/null

"$BW_BUILD/tools/bw-tail" --brokers "$BROKERS" bw.reviews.classified --count 6 --timeout.ms 40000 \
    --log.level warn >"$WORK/classified.jsonl" || fail "classified: $(wc -l <"$WORK/classified.jsonl") of 6; log: $(tail -5 "$WORK/classify.log")"
"$BW_BUILD/tools/bw-tail" --brokers "$BROKERS" bw.deadletter --count 5 --timeout.ms 20000 \
    --log.level warn >"$WORK/dead.jsonl" || fail "dead letters: $(wc -l <"$WORK/dead.jsonl") of 5"

python3 - "$WORK/classified.jsonl" "$WORK/dead.jsonl" <<'PY' || fail "wrong output"
import json, sys
out = {r["event_id"]: r for r in map(json.loads, open(sys.argv[1], encoding="utf-8"))}
assert sorted(out) == ["g1", "g2", "g3", "g4", "g5", "g6"], sorted(out)
assert out["g1"]["primary_cause"] in ("logistics_damaged", "logistics_delay"), out["g1"]
assert set(out["g1"]["causes"]) >= {"logistics_delay", "logistics_damaged"}, out["g1"]["causes"]
assert out["g2"]["detected_language"] == "de" and "quality_defect" in out["g2"]["causes"]
assert out["g3"]["causes"] == ["logistics_delay"] and out["g3"]["response_due_at"] == "2024-03-02T10:00:00.000Z"
assert out["g4"]["causes"] == [] and out["g4"]["sentiment"] > 0
assert out["g5"]["policy_flags"] == ["ASKS_REVIEW_CHANGE", "OFFERS_INCENTIVE"], out["g5"]
assert out["g6"]["causes"] == ["not_as_described"]
codes = sorted(d["error_code"] for d in map(json.loads, open(sys.argv[2])))
assert codes == ["BAD_ENUM", "BAD_MAGIC", "BAD_UTF8", "TRUNCATED", "WRONG_SCHEMA"], codes
for d in map(json.loads, open(sys.argv[2])):
    assert d["stage"] == "classify" and d["topic"] == "bw.reviews" and d["error"], d
print("classified 6, dead-lettered 5:", ", ".join(codes))
PY

curl -sf "http://127.0.0.1:$port/readyz" >/dev/null || fail "/readyz not ready"
metrics=$(curl -sf "http://127.0.0.1:$port/metrics")
grep -q 'bw_classify_reviews_total{language="en"} ' <<<"$metrics" || fail "no review counter"
grep -q 'bw_deadletters_total{reason="BAD_ENUM"} 1' <<<"$metrics" || fail "no dead-letter counter"

# SIGHUP with a broken pack: the old pack stays, the stage keeps working.
rules_before=$(echo "$metrics" | awk '/^bw_classify_rules /{print $2}')
echo 'lang en
rule en.broken quality_defect 1 (unclosed' >"$WORK/rules/zz-broken.rules"
kill -HUP $cls
sleep 1
grep -q 'rule pack not reloaded, keeping the old one: zz-broken.rules:2: pattern does not compile' "$WORK/classify.log" ||
    fail "broken reload not reported: $(tail -3 "$WORK/classify.log")"
# (no curl | grep -q under pipefail: grep's early exit is curl's SIGPIPE)
grep -q 'bw_classify_reloads_total{result="error"} 1' <<<"$(curl -sf "http://127.0.0.1:$port/metrics")" ||
    fail "reload error not counted"
echo 'lang en
rule en.extra price 1 \bpricey\b' >"$WORK/rules/zz-broken.rules"
kill -HUP $cls
sleep 1
rules_after=$(curl -sf "http://127.0.0.1:$port/metrics" | awk '/^bw_classify_rules /{print $2}')
[ "$rules_after" = "$((rules_before + 1))" ] || fail "reload: rules $rules_before -> $rules_after"

kill -TERM $cls
wait $cls || fail "bw-classify exit status $? after SIGTERM"
PIDS=("${PIDS[@]/$cls}")
echo "PASS test_classify_stage"
