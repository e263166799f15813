#!/usr/bin/env bash
# Effectively once: the same ~100,000 classified reviews and seller actions
# through bw-correlate clean, crashed five times and rebalanced
# (exactly_once.sh): every key of every database equals the clean run's,
# value for value, and each run sent the same signals (the same alert ids;
# a crash may send one twice, with the same id, which bw-alert rolls up).
# Rates and means (seller rating, negative share) are judged once the
# watermark closes their day, so they compare too. Not compared: the order
# defect rate, judged as defects arrive (none fire here: no order index).
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
# 20 days x 40 stores x 106 reviews + their replies: ~100,000 events
DAYS=${BW_CORR_EXONCE_DAYS:-20}
PER=${BW_CORR_EXONCE_PER_DAY:-106}

start_devkafka 6
start_redis
python3 "$here/gen_classified.py" "$WORK" "$DAYS" 40 "$PER" 2>/dev/null
events=$(( $(wc -l <"$WORK/classified.jsonl") + $(wc -l <"$WORK/actions.jsonl") ))
echo "events: $events"
"$BW_BUILD/tools/bw-replay" --brokers "$BROKERS" --topic bw.actions "$WORK/actions.jsonl" 2>/dev/null || fail "replay actions"
"$BW_BUILD/tools/bw-replay" --brokers "$BROKERS" --topic bw.reviews.classified "$WORK/classified.jsonl" 2>/dev/null || fail "replay reviews"

STAGE="$BW_BUILD/stages/correlate/bw-correlate"
STAGE_ARGS=()
. "$here/exactly_once.sh"
exactly_once_run "$events"

for run in clean crashy pair; do
    "$BW_BUILD/tools/bw-tail" --brokers "$BROKERS" "bw.signals.$run" --timeout.ms 4000 \
        --log.level warn >"$WORK/signals-$run.jsonl"
done
python3 - "$WORK"/signals-{clean,crashy,pair}.jsonl <<'PY' || fail "signals differ"
import json, sys
RATES = {"ODR_AT_RISK"}
runs = []
for p in sys.argv[1:]:
    runs.append({(s["alert_id"], s["type"]) for s in map(json.loads, open(p))
                 if s["type"] not in RATES})
print("signals: %d distinct alert ids in the clean run" % len(runs[0]))
assert len(runs[0]) > 50, runs[0]
for name, r in zip(("crashy", "pair"), runs[1:]):
    assert r == runs[0], (name, sorted(r ^ runs[0])[:10])
PY
echo "PASS test_correlate_exactly_once"
