#!/usr/bin/env python3
"""Malformed records made from one valid wire record (magic byte, 4-byte
schema id, Avro body), for the poison test. Usage:
  poison.py CASE VALID.bin OTHER.bin MARKER SKIP > out.bin
MARKER is a string of the valid record (Avro-encoded where it stands) that
an enum follows SKIP bytes later: "bad_enum" puts index 99 there. Cases:
garbage, json, truncated, cut1, trailing, unknown_id, other_type,
bad_utf8, neg_length, huge_length, bad_enum."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
from rawavro import s, zz  # noqa: E402  (Avro zig-zag varint, length-prefixed string)


case, valid, other = sys.argv[1], open(sys.argv[2], "rb").read(), open(sys.argv[3], "rb").read()
marker, skip = s(sys.argv[4]), int(sys.argv[5])
at = valid.index(marker)  # the marker string, length prefix included
head, body = valid[:5], valid[5:]


def at_marker(new_len_and_bytes):
    return valid[:at] + new_len_and_bytes + valid[at + len(marker):]


out = {
    "garbage": lambda: b"definitely not avro",
    "json": lambda: b'{"event_id":"json-instead-of-avro"}',
    "truncated": lambda: valid[:len(valid) // 2],
    "cut1": lambda: valid[:-1],
    "trailing": lambda: valid + b"\x02\x00junk",
    "unknown_id": lambda: b"\x00\x00\x00\x00\x63" + body,
    "other_type": lambda: other,
    # the marker's bytes, same length, not UTF-8
    "bad_utf8": lambda: at_marker(zz(len(sys.argv[4])) + b"\xc3\x28" + b"x" * (len(sys.argv[4]) - 2)),
    "neg_length": lambda: at_marker(zz(-5) + marker[1:]),
    "huge_length": lambda: at_marker(zz(1 << 40) + marker[1:]),
    "bad_enum": lambda: valid[:at + len(marker) + skip] + zz(99) + valid[at + len(marker) + skip + 1:],
}[case]()
sys.stdout.buffer.write(out)
