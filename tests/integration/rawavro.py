#!/usr/bin/env python3
"""Hand-made wire-format records for poison tests: a ReviewEvent whose enum
index, UTF-8 or length is wrong, or a Signal of an unknown type, which
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


kind = sys.argv[1]
rec = {"bad_enum": lambda: review(platform=42),
       "bad_utf8": lambda: review(body=b"caf\xc3"),
       "truncated": lambda: review()[:-4],
       "order_event": lambda: b"\x00\x00\x00\x00\x02" + review()[5:],
       # a Signal (id 6) whose type is enum index 99: a type this build does not know
       "signal_bad_type": lambda: b"\x00\x00\x00\x00\x06" + s("a1") + zz(99) + zz(1)}[kind]()
sys.stdout.buffer.write(rec)
