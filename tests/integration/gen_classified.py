#!/usr/bin/env python3
"""ClassifiedReview and SellerAction JSON lines for bw-correlate's tests and bench,
as bw-classify would write them (no classify run needed).

Usage: gen_classified.py OUTDIR DAYS STORES PER_STORE_DAY [SEED]

Writes OUTDIR/classified.jsonl (product reviews, seller feedback, buyer messages,
A-to-z claims, seller messages; causes, removable, policy flags, response deadlines)
and OUTDIR/actions.jsonl (replies to nine in ten of what must be answered, a few
duplicates, and actions that answer nothing). One SKU of store 1 gets a quality
complaint cluster in the middle of the period; store 2 leaves its buyers unanswered.
"""
import json
import os
import random
import sys
from datetime import datetime, timezone

H, DAY = 3600000, 86400000
WORDS = ("arrived broken late box colour size battery zipper seller refund replace quality "
         "cheap flimsy great lovely slow fast tracking carrier missing parts manual charger "
         "screen strap fabric smell noise warranty return answer photo listing price gift "
         "daughter son kitchen garden office travel winter summer").split()
CAUSES = ["quality_defect", "not_as_described", "logistics_delay", "logistics_lost",
          "logistics_damaged", "logistics_partial", "after_sales", "service_attitude", "price",
          "payment", "abusive", "other"]


def ts(ms):
    d = datetime.fromtimestamp(ms / 1000, tz=timezone.utc)
    return d.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (ms % 1000)


def main():
    out, days, stores, per = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    rnd = random.Random(int(sys.argv[5]) if len(sys.argv) > 5 else 3)
    base = 1_704_067_200_000
    reviews, actions = [], []
    n = 0
    for day in range(days):
        for s in range(1, stores + 1):
            store = "store-%03d" % s
            for _ in range(per):
                n += 1
                at = base + day * DAY + rnd.randrange(DAY)
                kind = rnd.choices(["PRODUCT_REVIEW", "SELLER_FEEDBACK", "BUYER_MESSAGE",
                                    "A_TO_Z_CLAIM", "SELLER_MESSAGE"], [70, 15, 10, 1, 4])[0]
                sku = "K%d-%d" % (s, rnd.randrange(20))
                rating = None
                if kind in ("PRODUCT_REVIEW", "SELLER_FEEDBACK"):
                    rating = rnd.choices([1, 2, 3, 4, 5], [5, 4, 6, 25, 60])[0]
                causes = []
                if (rating is not None and rating <= 2) or kind in ("BUYER_MESSAGE", "A_TO_Z_CLAIM"):
                    causes = [rnd.choice(CAUSES[:10])]
                # store 1's SKU K1-0 breaks for two days: its reviews are quality complaints
                if s == 1 and days // 2 <= day < days // 2 + 2 and kind == "PRODUCT_REVIEW" \
                        and rnd.random() < 0.2:
                    sku, rating, causes = "K1-0", 1, ["quality_defect"]
                negative = rating is not None and rating <= 2
                due = at + 24 * H if negative or kind in ("BUYER_MESSAGE", "A_TO_Z_CLAIM") else None
                rec = {
                    "event_id": "cr-%07d" % n, "platform": ["AMAZON", "EBAY", "SHOPIFY"][s % 3],
                    "marketplace": "US", "store_id": store, "kind": kind,
                    "order_id": "o-%07d" % rnd.randrange(10**6) if kind != "SELLER_MESSAGE" else None,
                    "sku": sku if kind == "PRODUCT_REVIEW" else None, "rating": rating,
                    "title": None, "body": " ".join(rnd.sample(WORDS, 7)),
                    "language": None, "fulfilled_by_platform": False, "occurred_at": ts(at),
                    "causes": causes, "primary_cause": causes[0] if causes else None,
                    "sentiment": -0.5 if negative else 0.5,
                    "severity": "HIGH" if negative else "NONE",
                    "removable": "ABUSIVE_LANGUAGE" if negative and rnd.random() < 0.02 else None,
                    "policy_flags": ["OFFERS_INCENTIVE"] if kind == "SELLER_MESSAGE" and rnd.random() < 0.05 else [],
                    "response_due_at": ts(due) if due else None, "rules": [],
                    "detected_language": "en", "body_truncated": False,
                    "classified_at": ts(at + 1000)}
                reviews.append((at, rec))
                if due and s != 2 and rnd.random() < 0.9:
                    t = at + rnd.randrange(1, 30) * H  # some answers come too late
                    for _ in range(2 if rnd.random() < 0.05 else 1):  # and some twice
                        actions.append((t, {"event_id": "act-%07d" % n, "store_id": store,
                                            "ref_event_id": rec["event_id"], "action": "REPLIED",
                                            "occurred_at": ts(t)}))
                if rnd.random() < 0.01:  # an action for an event nobody has seen
                    actions.append((at, {"event_id": "act-x%07d" % n, "store_id": store,
                                         "ref_event_id": "nobody-%d" % n, "action": "REFUNDED",
                                         "occurred_at": ts(at)}))
    os.makedirs(out, exist_ok=True)
    for name, rows in (("classified", reviews), ("actions", actions)):
        with open(os.path.join(out, name + ".jsonl"), "w") as fp:
            for _, r in sorted(rows, key=lambda x: x[0]):
                fp.write(json.dumps(r, separators=(",", ":")) + "\n")
    print("gen_classified: %d reviews, %d actions" % (len(reviews), len(actions)), file=sys.stderr)


if __name__ == "__main__":
    main()
