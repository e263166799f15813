#!/usr/bin/env bash
# Contract test of the Schema Registry client (common/bw_registry.c) against
# tests/integration/fake_registry.py, which answers the Confluent endpoints
# Bellwether uses the way Confluent's registry does. It is a contract test:
# it checks what we send and how we read the answers, not a real registry.
#   - with schema.registry.url, records carry the registry's ids (bytes 1-4)
#     and read back through it; one request per schema (ids cached);
#   - look-up only (schema.registry.register=false) finds registered ones;
#   - registry down, 5xx (tried 3 times), 409 incompatible, 404 unknown
#     subject, 401 bad credentials, a 200 that is not JSON or has no id, a
#     url that is not http: the program stops with an error that names it.
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"

start_devkafka 1
bootstrap=$(cat "$WORK/bootstrap")
nschemas=$(grep -c '^[0-9]' "$here/../../schemas/ids.manifest")

start_registry() { # name mode [user:password]; sets url
    rm -f "$WORK/reg-$1" "$WORK/reg-$1.log"
    python3 "$here/fake_registry.py" "$WORK/reg-$1" "${@:2}" &
    PIDS+=($!)
    for _ in $(seq 1 100); do [ -s "$WORK/reg-$1" ] && break; sleep 0.05; done
    [ -s "$WORK/reg-$1" ] || fail "fake registry $1 did not start"
    url="http://127.0.0.1:$(cat "$WORK/reg-$1")"
}

good='{"event_id":"r1","platform":"EBAY","marketplace":"US","store_id":"s1","kind":"BUYER_MESSAGE","body":"hello","occurred_at":"2024-01-01T00:00:00Z"}'
echo "$good" >"$WORK/one.jsonl"

# 1. Registered ids on the wire, read back through the registry.
start_registry ok ok
"$BW_BUILD/tools/bw-replay" --brokers "@$WORK/bootstrap" --schema.registry.url "$url/" \
    "$WORK/one.jsonl" 2>"$WORK/replay.err" || fail "replay with a registry: $(cat "$WORK/replay.err")"
[ "$(grep -c ' 200$' "$WORK/reg-ok.log")" -eq "$nschemas" ] ||
    fail "expected one request per schema ($nschemas): $(cat "$WORK/reg-ok.log")"
grep -q '^POST /subjects/bw.ReviewEvent/versions 200$' "$WORK/reg-ok.log" ||
    fail "subject is not the record's full name: $(cat "$WORK/reg-ok.log")"
kcat -C -b "$bootstrap" -t bw.reviews -c 1 -e -f '%s' >"$WORK/record" 2>/dev/null
head -c 5 "$WORK/record" | od -An -tu1 >"$WORK/header"
read -r magic b1 b2 b3 b4 <"$WORK/header"
id=$(( (b1 << 24) | (b2 << 16) | (b3 << 8) | b4 ))
[ "$magic" = 0 ] && [ "$id" -ge 101 ] || fail "wire header is not a registry id: $(cat "$WORK/header")"
"$BW_BUILD/tools/bw-tail" --brokers "@$WORK/bootstrap" bw.reviews --count 1 --timeout.ms 20000 \
    --schema.registry.url "$url" >"$WORK/tail.out" 2>"$WORK/tail.err" || fail "bw-tail with the registry"
grep -q '"event_id":"r1"' "$WORK/tail.out" || fail "not read back: $(cat "$WORK/tail.out" "$WORK/tail.err")"
# without the registry the same record has an id the manifest does not know
"$BW_BUILD/tools/bw-tail" --brokers "@$WORK/bootstrap" bw.reviews --count 1 --timeout.ms 20000 \
    >"$WORK/tail2.out" 2>"$WORK/tail2.err" || true
grep -q "UNKNOWN_SCHEMA_ID" "$WORK/tail2.err" || fail "manifest reader: $(cat "$WORK/tail2.err")"

# 2. Look-up only: the ids registered above are found, with the same values.
"$BW_BUILD/tools/bw-replay" --brokers "@$WORK/bootstrap" --schema.registry.url "$url" \
    --schema.registry.register false "$WORK/one.jsonl" 2>"$WORK/lookup.err" ||
    fail "look-up only: $(cat "$WORK/lookup.err")"
grep -q '^POST /subjects/bw.ReviewEvent 200$' "$WORK/reg-ok.log" || fail "no look-up request"

# 3. Every way a registry can fail stops the program with a clear error.
expect_error() { # name pattern args...
    local name=$1 pattern=$2
    shift 2
    if "$BW_BUILD/tools/bw-replay" --brokers "@$WORK/bootstrap" --schema.registry.timeout.ms 2000 \
        "$@" "$WORK/one.jsonl" 2>"$WORK/err-$name"; then
        fail "$name: bw-replay succeeded"
    fi
    grep -qE "$pattern" "$WORK/err-$name" || fail "$name: expected /$pattern/: $(cat "$WORK/err-$name")"
}
down=$(free_port)
expect_error down "schema registry: POST http://127.0.0.1:$down/subjects/bw\.[A-Za-z]+/versions: (Couldn't connect|Could not connect)" \
    --schema.registry.url "http://127.0.0.1:$down"
start_registry e500 500
expect_error 500 "HTTP 500 \(error 50001\): Error in the backend data store" --schema.registry.url "$url"
[ "$(wc -l <"$WORK/reg-e500.log")" -eq 3 ] || fail "a 5xx is tried 3 times: $(cat "$WORK/reg-e500.log")"
start_registry e409 409
expect_error 409 "HTTP 409 \(error 409\): Schema being registered is incompatible" --schema.registry.url "$url"
[ "$(wc -l <"$WORK/reg-e409.log")" -eq 1 ] || fail "a 4xx is final: $(cat "$WORK/reg-e409.log")"
start_registry fresh ok
expect_error 404 "HTTP 404 \(error 40401\): Subject 'bw\.[A-Za-z]+' not found" \
    --schema.registry.url "$url" --schema.registry.register false
start_registry garbage garbage
expect_error garbage "HTTP 200 without a schema id: <html>proxy error</html>" --schema.registry.url "$url"
start_registry noid noid
expect_error noid 'HTTP 200 without a schema id: \{\\"version\\": 1\}' --schema.registry.url "$url"
start_registry auth ok bw:secret
expect_error 401 "HTTP 401 \(error 401\): Unauthorized" --schema.registry.url "$url" \
    --schema.registry.auth bw:wrong
BW_SCHEMA_REGISTRY_AUTH=bw:secret "$BW_BUILD/tools/bw-replay" --brokers "@$WORK/bootstrap" \
    --schema.registry.url "$url" "$WORK/one.jsonl" 2>"$WORK/auth.err" ||
    fail "basic auth from the environment: $(cat "$WORK/auth.err")"
expect_error scheme 'schema.registry.url: \\"ftp://x\\" is not an http:// or https:// url' \
    --schema.registry.url ftp://x
expect_error timeout "schema.registry.timeout.ms" --schema.registry.url "$url" \
    --schema.registry.timeout.ms 5
! "$BW_BUILD/tools/bw-replay" "$WORK/one.jsonl" --schema.registry.url 2>"$WORK/err-novalue" ||
    fail "a key without a value was accepted"
grep -q "schema.registry.url needs a value" "$WORK/err-novalue" || fail "novalue: $(cat "$WORK/err-novalue")"
expect_error notbool 'schema.registry.register: expected true or false, got \\"maybe\\"' \
    --schema.registry.url "$url" --schema.registry.register maybe
echo "PASS test_registry"
