#!/usr/bin/env bash
# The pipeline end to end on one machine: installs what is missing, builds,
# starts Redis and the embedded broker (or uses yours), every stage, replays
# a scenario, and prints each alert as it arrives, with a progress line.
# Ctrl-C stops everything it started.
#
#   scripts/demo.sh                                  # embedded broker + own Redis
#   scripts/demo.sh --kafka HOST:PORT --redis redis://HOST:PORT/DB
#
# The scenario is tools/bw-gen's (30 days, 20 stores, five carrier x lane
# pairs, reviews in eight languages, seller replies, eight incidents at
# known times); the
# run ends with tools/bw-score: which incidents raised an alert, how late
# in event time, and which alerts matched no incident.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
BUILD=${BW_BUILD:-$ROOT/build}
KAFKA="" REDIS=""
while [ $# -gt 0 ]; do
    case "$1" in
    --kafka) KAFKA=$2; shift 2 ;;
    --redis) REDIS=$2; shift 2 ;;
    -h | --help) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "demo: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
done

say() { printf '\033[1m== %s\033[0m\n' "$*" >&2; }

# ---- dependencies and build ----
if ! command -v cmake >/dev/null || ! command -v redis-server >/dev/null ||
    ! command -v kcat >/dev/null || ! pkg-config --exists rdkafka avro-c libpcre2-8 hiredis; then
    say "installing dependencies (apt-get)"
    scripts/install-deps.sh
fi
if [ ! -x "$BUILD/stages/alert/bw-alert" ] || [ ! -x "$BUILD/stages/logistics/bw-logistics" ] ||
    [ ! -x "$BUILD/stages/classify/bw-classify" ] || [ ! -x "$BUILD/stages/correlate/bw-correlate" ]; then
    say "building into $BUILD"
    cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
fi
cmake --build "$BUILD" -j"$(nproc)" >/dev/null

