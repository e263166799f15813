#!/usr/bin/env bash
# Effectively once: the same >= 100,000 order and shipment events through
# bw-logistics clean, crashed five times and rebalanced (exactly_once.sh):
# every key of every database must equal the clean run's, value for value.
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
# 20 days (10 of warm-up) x 2 lanes x 850 orders x 3 events = 102,000 events
PER_DAY=${BW_EXONCE_PER_DAY:-850}
DAYS=${BW_EXONCE_DAYS:-10}

start_devkafka 6
start_redis
python3 "$here/gen_logistics.py" "$WORK" "$DAYS" "$PER_DAY" 7
events=$(( $(wc -l <"$WORK/orders.jsonl") + $(wc -l <"$WORK/shipments.jsonl") ))
echo "events: $events"
"$BW_BUILD/tools/bw-replay" --brokers "$BROKERS" --topic bw.orders "$WORK/orders.jsonl" 2>/dev/null || fail "replay orders"
"$BW_BUILD/tools/bw-replay" --brokers "$BROKERS" --topic bw.shipments "$WORK/shipments.jsonl" 2>/dev/null || fail "replay shipments"

STAGE="$BW_BUILD/stages/logistics/bw-logistics"
STAGE_ARGS=()
. "$here/exactly_once.sh"
exactly_once_run "$events"
echo "PASS test_logistics_exactly_once"
