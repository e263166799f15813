#!/usr/bin/env bash
# Olist's real delivery timelines through bw-logistics (embedded broker, real
# redis-server): prints the weeks that raised CARRIER_DELAY_SPIKE beside the
# late share of every week, and checks them against the known delay periods
# (2017 year-end after Black Friday, February-March 2018) and the calm
# months of 2017 (by the data: months at most 1.25 x the median late share).
# Usage: bench/bench_olist_logistics.sh [OLIST_DIR]   (needs a build in build/)
set -euo pipefail
# BW_LOG=debug logs every window judged; BW_KEEP=DIR keeps that log as DIR/logistics.log
cd "$(dirname "$0")/.."
OLIST=${1:-../shared/data/olist}
BW_BUILD=${BW_BUILD:-$PWD/build}
export BW_BUILD
. tests/integration/lib.sh

echo "command: $0 $OLIST"
echo "machine: $(uname -srm), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) CPUs"
python3 bench/olist_logistics.py "$OLIST" "$WORK"
# 24 partitions: librdkafka's mock broker keeps only the newest 5 MiB of
# each partition, and the replay outruns the stage. Olist has two scans per
# parcel (pickup, delivery), so the stall time is set past the slowest
# normal transit rather than the default 72 h.
start_devkafka 24
start_redis
port=$(free_port)
"$BW_BUILD/stages/logistics/bw-logistics" --brokers "$BROKERS" --redis.url "$REDIS_URL" \
    --http.listen "127.0.0.1:$port" --kafka.session.timeout.ms 6000 --log.level ${BW_LOG:-warn} \
    --stall.hours 240 \
    2>"$WORK/logistics.log" &
stage=$!
PIDS+=($stage)
t0=$(date +%s.%N)
"$BW_BUILD/tools/bw-replay" --brokers "$BROKERS" --topic bw.orders --progress never \
    "$WORK/orders.jsonl" 2>"$WORK/replay.log"
"$BW_BUILD/tools/bw-replay" --brokers "$BROKERS" --topic bw.shipments --progress never \
    "$WORK/shipments.jsonl" 2>>"$WORK/replay.log"
total=$(( $(wc -l <"$WORK/orders.jsonl") + $(wc -l <"$WORK/shipments.jsonl") ))
got=0 last=-1 still=0
while [ "$got" -lt "$total" ] && [ "$still" -lt 60 ]; do
    sleep 0.5
    got=$(curl -sf "http://127.0.0.1:$port/metrics" | awk '/^bw_messages_consumed_total/{s+=$2} END{print s+0}')
    if [ "$got" = "$last" ]; then still=$((still + 1)); else still=0 last=$got; fi
done
t1=$(date +%s.%N)
[ "$got" -ge "$total" ] ||
    fail "bw-logistics consumed $got of $total and then nothing for 30 s (did the broker drop old records? see README, bw-devkafka)"
sleep 2
"$BW_BUILD/tools/bw-tail" --brokers "$BROKERS" bw.signals --timeout.ms 5000 --log.level warn \
    >"$WORK/signals.jsonl"
echo "stage peak RSS: $(awk '/VmHWM/{printf "%.1f MiB", $2/1024}' /proc/$stage/status)"
echo "Redis: $(redis-cli -p "$REDIS_PORT" info memory | awk -F: '/^used_memory:/{printf "%.0f MiB used", $2/1048576}') for $(wc -l <"$WORK/orders.jsonl") orders"
curl -sf "http://127.0.0.1:$port/metrics" |
    grep -E '^bw_(logistics_|deadletter|window_)' | sed 's/^/  stage: /' || true
if [ -n "${BW_KEEP:-}" ]; then cp "$WORK/logistics.log" "$BW_KEEP/"; fi
python3 - "$WORK/shipments.jsonl" "$WORK/orders.jsonl" "$WORK/signals.jsonl" "$total" "$t0" "$t1" <<'PY'
import json, sys
from collections import Counter, defaultdict
from datetime import datetime, timedelta, timezone

