#!/usr/bin/env python3
"""ReviewEvent JSON lines from real text for bench_classify: Olist reviews
(Portuguese) and Amazon snippets (English) from ../shared/data, joined to
about 250 bytes each. Usage: real_mix.py [--data DIR] > mix.jsonl"""
import argparse, csv, json, os, random

ap = argparse.ArgumentParser()
ap.add_argument("--data", default=os.path.join(os.path.dirname(__file__), "../../shared/data"))
ap.add_argument("--count", type=int, default=2048)
a = ap.parse_args()
rnd = random.Random(1)
pt = [r["review_comment_message"] for r in
      csv.DictReader(open(os.path.join(a.data, "olist_labelled_reviews_pt_dev.csv"), encoding="utf-8"))
      if r["review_comment_message"]]
en = [l.rstrip("\n").split("\t")[2] for l in
      open(os.path.join(a.data, "amazon_review_snippets_sentiment_dev.tsv"), encoding="utf-8")]
for i in range(a.count):
    pool = pt if i % 2 else en
    body = ""
    while len(body.encode()) < 230:
        body += rnd.choice(pool) + " "
    print(json.dumps({"event_id": "real-%d" % i, "platform": "AMAZON", "marketplace": "US",
                      "store_id": "s1", "kind": "PRODUCT_REVIEW", "rating": rnd.randint(1, 5),
                      "body": body.strip(), "occurred_at": "2024-03-01T10:00:00Z"},
                     ensure_ascii=False))
