"""Threat 17: a worker that replaces its own protocol.encode and adds a million zero-size tensors to the
table of every reply (about 30 MB of JSON, well under the frame limit). Decoding that cost a grader
minutes per call, after the call's deadline. The invariant: what decoding may cost is bounded before it
starts (head size, number of entries), so the grader's time and memory stay bounded."""
import json
import struct
import sys

ENTRIES = 1_000_000


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
        body["tensors"] += [["float32", [0], len(blob), 0, "cpu"]] * ENTRIES
        head = json.dumps(body).encode()
        payload = struct.pack(">I", len(head)) + head + blob
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