def when(s):
    return datetime.strptime(s, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc)

def week(d):
    y, w, _ = d.isocalendar()
    return "%d-W%02d" % (y, w)

promise = {}
for line in open(sys.argv[2]):
    o = json.loads(line)
    promise[o["order_id"]] = when(o["promised_delivery_by"])
n, late = Counter(), Counter()
for line in open(sys.argv[1]):
    s = json.loads(line)
    if s["status"] != "DELIVERED":
        continue
    d, p = when(s["occurred_at"]), promise[s["order_id"]]
    n[week(p)] += 1  # windows count parcels by their promised day
    late[week(p)] += d > p
sig = [json.loads(l) for l in open(sys.argv[3])]
print("signals by type:", dict(Counter(s["type"] for s in sig)))
fired = defaultdict(list)
for s in sig:
    if s["type"] == "CARRIER_DELAY_SPIKE":
        fired[week(when(s["window_end"]) - timedelta(days=1))].append(s)  # the day judged
total, t0, t1 = int(sys.argv[4]), float(sys.argv[5]), float(sys.argv[6])
print("events: %d in %.1f s through the broker (%.0f events/s, replay included)"
      % (total, t1 - t0, total / (t1 - t0)))
print("%-9s %6s %7s  %s" % ("week", "due", "late%", "CARRIER_DELAY_SPIKE (days judged that fired: late share of the 3-day span vs baseline)"))
for w in sorted(n):
    f = fired.get(w, [])
    days = ", ".join("%s %.0f%%/%.0f%%" % ((when(s["window_end"]) - timedelta(days=1)).strftime("%m-%d"),
                                           100 * s["observed"], 100 * s["baseline"])
                     for s in sorted(f, key=lambda s: s["window_start"]))
    print("%-9s %6d %6.1f%%  %s" % (w, n[w], 100.0 * late[w] / n[w], days))

def fired_in(lo, hi):
    return sorted(w for w in fired if lo <= w <= hi)

# Calm months, from the data: the 2017 months whose late share (by promised
# month) is at most 1.25 x the median 2017 month. The others had delays of
# their own (May 2017 runs at twice the calm months) and may fire.
mn, ml = Counter(), Counter()
for line in open(sys.argv[1]):
    s = json.loads(line)
    if s["status"] == "DELIVERED":
        p = promise[s["order_id"]]
        mn[p.strftime("%Y-%m")] += 1
        ml[p.strftime("%Y-%m")] += when(s["occurred_at"]) > p
months = sorted(m for m in mn if m.startswith("2017") and mn[m] >= 200)
share = {m: ml[m] / mn[m] for m in mn}
median = sorted(share[m] for m in months)[len(months) // 2]
calm_months = [m for m in months if share[m] <= 1.25 * median]
fired_months = Counter((when(s["window_end"]) - timedelta(days=1)).strftime("%Y-%m")
                       for f in fired.values() for s in f)
print("\nmonth     due    late%%  days fired   (2017 median month %.1f%%; calm: <= %.1f%%)"
      % (100 * median, 125 * median))
for m in sorted(mn):
    if mn[m] >= 200:
        tag = "calm" if m in calm_months else ""
        print("%-8s %6d %6.1f%%  %5d        %s" % (m, mn[m], 100 * share[m], fired_months[m], tag))
calm = sorted(m for m in calm_months if fired_months[m])
yearend = fired_in("2017-W47", "2018-W01")
march = fired_in("2018-W07", "2018-W13")
print("2017 year-end weeks that fired:", yearend or "none")
print("2018 Feb-Mar weeks that fired: ", march or "none")
print("calm 2017 months (%s) that fired: %s" % (", ".join(calm_months), calm or "none"))
ok = bool(yearend) and bool(march) and not calm
print("verdict:", "PASS" if ok else "FAIL")
sys.exit(0 if ok else 1)
PY
