# Shared helpers for the shell integration tests. Source it; it expects
# BW_BUILD (the build folder) and creates $WORK, removed on exit with every
# process the test started.
set -euo pipefail

: "${BW_BUILD:?BW_BUILD must point at the build folder}"
WORK=$(mktemp -d /tmp/bw_itest.XXXXXX)
PIDS=()

cleanup() {
    local pid
    for pid in "${PIDS[@]:-}"; do
        [ -n "$pid" ] && kill "$pid" 2>/dev/null || true
    done
    for pid in "${PIDS[@]:-}"; do
        [ -n "$pid" ] && wait "$pid" 2>/dev/null || true
    done
    # BW_KEEP=DIR keeps the work folder (logs, dumps, outputs) for a post-mortem
    if [ -n "${BW_KEEP:-}" ]; then rm -rf "$BW_KEEP" && cp -r "$WORK" "$BW_KEEP"; fi
    rm -rf "$WORK"
}
trap cleanup EXIT

fail() {
    echo "FAIL: $*" >&2
    exit 1
}

ITEST_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

# dump_db DB: every key of Redis database DB with its value (redis_dump.sh)
# into $WORK/dump-DB
dump_db() {
    "$ITEST_DIR/redis_dump.sh" "$REDIS_PORT" "$1" >"$WORK/dump-$1" 2>/dev/null || true
}

# settle_stable DB: until database DB has data and has not changed for 4 s
settle_stable() {
    local last="" cur n=0
    for _ in $(seq 1 400); do
        dump_db "$1"
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
    fail "database $1 never settled"
}

# settle_equal DB REF: until database DB equals REF's last dump, or 200 s
# have passed (the caller compares and shows the difference)
settle_equal() {
    for _ in $(seq 1 400); do
        dump_db "$1"
        cmp -s "$WORK/dump-$2" "$WORK/dump-$1" && return
        sleep 0.5
    done
}

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# start_devkafka PARTITIONS [ARGS...]: sets BROKERS to @file
start_devkafka() {
    local parts=${1:-6}
    shift || true
    rm -f "$WORK/bootstrap" # a second broker must not be mistaken for the first
    "$BW_BUILD/tools/bw-devkafka" --partitions "$parts" \
        --bootstrap.file "$WORK/bootstrap" "$@" >"$WORK/devkafka.out" 2>"$WORK/devkafka.log" &
    PIDS+=($!)
    for _ in $(seq 1 100); do
        [ -s "$WORK/bootstrap" ] && break
        sleep 0.1
    done
    [ -s "$WORK/bootstrap" ] || fail "bw-devkafka did not start: $(cat "$WORK/devkafka.log")"
    BROKERS="@$WORK/bootstrap"
}

# start_redis: sets REDIS_PORT and REDIS_URL
start_redis() {
    REDIS_PORT=$(free_port)
    rm -rf "$WORK/redis" # a second server starts empty, not from the first one's AOF
    mkdir -p "$WORK/redis"
    redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --dir "$WORK/redis" --save "" \
        --appendonly yes --appendfsync everysec --loglevel warning >"$WORK/redis.log" 2>&1 &
    PIDS+=($!)
    for _ in $(seq 1 100); do
        redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && break
        sleep 0.1
    done
    redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 || fail "redis-server did not start"
    REDIS_URL="redis://127.0.0.1:$REDIS_PORT/0"
}
