"""Threat 17: a reply whose JSON is millions of empty lists (a few bytes each in the frame, 56 bytes
each once parsed): 90 MB of `[],` would be about 1.7 GB of Python lists in the grader. The
invariant: the JSON head is bounded in bytes and in containers before json.loads runs."""
import struct
import sys

LISTS = 30_000_000


def _patch():
    protocol = sys.modules.get("protocol")
    if protocol is None or getattr(protocol, "patched", False):
        return False

    def encode(message, value=None, **kw):
        rid = message.get("id") if isinstance(message, dict) else None
        head = (b'{"id": %d, "ok": true, "tensors": [], "value": [' % (rid or 0)) + b"[]," * LISTS + b'0]}'
        payload = struct.pack(">I", len(head)) + head
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
