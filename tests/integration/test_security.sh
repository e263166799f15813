#!/usr/bin/env bash
# Security settings an operator relies on:
# - Kafka SASL and TLS settings pass through to librdkafka from the
#   environment (BW_KAFKA_SECURITY_PROTOCOL, BW_KAFKA_SASL_*): a stage told
#   SASL_SSL speaks TLS (the plaintext embedded broker refuses the
#   handshake), and never logs the password; a bad value stops the stage
#   with the key named.
# - The HTTP endpoints (/metrics, /healthz, /readyz, /alerts) bind to
#   loopback unless told otherwise: every stage's default http.listen is
#   127.0.0.1, and a bw-classify started without --http.listen listens on
#   127.0.0.1 only (/proc/net/tcp), answers there, and not on the
#   machine's other address.
# (Redis AUTH with an ACL user: tests/integration/test_redis.c.)
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
start_devkafka 1

BW_KAFKA_SECURITY_PROTOCOL=SASL_SSL BW_KAFKA_SASL_MECHANISMS=PLAIN BW_KAFKA_SASL_USERNAME=bw \
    BW_KAFKA_SASL_PASSWORD=s3cret-Pa55 "$BW_BUILD/stages/classify/bw-classify" --brokers "$BROKERS" \
    --http.listen "127.0.0.1:$(free_port)" --log.level debug 2>"$WORK/sasl.log" &
sasl=$!
PIDS+=($sasl)
for _ in $(seq 1 50); do grep -q 'SSL handshake failed' "$WORK/sasl.log" 2>/dev/null && break; sleep 0.1; done
kill -TERM "$sasl"
wait "$sasl" 2>/dev/null || true
grep -q 'sasl_ssl://.*SSL handshake failed' "$WORK/sasl.log" ||
    fail "SASL_SSL did not reach librdkafka: $(grep -v CONFWARN "$WORK/sasl.log" | tail -3)"
grep -q 's3cret-Pa55' "$WORK/sasl.log" && fail "the SASL password is in the log"
if "$BW_BUILD/stages/classify/bw-classify" --brokers "$BROKERS" --kafka.security.protocol BOGUS \
    2>"$WORK/bogus.log"; then
    fail "an invalid security.protocol was accepted"
fi
grep -q 'kafka.security.protocol: Invalid value .*BOGUS' "$WORK/bogus.log" ||
    fail "invalid security.protocol: $(tail -2 "$WORK/bogus.log")"
echo "SASL_SSL passed through (TLS handshake attempted), password not logged, a bad value refused"

for s in classify logistics correlate alert; do
    line=$("$BW_BUILD/stages/$s/bw-$s" --help 2>&1 | grep -e '--http.listen') ||
        fail "bw-$s --help has no http.listen"
    grep -q '\[127\.0\.0\.1:[0-9]*\]' <<<"$line" || fail "bw-$s: http.listen default not loopback: $line"
done

port=9101 # bw-classify's default
if ! python3 -c "import socket; s=socket.socket(); s.bind(('0.0.0.0', $port))" 2>/dev/null; then
    echo "port $port is taken on this machine: the live check is skipped (defaults checked above)"
    echo "PASS test_security"
    exit 0
fi
"$BW_BUILD/stages/classify/bw-classify" --brokers "$BROKERS" --log.level warn 2>"$WORK/classify.log" &
cls=$!
PIDS+=($cls)
for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done
curl -sf "http://127.0.0.1:$port/healthz" >/dev/null || fail "no /healthz on 127.0.0.1:$port: $(tail -3 "$WORK/classify.log")"
python3 - "$port" <<'PY' || fail "bw-classify does not listen on loopback only"
import sys
port = int(sys.argv[1])
listen = []
for path in ("/proc/net/tcp", "/proc/net/tcp6"):
    try:
        lines = open(path).read().splitlines()[1:]
    except OSError:
        continue
    for l in lines:
        f = l.split()
        addr, p = f[1].split(":")
        if int(p, 16) == port and f[3] == "0A":  # LISTEN
            listen.append(addr)
print("listening on", listen)
assert listen == ["0100007F"], listen  # 127.0.0.1, nothing else
PY
other=$(hostname -I 2>/dev/null | tr ' ' '\n' | grep -v '^127\.' | grep -v : | head -1 || true)
if [ -n "$other" ]; then
    curl -s -m 2 "http://$other:$port/healthz" >/dev/null && fail "/healthz answers on $other"
    echo "not reachable on $other"
fi
kill -TERM "$cls"
wait "$cls" || fail "bw-classify exit status $?"
echo "PASS test_security"
