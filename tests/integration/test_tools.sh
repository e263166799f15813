#!/usr/bin/env bash
# bw-replay, bw-tail and bw-devkafka on bad input: every bad line is reported
# with its line number and reason, good lines still go out, the exit status
# says something failed; bw-tail reports undecodable records and goes on;
# bw-devkafka stops cleanly on SIGTERM; an unknown flag is named.
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"

start_devkafka 2
bootstrap=$(cat "$WORK/bootstrap")
good='{"event_id":"g1","platform":"EBAY","marketplace":"US","store_id":"s1","kind":"BUYER_MESSAGE","body":"hello","occurred_at":"2024-01-01T00:00:00Z"}'
{
    echo "$good"
    echo '{"event_id": "x", '
    echo '{"event_id":"g2","platform":"EBAY","marketplace":"US","store_id":"s1","kind":"BUYER_MESSAGE","body":"x","rating":"five","occurred_at":0}'
    echo '{"event_id":"g3","platform":"ETSY","marketplace":"US","store_id":"s1","kind":"BUYER_MESSAGE","body":"x","occurred_at":0}'
    printf '{"event_id":"g4","platform":"EBAY","marketplace":"US","store_id":"s1","kind":"BUYER_MESSAGE","body":"\xff\xfe","occurred_at":0}\n'
    echo ''
    echo "${good/g1/g5}"
} >"$WORK/mixed.jsonl"

set +e
"$BW_BUILD/tools/bw-replay" --brokers "@$WORK/bootstrap" "$WORK/mixed.jsonl" 2>"$WORK/replay.err"
rc=$?
set -e
[ $rc -ne 0 ] || fail "bw-replay exit 0 with bad lines"
f="$WORK/mixed.jsonl"
grep -qF "$f:2: malformed JSON" "$WORK/replay.err" || fail "line 2 not reported: $(cat "$WORK/replay.err")"
grep -qF "$f:3: rating: expected int 1..5, got \"five\"" "$WORK/replay.err" || fail "line 3 not reported"
grep -qF "$f:4: platform: unknown symbol \"ETSY\"" "$WORK/replay.err" || fail "line 4 not reported"
grep -qF "$f:5: malformed JSON" "$WORK/replay.err" || fail "line 5 (not UTF-8) not reported"
grep -qF "7 lines, 2 sent, 2 delivered, 4 invalid" "$WORK/replay.err" || fail "summary: $(tail -1 "$WORK/replay.err")"

# A record nobody can decode sits between the good ones: bw-tail says so and goes on.
printf 'not avro at all' | kcat -P -b "$bootstrap" -t bw.reviews -k s1 2>/dev/null
echo "${good/g1/g6}" | "$BW_BUILD/tools/bw-replay" --brokers "@$WORK/bootstrap" 2>/dev/null
"$BW_BUILD/tools/bw-tail" --brokers "@$WORK/bootstrap" bw.reviews --count 4 --timeout.ms 20000 \
    >"$WORK/tail.out" 2>"$WORK/tail.err" || fail "bw-tail did not read 4 records"
[ "$(grep -c '"event_id"' "$WORK/tail.out")" -eq 3 ] || fail "expected 3 decoded records: $(cat "$WORK/tail.out")"
grep -q '"error_code":"BAD_MAGIC"' "$WORK/tail.err" || fail "undecodable record not reported"
# --count with too few records exits 2
set +e
"$BW_BUILD/tools/bw-tail" --brokers "@$WORK/bootstrap" bw.reviews --count 10 --timeout.ms 1500 \
    >/dev/null 2>&1
rc=$?
set -e
[ $rc -eq 2 ] || fail "bw-tail --count short: exit $rc, expected 2"

# Topic without a schema, unknown flag, bad value: clear errors.
set +e
"$BW_BUILD/tools/bw-replay" --brokers "@$WORK/bootstrap" --topic other /dev/null 2>"$WORK/e1"
r1=$?
"$BW_BUILD/tools/bw-replay" --bogus 1 2>"$WORK/e2"
r2=$?
"$BW_BUILD/tools/bw-replay" --rate fast 2>"$WORK/e3"
r3=$?
set -e
[ $r1 -ne 0 ] && grep -q "not a bw.\* topic: give --schema" "$WORK/e1" || fail "no-schema topic: $(cat "$WORK/e1")"
[ $r2 -ne 0 ] && grep -q 'unknown configuration key \\"bogus\\"' "$WORK/e2" || fail "unknown flag: $(cat "$WORK/e2")"
[ $r3 -ne 0 ] && grep -q 'rate: expected a number, got \\"fast\\"' "$WORK/e3" || fail "bad value: $(cat "$WORK/e3")"

# SIGTERM: bw-devkafka exits 0 and removes its bootstrap file.
dk=${PIDS[0]}
kill -TERM "$dk"
wait "$dk" || fail "bw-devkafka exit status $? on SIGTERM"
PIDS=("${PIDS[@]:1}")
[ ! -e "$WORK/bootstrap" ] || fail "bootstrap file left behind"
echo "PASS test_tools"
