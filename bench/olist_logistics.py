#!/usr/bin/env python3
"""Olist's real order timelines as OrderEvents and ShipmentEvents.

Usage: olist_logistics.py OLIST_DIR OUTDIR
Writes OUTDIR/orders.jsonl and OUTDIR/shipments.jsonl, each in event-time
order, and prints what it kept and skipped on stderr.

One carrier and one national lane (Olist ships through Correios and the
customers table with the buyer's state is not in ../shared/data): carrier
"CORREIOS", lane BR -> BR. The promise is order_estimated_delivery_date,
the ship-by date the first item's shipping_limit_date (items cover about a
third of the orders; the others have no ship-by), the store the first
item's seller; orders without an item row (two thirds) go to sixteen
stand-in stores olist-00..olist-15 by order id, so that they spread over
the partitions (bw-devkafka keeps at most 5 MiB per partition). Olist stamps local
time without a zone; it is read as UTC, which shifts every event alike.
"""
import csv
import json
import sys
from datetime import datetime, timezone

CARRIER = "CORREIOS"


def ms(text):
    if not text:
        return None
    d = datetime.strptime(text, "%Y-%m-%d %H:%M:%S").replace(tzinfo=timezone.utc)
    return int(d.timestamp() * 1000)


def ts(t):
    d = datetime.fromtimestamp(t / 1000, tz=timezone.utc)
    return d.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (t % 1000)


def first_items(path):
    """order_id -> (seller_id, shipping_limit ms, [product ids])"""
    items = {}
    with open(path, newline="", encoding="utf-8") as fp:
        for row in csv.DictReader(fp):
            seller, limit, skus = items.get(row["order_id"], (None, None, []))
            if row["order_item_id"] == "1" or seller is None:
                seller, limit = row["seller_id"], ms(row["shipping_limit_date"])
            skus.append(row["product_id"])
            items[row["order_id"]] = (seller, limit, skus)
    return items


def scan(oid, store, status, at):
    return (at, {"event_id": "se-%s-%s" % (oid, status[:3]), "store_id": store,
                 "order_id": oid, "carrier": CARRIER, "tracking_no": "BR" + oid[:11].upper(),
                 "origin_country": "BR", "dest_country": "BR", "dest_region": None,
                 "status": status, "estimated_delivery": None, "occurred_at": ts(at)})


def main():
    src, out = sys.argv[1], sys.argv[2]
    items = first_items(src + "/olist_order_items_dataset.partial.csv")
    orders, scans = [], []
    kept = skipped = late = 0
    with open(src + "/olist_orders_dataset.csv", newline="", encoding="utf-8") as fp:
        for row in csv.DictReader(fp):
            oid = row["order_id"]
            placed = ms(row["order_purchase_timestamp"])
            promise = ms(row["order_estimated_delivery_date"])
            picked = ms(row["order_delivered_carrier_date"])
            delivered = ms(row["order_delivered_customer_date"])
            # only parcels the carrier delivered say anything about its delays
            if row["order_status"] != "delivered" or not placed or not promise or not delivered:
                skipped += 1
                continue
            kept += 1
            late += delivered > promise
            seller, limit, skus = items.get(oid, ("olist-%02d" % (int(oid[:2], 16) % 16), None, []))
            orders.append((placed, {"event_id": "oe-" + oid, "store_id": seller,
                                    "platform": "OTHER", "marketplace": "BR", "order_id": oid,
                                    "skus": skus[:5], "placed_at": ts(placed),
                                    "promised_ship_by": ts(limit) if limit else None,
                                    "promised_delivery_by": ts(promise), "status": "PLACED",
                                    "occurred_at": ts(placed)}))
            # a few rows have the carrier's date after the customer's
            if picked and picked <= delivered:
                scans.append(scan(oid, seller, "PICKED_UP", picked))
            scans.append(scan(oid, seller, "DELIVERED", delivered))
    for name, rows in (("orders", orders), ("shipments", scans)):
        rows.sort(key=lambda x: x[0])
        with open("%s/%s.jsonl" % (out, name), "w", encoding="utf-8") as fp:
            for _, r in rows:
                fp.write(json.dumps(r) + "\n")
    print("olist: %d delivered orders kept (%.1f%% late against the estimate), %d others skipped, "
          "%d shipment scans" % (kept, 100.0 * late / max(kept, 1), skipped, len(scans)),
          file=sys.stderr)


if __name__ == "__main__":
    main()
