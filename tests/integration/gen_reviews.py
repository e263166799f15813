#!/usr/bin/env python3
"""Deterministic ReviewEvent JSON lines for the round-trip tests.

Usage: gen_reviews.py COUNT [SEED]. Every line is in the canonical form
bw-tail prints (schema field order, RFC 3339 timestamps with milliseconds),
with the optional fields, languages and scripts varied.
"""
import json
import random
import sys
from datetime import datetime, timezone

PLATFORMS = ["AMAZON", "EBAY", "SHOPIFY", "WALMART", "ALIEXPRESS", "MERCADOLIBRE", "OTHER"]
KINDS = ["PRODUCT_REVIEW", "SELLER_FEEDBACK", "BUYER_MESSAGE", "A_TO_Z_CLAIM",
         "CHARGEBACK", "RETURN_REQUEST", "SELLER_MESSAGE"]
TEXTS = [
    ("en", "Arrived two weeks late and the box was crushed. Not happy."),
    ("de", "Die Lampe kam zerbrochen an, völlig enttäuscht!"),
    ("fr", "Produit conforme, livraison rapide, je recommande."),
    ("es", "No funciona después de dos días, quiero un reembolso."),
    ("it", "Pacco mai arrivato, il venditore non risponde."),
    ("pt", "Produto de péssima qualidade, veio faltando peças."),
    ("ja", "商品が届きません。追跡番号も更新されていません。"),
    ("zh", "质量很差，用了一次就坏了，要求退货。"),
]


def ts(ms):
    d = datetime.fromtimestamp(ms / 1000, tz=timezone.utc)
    return d.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (ms % 1000)


def main():
    count = int(sys.argv[1])
    rnd = random.Random(int(sys.argv[2]) if len(sys.argv) > 2 else 7)
    base = 1_704_067_200_000  # 2024-01-01
    out = sys.stdout
    for i in range(count):
        lang, body = TEXTS[rnd.randrange(len(TEXTS))]
        rec = {
            "event_id": "rv-%08d" % i,
            "platform": PLATFORMS[rnd.randrange(len(PLATFORMS))],
            "marketplace": rnd.choice(["US", "DE", "FR", "JP", "BR"]),
            "store_id": "store-%03d" % rnd.randrange(200),
            "kind": KINDS[rnd.randrange(len(KINDS))],
            "order_id": None if rnd.random() < 0.2 else "o-%07d" % rnd.randrange(10**7),
            "sku": None if rnd.random() < 0.1 else "SKU-%04d" % rnd.randrange(5000),
            "rating": None if rnd.random() < 0.3 else rnd.randint(1, 5),
            "title": None if rnd.random() < 0.5 else body[:20],
            "body": body + " #%d" % i,
            "language": None if rnd.random() < 0.4 else lang,
            "fulfilled_by_platform": rnd.choice([None, True, False]),
            "occurred_at": ts(base + i * 1000 + rnd.randrange(1000)),
        }
        out.write(json.dumps(rec, ensure_ascii=False, separators=(",", ":")) + "\n")


if __name__ == "__main__":
    main()
