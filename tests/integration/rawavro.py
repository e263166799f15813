#!/usr/bin/env python3
"""Hand-made wire-format records for poison tests: a ReviewEvent whose enum
index, UTF-8 or length is wrong, a ClassifiedReview whose rating, kind or
cause is out of range, a SellerAction with an unknown action or cut short,
or a Signal of an unknown type, which
bw-replay (which validates) cannot produce. Usage: rawavro.py KIND > file
(one record, raw bytes)."""
import sys


def zz(n):
    n = (n << 1) ^ (n >> 63)
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def s(text):
    b = text if isinstance(text, bytes) else text.encode()
    return zz(len(b)) + b


def review(platform=0, body=b"hello", kind=0):
    return (b"\x00\x00\x00\x00\x01" + s("poison-1") + zz(platform) + s("US") + s("s1") + zz(kind)
            + b"\x00" + b"\x00" + b"\x00" + b"\x00" + s(body) + b"\x00" + b"\x00" + zz(0))


def classified(rating=3, kind=0, cause=0):
    """A ClassifiedReview (id 5): a product review of store s1 at 2024-03-01."""
    import struct
    at = 1709251200000
    return (b"\x00\x00\x00\x00\x05" + s("poison-c") + zz(0) + s("US") + s("s1") + zz(kind)
            + b"\x00" + b"\x00" + zz(1) + zz(rating) + b"\x00" + s("text") + b"\x00" + b"\x00"
            + zz(at) + zz(1) + zz(cause) + zz(0) + b"\x00" + struct.pack("<d", 0.0) + zz(0)
            + b"\x00" + zz(0) + b"\x00" + zz(0) + s("en") + b"\x00" + zz(at))


def action(action=0):
    """A SellerAction (id 4)."""
    return (b"\x00\x00\x00\x00\x04" + s("poison-a") + s("s1") + s("x") + zz(action)
            + zz(1709251200000))


if __name__ == "__main__":
    kind = sys.argv[1]
    rec = {"bad_enum": lambda: review(platform=42),
           "bad_utf8": lambda: review(body=b"caf\xc3"),
           "truncated": lambda: review()[:-4],
           "order_event": lambda: b"\x00\x00\x00\x00\x02" + review()[5:],
           # a Signal (id 6) whose type is enum index 99: a type this build does not know
           "signal_bad_type": lambda: b"\x00\x00\x00\x00\x06" + s("a1") + zz(99) + zz(1),
           "classified_ok": lambda: classified(),
           "classified_bad_rating": lambda: classified(rating=9),
           "classified_bad_kind": lambda: classified(kind=42),
           "classified_bad_cause": lambda: classified(cause=77),
           "action_bad_enum": lambda: action(action=17),
           "action_truncated": lambda: action()[:-3]}[kind]()
    sys.stdout.buffer.write(rec)