WORK=$(mktemp -d /tmp/bw_demo.XXXXXX)
PIDS=()
cleanup() {
    trap - EXIT INT TERM
    for p in "${PIDS[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done
    for p in "${PIDS[@]:-}"; do [ -n "$p" ] && wait "$p" 2>/dev/null || true; done
    echo "logs were in $WORK (removed)" >&2
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'echo; say "stopped"; exit 130' INT TERM
free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# ---- broker and Redis ----
if [ -z "$KAFKA" ]; then
    say "starting the embedded broker (bw-devkafka, 6 partitions)"
    "$BUILD/tools/bw-devkafka" --partitions 6 --bootstrap.file "$WORK/bootstrap" \
        >"$WORK/devkafka.out" 2>"$WORK/devkafka.log" &
    PIDS+=($!)
    for _ in $(seq 1 100); do [ -s "$WORK/bootstrap" ] && break; sleep 0.1; done
    [ -s "$WORK/bootstrap" ] || { cat "$WORK/devkafka.log" >&2; exit 1; }
    KAFKA="@$WORK/bootstrap"
fi
if [ -z "$REDIS" ]; then
    port=$(free_port)
    say "starting redis-server on port $port"
    mkdir -p "$WORK/redis"
    redis-server --port "$port" --bind 127.0.0.1 --dir "$WORK/redis" --save "" --appendonly yes \
        --loglevel warning >"$WORK/redis.log" 2>&1 &
    PIDS+=($!)
    for _ in $(seq 1 100); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.1; done
    REDIS="redis://127.0.0.1:$port/0"
fi

# ---- stages ----
declare -A HTTP
# The scenario replays a month in seconds, one input after another: a
# partition waiting for its turn (reviews come after orders) is not idle in
# event time, so it keeps holding the watermark (idle.ms, bw-logistics and
# bw-correlate) and the same input gives the same alerts, run after run.
export BW_IDLE_MS=${BW_IDLE_MS:-600000}
start_stage() {
    "$BUILD/stages/$1/bw-$1" --brokers "$KAFKA" --redis.url "$REDIS" \
        --http.listen "127.0.0.1:${HTTP[$1]}" --log.level warn 2>"$WORK/$1.log" &
    PIDS+=($!)
}
for stage in classify logistics correlate alert; do
    HTTP[$stage]=$(free_port)
done
start_stage alert
say "bw-alert running on :${HTTP[alert]} (/metrics, /alerts); the other stages start once their inputs are in"

# ---- scenario ----
say "generating the scenario (tools/bw-gen)"
tools/bw-gen "$WORK" --seed "${BW_SEED:-1}"
total=$(cat "$WORK"/{orders,shipments,reviews,actions}.jsonl | wc -l)
reviews=$(wc -l <"$WORK/reviews.jsonl")
actions=$(wc -l <"$WORK/actions.jsonl")
say "replaying $total events (orders, scans, reviews, seller actions)"
replay() {
    "$BUILD/tools/bw-replay" --brokers "$KAFKA" --topic "bw.$1" --progress never \
        "$WORK/$1.jsonl" 2>>"$WORK/replay.log" &
    REPLAYS+=($!)
    PIDS+=($!)
}
# The inputs go in first, then the stages that read them start: a stage
# started on inputs that are still empty takes an empty partition for one
# with nothing to come, so the first partitions to get data would move its
# watermark and close days before the others' events came (a stream with
# history has no such gap). bw-correlate starts last, once bw-logistics has
# indexed the orders and bw-classify has classified the reviews: a month
# replayed in seconds would otherwise have reviews overtake their orders.
REPLAYS=()
replay orders
replay shipments
replay reviews
replay actions
for pid in "${REPLAYS[@]}"; do
    wait "$pid" || say "a replay failed (see replay.log)"
done
start_stage classify
start_stage logistics
say "bw-classify :${HTTP[classify]} and bw-logistics :${HTTP[logistics]} running; bw-correlate :${HTTP[correlate]} starts once they are through"

# ---- alerts as they arrive ----
# through a FIFO, so that both ends are processes this script can stop
mkfifo "$WORK/alerts.fifo"
"$BUILD/tools/bw-tail" --brokers "$KAFKA" bw.alerts --log.level warn \
    >"$WORK/alerts.fifo" 2>>"$WORK/tail.log" &
PIDS+=($!)
python3 -u -c '
import json, sys
log = open(sys.argv[1], "a")
for line in sys.stdin:
    log.write(line)
    log.flush()
    a = json.loads(line)
    scope = " ".join("%s=%s" % (k, v) for k, v in a["scope"].items() if v is not None)
    print("\r\033[K%-8s %-8s %-27s %-36s v%d  %s" % (a["severity"], a["state"], a["type"], scope,
          a["version"], a["detail"] or ""), flush=True)
' "$WORK/alerts.jsonl" <"$WORK/alerts.fifo" &
PIDS+=($!)

consumed() {
    curl -sf "http://127.0.0.1:${HTTP[$1]}/metrics" 2>/dev/null |
        awk '/^bw_messages_consumed_total/{s+=$2} END{print s+0}'
}
# bw-classify's output: classified and dead-lettered reviews
classified() {
    curl -sf "http://127.0.0.1:${HTTP[classify]}/metrics" 2>/dev/null |
        awk '/^bw_messages_produced_total/{s+=$2} END{print s+0}'
}
orders=$(($(wc -l <"$WORK/orders.jsonl") + $(wc -l <"$WORK/shipments.jsonl")))
correlating=0 last="" still=0
while :; do
    sleep 1
    if [ $correlating = 0 ] && [ "$(consumed logistics)" -ge "$orders" ] &&
        [ "$(classified)" -ge "$reviews" ]; then
        start_stage correlate
        correlating=1
    fi
    c=$(consumed classify) l=$(consumed logistics) r=$(consumed correlate) a=$(consumed alert)
    printf '\r\033[Kprogress: reviews %s, orders+scans %s, classified+actions %s, signals %s (of %s events)' \
        "$c" "$l" "$r" "$a" "$total" >&2
    now="$c/$l/$r/$a"
    if [ "$((c + l + actions))" -ge "$total" ] && [ "$r" -ge "$((reviews + actions))" ] &&
        [ "$now" = "$last" ]; then
        still=$((still + 1))
        [ $still -ge 5 ] && break
    else
        still=0
    fi
    last=$now
done
echo >&2
active=$(curl -sf "http://127.0.0.1:${HTTP[alert]}/alerts" || echo '[]')
echo "$active" | python3 -c '
import json, sys
a = json.load(sys.stdin)
print("%d alert(s) active at the end of the scenario" % len(a))
'
say "score (tools/bw-score: incidents injected by bw-gen against the alerts that came out)"
touch "$WORK/alerts.jsonl"
tools/bw-score "$WORK/truth.json" "$WORK/alerts.jsonl"
if [ -n "${BW_DEMO_KEEP:-}" ]; then # for tests and post-mortems: the outputs, logs and metrics
    cp "$WORK/alerts.jsonl" "$WORK/truth.json" "$WORK"/*.log "$BW_DEMO_KEEP/"
    for stage in "${!HTTP[@]}"; do
        curl -sf "http://127.0.0.1:${HTTP[$stage]}/metrics" >"$BW_DEMO_KEEP/$stage.metrics" || true
    done
    "$BUILD/tools/bw-tail" --brokers "$KAFKA" bw.signals --meta true --timeout.ms 3000 \
        --log.level error >"$BW_DEMO_KEEP/signals.jsonl" || true
fi
say "done"
