#!/usr/bin/env python3
"""Accuracy of bw-classify on real, human-labelled data (not a test).

Reads ../shared/data (see its README): Olist reviews with human-voted root
causes in Portuguese and English, and Amazon review snippets with human
sentiment ratings. Runs `bw-classify --stdin` (the same code path as the
stage) and prints precision, recall and F1 per class and the macro-F1.

Usage: bench/eval_classify.py [--build build] [--data ../shared/data] [--errors N]
"""
import argparse
import csv
import json
import os
import subprocess
import sys
import time

CLASS_OF = {  # primary cause -> Olist top class
    "logistics_delay": "delivery", "logistics_lost": "delivery", "logistics_damaged": "delivery",
    "logistics_partial": "delivery", "quality_defect": "quality", "not_as_described": "quality",
    "after_sales": "quality", None: "satisfied"}
GOLD_CLASS = {"satisfeito_com_pedido": "satisfied", "problemas_de_entrega": "delivery",
              "problemas_de_qualidade": "quality"}
SUB_OF = {"logistics_delay": "atrasado", "logistics_partial": "entrega_parcial",
          "quality_defect": "baixa_qualidade", "not_as_described": "diferente_do_anunciado",
          "after_sales": "devolucao"}
SUBCLASSES = ["atrasado", "entrega_parcial", "baixa_qualidade", "diferente_do_anunciado", "devolucao"]


def classify(binary, records):
    lines = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)
    t0 = time.time()
    p = subprocess.run([binary, "--stdin", "--log.level", "warn"], input=lines.encode(),
                       capture_output=True, check=False)
    secs = time.time() - t0
    if p.returncode != 0:
        sys.exit("bw-classify failed: %s" % p.stderr.decode()[:2000])
    out = [json.loads(l) for l in p.stdout.decode().splitlines()]
    assert len(out) == len(records), "got %d outputs for %d inputs" % (len(out), len(records))
    return out, secs


def prf(gold, pred, classes):
    rows, f1s = [], []
    for c in classes:
        tp = sum(1 for g, p in zip(gold, pred) if g == c and p == c)
        fp = sum(1 for g, p in zip(gold, pred) if g != c and p == c)
        fn = sum(1 for g, p in zip(gold, pred) if g == c and p != c)
        pr = tp / (tp + fp) if tp + fp else 0.0
        rc = tp / (tp + fn) if tp + fn else 0.0
        f1 = 2 * pr * rc / (pr + rc) if pr + rc else 0.0
        rows.append((c, pr, rc, f1, tp + fn))
        f1s.append(f1)
    return rows, sum(f1s) / len(f1s)


def show(title, rows, macro, target):
    print("\n%s" % title)
    print("  %-24s %9s %9s %9s %8s" % ("class", "precision", "recall", "F1", "support"))
    for c, pr, rc, f1, n in rows:
        print("  %-24s %9.3f %9.3f %9.3f %8d" % (c, pr, rc, f1, n))
    print("  %-24s %29.3f   (target %s: %s)" % ("macro-F1", macro, target,
          "met" if macro >= float(target.strip(">= ")) else "NOT met"))


def olist(binary, path, lang, errors):
    rows = [r for r in csv.DictReader(open(path, encoding="utf-8")) if r["most_voted_class"]]
    recs = []
    for i, r in enumerate(rows):
        recs.append({"event_id": "olist-%s-%d" % (lang, i), "platform": "OTHER",
                     "marketplace": "BR", "store_id": "olist", "kind": "PRODUCT_REVIEW",
                     "rating": int(r["review_score"]),
                     "title": r["review_comment_title"] or None,
                     "body": r["review_comment_message"],
                     "occurred_at": 0})
    out, secs = classify(binary, recs)
    gold = [GOLD_CLASS[r["most_voted_class"]] for r in rows]
    pred = [CLASS_OF.get(o["primary_cause"], "other") for o in out]
    cls_rows, cls_macro = prf(gold, pred, ["delivery", "quality", "satisfied"])
    gsub = [r["most_voted_subclass"] for r in rows]
    psub = [SUB_OF.get(o["primary_cause"], "-") for o in out]
    sub_rows, sub_macro = prf(gsub, psub, SUBCLASSES)
    show("Olist %s: top class (%d rows, %.2f s)" % (lang, len(rows), secs), cls_rows, cls_macro,
         ">= 0.85" if lang == "pt" else ">= 0.80")
    show("Olist %s: subclass" % lang, sub_rows, sub_macro, ">= 0.65")
    if errors:
        print("\n  first %d class errors:" % errors)
        shown = 0
        for r, o, g, p in zip(rows, out, gold, pred):
            if g != p and shown < errors:
                shown += 1
                print("   gold=%-9s pred=%-9s [%s] %s | %s" % (g, p, r["most_voted_subclass"],
                      ",".join(o["rules"]), (r["review_comment_title"] + " " + r["review_comment_message"])[:160]))
    return cls_macro, sub_macro


def snippets(binary, path, errors):
    rows = [l.rstrip("\n").split("\t") for l in open(path, encoding="utf-8") if l.strip()]
    recs = [{"event_id": "snip-%d" % i, "platform": "AMAZON", "marketplace": "US",
             "store_id": "s", "kind": "PRODUCT_REVIEW", "body": r[2], "language": "en",
             "occurred_at": 0} for i, r in enumerate(rows)]
    out, secs = classify(binary, recs)
    lab = lambda x: "positive" if x > 0.5 else "negative" if x < -0.5 else "neutral"
    gold = [lab(float(r[1])) for r in rows]
    # thresholds +-0.05 on the compound score, as VADER's authors use
    pred = ["positive" if o["sentiment"] >= 0.05 else "negative" if o["sentiment"] <= -0.05
            else "neutral" for o in out]
    rows_, macro = prf(gold, pred, ["negative", "neutral", "positive"])
    show("Amazon snippets: sentiment (%d rows, %.2f s; VADER 0.563)" % (len(rows), secs), rows_,
         macro, ">= 0.564")
    n = len(gold)
    gs = [float(r[1]) for r in rows]
    ps = [o["sentiment"] for o in out]
    mg, mp = sum(gs) / n, sum(ps) / n
    cov = sum((a - mg) * (b - mp) for a, b in zip(gs, ps))
    var = (sum((a - mg) ** 2 for a in gs) * sum((b - mp) ** 2 for b in ps)) ** 0.5
    print("  Pearson r with the human mean rating: %.3f" % (cov / var if var else 0))
    if errors:
        shown = 0
        for r, o, g, p in zip(rows, out, gold, pred):
            if g != p and shown < errors:
                shown += 1
                print("   gold=%-8s pred=%-8s %.2f %s" % (g, p, o["sentiment"], r[2][:140]))
    return macro


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build")
    ap.add_argument("--data", default=os.path.join(os.path.dirname(__file__), "../../shared/data"))
    ap.add_argument("--errors", type=int, default=0)
    ap.add_argument("--only", choices=["pt", "en", "sentiment"])
    a = ap.parse_args()
    binary = os.path.join(a.build, "stages/classify/bw-classify")
    print("command: %s" % " ".join(sys.argv))
    print("machine: %s" % " ".join(os.uname()))
    for lang in ["pt", "en"]:
        if a.only in (None, lang):
            olist(binary, os.path.join(a.data, "olist_labelled_reviews_%s_dev.csv" % lang), lang,
                  a.errors)
    if a.only in (None, "sentiment"):
        snippets(binary, os.path.join(a.data, "amazon_review_snippets_sentiment_dev.tsv"), a.errors)


if __name__ == "__main__":
    main()
