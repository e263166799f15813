#!/usr/bin/env python3
"""Orders and shipment scans for logistics tests, deterministic.

Usage: gen_logistics.py OUTDIR [DAYS] [PER_DAY] [SEED]
Writes OUTDIR/orders.jsonl, OUTDIR/shipments.jsonl (each in event-time
order) and OUTDIR/truth.json. Two lanes: DHL CN->DE (a delay spike on days
15-17: 60% late) and UPS US->DE (calm: 5% late throughout)."""
import json
import random
import sys
from datetime import datetime, timezone

DAY = 86400000
BASE = 1704067200000  # 2024-01-01


def ts(ms):
    d = datetime.fromtimestamp(ms / 1000, tz=timezone.utc)
    return d.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (ms % 1000)


def main():
    out = sys.argv[1]
    days = int(sys.argv[2]) if len(sys.argv) > 2 else 20
    per_day = int(sys.argv[3]) if len(sys.argv) > 3 else 60
    rnd = random.Random(int(sys.argv[4]) if len(sys.argv) > 4 else 5)
    orders, scans = [], []
    lanes = [("DHL", "CN", "DE", range(15, 18)), ("UPS", "US", "DE", range(0))]
    n = 0
    # Ten days of warm-up first: late parcels arrive 6-8 days after their
    # order, so without it the first days would show the late share rising
    # from zero, which is a real change to the detector.
    for day in range(-10, days):
        for carrier, org, dst, spike in lanes:
            for _ in range(per_day):
                n += 1
                store = "store-%02d" % rnd.randrange(10)
                oid = "o-%06d" % n
                placed = BASE + day * DAY + rnd.randrange(DAY // 2)
                ship_by = placed + 2 * DAY
                promise = placed + 5 * DAY
                late_p = 0.6 if day in spike else 0.05
                late = rnd.random() < late_p
                pickup = placed + rnd.randrange(DAY)
                delivered = promise + rnd.randrange(1, 3 * DAY) if late else \
                    pickup + DAY + rnd.randrange(2 * DAY)
                orders.append((placed, {"event_id": "oe-" + oid, "store_id": store,
                               "platform": "AMAZON", "marketplace": "DE", "order_id": oid,
                               "skus": ["SKU-1"], "placed_at": ts(placed),
                               "promised_ship_by": ts(ship_by), "promised_delivery_by": ts(promise),
                               "status": "PLACED", "occurred_at": ts(placed)}))
                for st, at in (("PICKED_UP", pickup), ("DELIVERED", delivered)):
                    scans.append((at, {"event_id": "se-%s-%s" % (oid, st[:3]), "store_id": store,
                                  "order_id": oid, "carrier": carrier, "tracking_no": "T" + oid,
                                  "origin_country": org, "dest_country": dst, "dest_region": None,
                                  "status": st, "estimated_delivery": None,
                                  "occurred_at": ts(at)}))
    for name, rows in (("orders", orders), ("shipments", scans)):
        with open("%s/%s.jsonl" % (out, name), "w") as fp:
            for _, r in sorted(rows, key=lambda x: x[0]):
                fp.write(json.dumps(r) + "\n")
    # orders placed on days 15-17 were promised for days 20-22; windows are
    # counted by promised day and judged over a span of 3 days, so the days
    # judged that should fire are days 20-24 (truth: the judged day, the
    # last of the span)
    json.dump({"warmup_days": 10,
               "spike": {"carrier": "DHL", "lane": "CN->DE", "days": list(range(20, 25)),
                         "base": BASE, "day_ms": DAY},
               "calm": {"carrier": "UPS", "lane": "US->DE"}},
              open("%s/truth.json" % out, "w"))


if __name__ == "__main__":
    main()
