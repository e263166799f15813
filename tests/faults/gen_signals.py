#!/usr/bin/env python3
"""Signal JSON lines for bw-alert's fault tests: KEYS problems (carrier x
lane delay spikes, store late-shipment rates, SKU complaint clusters) that
flare up and calm down over DAYS days, in event-time order, with rising and
falling severities and gaps long enough for episodes to resolve and start
again. A problem's signals share an alert_id, the key to replay them by, as
the stages key a problem's signals (one problem, one partition).
Deterministic for a seed.

Usage: gen_signals.py KEYS DAYS [SEED]
"""
import hashlib
import json
import random
import sys
from datetime import datetime, timezone

H, DAY = 3600000, 86400000
BASE = 1_704_067_200_000  # 2024-01-01
NOSCOPE = {"store_id": None, "platform": None, "sku": None, "carrier": None, "lane": None,
           "event_id": None}


def ts(ms):
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def problem(i):
    kind = i % 3
    if kind == 0:
        return "CARRIER_DELAY_SPIKE", dict(NOSCOPE, carrier="carrier-%d" % (i % 7),
                                           lane="CN->%s" % ("US", "DE", "FR", "JP")[i % 4] + str(i))
    if kind == 1:
        return "LATE_SHIPMENT_RATE_AT_RISK", dict(NOSCOPE, store_id="store-%03d" % i)
    return "COMPLAINT_CLUSTER", dict(NOSCOPE, store_id="store-%03d" % (i % 11),
                                     sku="SKU-%04d" % i)


def main():
    keys, days = int(sys.argv[1]), int(sys.argv[2])
    rnd = random.Random(int(sys.argv[3]) if len(sys.argv) > 3 else 5)
    out = []
    for i in range(keys):
        typ, scope = problem(i)
        # producers key a problem's signals alike (one partition per problem):
        # the replay keys by this id
        wid = hashlib.sha1(("%s|%s" % (typ, json.dumps(scope, sort_keys=True))).encode())
        wid = wid.hexdigest()[:16]
        day = rnd.randrange(3)
        while day < days:
            for _ in range(rnd.randint(1, 4)):  # a flare-up: a few days of signals
                start = BASE + day * DAY
                for _ in range(rnd.randint(1, 6)):
                    at = start + rnd.randrange(DAY)
                    out.append((at, i, {
                        "alert_id": wid, "type": typ,
                        "severity": rnd.choice(("WARNING", "WARNING", "CRITICAL")),
                        "state": "FIRING", "scope": scope,
                        "window_start": ts(start), "window_end": ts(start + DAY),
                        "observed": round(rnd.uniform(0.1, 0.5), 3), "baseline": 0.05,
                        "threshold": 0.1, "sample_size": rnd.randint(50, 500),
                        "evidence": ["e-%d-%d" % (i, at)], "playbook": "act", "detail": None,
                        "first_seen": ts(start), "last_seen": ts(at), "occurrences": 1}))
                day += 1
            day += rnd.randint(1, 5)  # calm: two days or more resolve the episode
    out.sort(key=lambda x: (x[0], x[1]))
    for _, _, s in out:
        sys.stdout.write(json.dumps(s, separators=(",", ":")) + "\n")


if __name__ == "__main__":
    main()
