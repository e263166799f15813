#!/usr/bin/env python3
"""Event-to-alert latency through the pipeline, beside the raw
produce-to-consume latency of the same broker, measured the same way.

Usage: latency.py BUILD BROKERS RATE SECONDS WORKDIR [logistics|reviews]

logistics (the default):
While bw-replay sends a calm background stream of orders and scans at RATE
events/s, every 2 s a burst of 40 late deliveries on a fresh carrier x lane
(whose orders were sent beforehand) goes out with bw-replay; a CARRIER_DELAY_SPIKE
fires at once (no history, min sample 30, no `for`). The latency of a burst is
the time from bw-replay's exit (its flush: every burst record is acknowledged)
to the alert's arrival at a bw-tail reading bw.alerts. The baseline is the
same measure for one record sent to bw.shipments and read back by a bw-tail:
one hop, no stage, in the same conditions.

reviews: the background is product reviews (praise) into bw.reviews at RATE,
and every 2 s one outbound seller message offering a refund for a better
review goes out: bw-classify flags it, bw-correlate sends POLICY_RISK at once,
bw-alert fires it. Four Kafka hops (reviews, classified, signals, alerts),
three stages.
"""
import json
import os
import subprocess
import sys
import threading
import time
from datetime import datetime, timezone

H = 3600000


def ts(ms):
    d = datetime.fromtimestamp(ms / 1000, tz=timezone.utc)
    return d.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (ms % 1000)


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100.0 * (len(xs) - 1))))] if xs else float("nan")


class Reader(threading.Thread):
    """bw-tail on a topic; stamps each line with its arrival time."""

    def __init__(self, build, brokers, topic, match):
        super().__init__(daemon=True)
        self.p = subprocess.Popen([build + "/tools/bw-tail", "--brokers", brokers, topic,
                                   "--from", "end", "--log.level", "error", "--kafka.fetch.wait.max.ms", "10"],
                                  stdout=subprocess.PIPE, text=True)
        self.match, self.seen = match, {}
        self.start()

    def run(self):
        for line in self.p.stdout:
            t = time.monotonic()
            key = self.match(json.loads(line))
            if key is not None and key not in self.seen:
                self.seen[key] = t

    def wait(self, key, timeout=30):
        end = time.monotonic() + timeout
        while key not in self.seen and time.monotonic() < end:
            time.sleep(0.002)
        return self.seen.get(key)


def replay(build, brokers, topic, path, rate=None, wait=True):
    cmd = [build + "/tools/bw-replay", "--brokers", brokers, "--topic", topic, "--progress",
           "never", path]
    if rate:
        cmd[-1:-1] = ["--rate", str(rate)]
    p = subprocess.Popen(cmd, stderr=subprocess.DEVNULL)
    if wait:
        p.wait()
    return p


def measure(build, brokers, rate, seconds, work, topic, bg_path, bursts, burst_path, match,
            sig_match, key_of, label):
    """Send the background at rate, each burst file every 2 s; time burst -> alert and ping.
    The burst's signal is timed too (read off bw.signals), to tell the hops apart."""
    with open(work + "/ping.jsonl") as fp:
        ping = fp.read()
    alerts = Reader(build, brokers, "bw.alerts", match)
    signals = Reader(build, brokers, "bw.signals", sig_match)
    raw = Reader(build, brokers, topic,
                 lambda s: s["event_id"] if s["event_id"].startswith("ping-") else None)
    time.sleep(2)
    bg = replay(build, brokers, topic, bg_path, rate=rate, wait=False)
    lat, sig, base, missed = [], [], [], 0
    for b in range(bursts):
        time.sleep(1.5)
        replay(build, brokers, topic, burst_path(b))
        t0 = time.monotonic()
        got = alerts.wait(key_of(b))
        if got is None:
            missed += 1
        else:
            lat.append((got - t0) * 1000)
            s = signals.wait(key_of(b), timeout=1)
            if s is not None:
                sig.append((s - t0) * 1000)
        # the baseline, in the same conditions
        with open(work + "/ping-%d.jsonl" % b, "w") as fp:
            fp.write(ping.replace('"event_id": "p"', '"event_id": "ping-%d"' % b))
        replay(build, brokers, topic, work + "/ping-%d.jsonl" % b)
        t1 = time.monotonic()
        got = raw.wait("ping-%d" % b, timeout=10)
        if got is not None:
            base.append((got - t1) * 1000)
    bg.kill()
    for r in (alerts, signals, raw):
        r.p.kill()
    print("background %d events/s for %d s; %d bursts, %d without an alert in 30 s" %
          (rate, seconds, bursts, missed))
    print("%-48s %8s %8s %8s %5s" % ("latency (ms)", "p50", "p99", "max", "n"))
    for name, xs in (("raw produce -> consume (1 hop, no stage)", base),
                     ("event -> signal (read off bw.signals)", sig), (label, lat)):
        print("%-48s %8.1f %8.1f %8.1f %5d" % (name, pct(xs, 50), pct(xs, 99),
                                              max(xs) if xs else float("nan"), len(xs)))


