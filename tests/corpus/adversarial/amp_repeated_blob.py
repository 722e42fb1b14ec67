"""Threat 17: a worker that replaces its own protocol.encode and answers with valid frames whose tensor
table lists one 16 MiB blob 96 times. A grader that copies every entry allocates 1.5 GiB per reply; the
invariant: every byte the worker sends is bounded before it is decoded (entries may not overlap, so
no byte is decoded twice), and the grader's peak memory stays under 1.5 GiB."""
import json
import struct
import sys

import torch

BLOB = 16 * 1024 * 1024
COPIES = 96


def _patch():
    protocol = sys.modules.get("protocol")
    if protocol is None or getattr(protocol, "patched", False):
        return False
    plain = protocol.encode

    def encode(message, value=None, **kw):
        frame = plain(message, value, **kw)
        (head_len,) = struct.unpack(">I", frame[4:8])
        body = json.loads(frame[8:8 + head_len])
        blob = frame[8 + head_len:]
        start = len(blob)
        body["tensors"] += [["uint8", [BLOB], start, BLOB, "cpu"]] * COPIES
        head = json.dumps(body).encode()
        payload = struct.pack(">I", len(head)) + head + blob + bytes(BLOB)
        return struct.pack(">I", len(payload)) + payload

    protocol.encode = encode
    protocol.patched = True
    return True


# Patched from inside the graded functions, so the very reply to a graded call is the attack.
def mean(x):
    _patch()
    return x.mean()


def clip(x, lo, hi):
    _patch()
    return x.clamp(lo, hi)