def review(event_id, store, kind, rating, body, at):
    return {"event_id": event_id, "platform": "AMAZON", "marketplace": "US", "store_id": store,
            "kind": kind, "order_id": None, "sku": None, "rating": rating, "title": None,
            "body": body, "language": None, "fulfilled_by_platform": None, "occurred_at": ts(at)}


def reviews_path(build, brokers, rate, seconds, work):
    now = int(time.time() * 1000)
    with open(work + "/bg.jsonl", "w") as fp:
        for i in range(rate * seconds):
            fp.write(json.dumps(review("bg-%d" % i, "bg-%d" % (i % 50), "PRODUCT_REVIEW", 5,
                                       "Great product, fast delivery, thank you!",
                                       now - 6 * H + i)) + "\n")
    bursts = seconds // 2
    for b in range(bursts):
        with open(work + "/burst-%d.jsonl" % b, "w") as fp:
            fp.write(json.dumps(review("msg-%d" % b, "lat-%d" % b, "SELLER_MESSAGE", None,
                                       "We will refund you if you update your review to 5 stars.",
                                       now - H)) + "\n")
    with open(work + "/ping.jsonl", "w") as fp:
        fp.write(json.dumps(review("p", "s", "PRODUCT_REVIEW", 5, "ok", now)) + "\n")
    measure(build, brokers, rate, seconds, work, "bw.reviews", work + "/bg.jsonl", bursts,
            lambda b: work + "/burst-%d.jsonl" % b,
            lambda a: a["scope"].get("store_id") if a["state"] == "FIRING" and
            a["type"] == "POLICY_RISK" else None,
            lambda s: s["scope"].get("store_id") if s["type"] == "POLICY_RISK" else None,
            lambda b: "lat-%d" % b, "event -> alert (classify, correlate, alert)")


def main():
    build, brokers, rate, seconds, work = sys.argv[1], sys.argv[2], int(sys.argv[3]), \
        int(sys.argv[4]), sys.argv[5]
    if len(sys.argv) > 6 and sys.argv[6] == "reviews":
        return reviews_path(build, brokers, rate, seconds, work)
    now = int(time.time() * 1000)
    # calm background: orders and their deliveries, on time, event times near now
    n = rate * seconds
    with open(work + "/bg.jsonl", "w") as fp:
        for i in range(n):
            at = now - 6 * H + i
            fp.write(json.dumps({"event_id": "bg-%d" % i, "store_id": "bg-%d" % (i % 50),
                                 "order_id": "bgo-%d" % i, "carrier": "CALM", "tracking_no": "T",
                                 "origin_country": "CN", "dest_country": "DE", "dest_region": None,
                                 "status": "IN_TRANSIT" if i % 2 else "PICKED_UP",
                                 "estimated_delivery": None, "occurred_at": ts(at)}) + "\n")
    bursts = seconds // 2
    with open(work + "/burst-orders.jsonl", "w") as fp:
        for b in range(bursts):
            for k in range(40):
                placed = now - 10 * 24 * H
                fp.write(json.dumps({
                    "event_id": "bo-%d-%d" % (b, k), "store_id": "lat-%d" % k, "platform": "AMAZON",
                    "marketplace": "DE", "order_id": "lo-%d-%d" % (b, k), "skus": [],
                    "placed_at": ts(placed), "promised_ship_by": ts(placed + 48 * H),
                    "promised_delivery_by": ts(now - 2 * 24 * H), "status": "PLACED",
                    "occurred_at": ts(now - 3 * H)}) + "\n")
    for b in range(bursts):
        with open(work + "/burst-%d.jsonl" % b, "w") as fp:
            for k in range(40):
                fp.write(json.dumps({
                    "event_id": "bd-%d-%d" % (b, k), "store_id": "lat-%d" % k,
                    "order_id": "lo-%d-%d" % (b, k), "carrier": "LAT%d" % b, "tracking_no": "T",
                    "origin_country": "CN", "dest_country": "DE", "dest_region": None,
                    "status": "DELIVERED", "estimated_delivery": None,
                    "occurred_at": ts(now - 2 * H)}) + "\n")
    with open(work + "/ping.jsonl", "w") as fp:
        fp.write(json.dumps({"event_id": "p", "store_id": "s", "order_id": "o", "carrier": "C",
                             "tracking_no": "T", "origin_country": "CN", "dest_country": "DE",
                             "dest_region": None, "status": "PICKED_UP",
                             "estimated_delivery": None, "occurred_at": ts(now)}) + "\n")
    replay(build, brokers, "bw.orders", work + "/burst-orders.jsonl")
    time.sleep(3)
    measure(build, brokers, rate, seconds, work, "bw.shipments", work + "/bg.jsonl", bursts,
            lambda b: work + "/burst-%d.jsonl" % b,
            lambda a: a["scope"].get("carrier") if a["state"] == "FIRING" else None,
            lambda s: s["scope"].get("carrier") if s["type"] == "CARRIER_DELAY_SPIKE" else None,
            lambda b: "LAT%d" % b, "event -> alert (bw-logistics, bw-alert)")


if __name__ == "__main__":
    main()
