"""Threat 14: forge the worker's replies with the right id (read from the worker's own frame) to attack
the grader's decoding: an error reply whose message, type and location are megabytes of digits
(the grader redacts numbers from error text: a slow pattern would hang it), a reply whose JSON holds
an integer of 5,000 digits (Python refuses to parse it), one nested 100,000 lists deep, and a 20 MB
exception type name. The grader must fail these calls, not hang or crash."""
import json
import os
import struct
import sys


def _reply_fd():
    for name in os.listdir("/proc/self/fd"):
        fd = int(name)
        try:
            if fd > 2 and os.readlink(f"/proc/self/fd/{fd}").startswith("pipe:"):
                with open(f"/proc/self/fdinfo/{fd}") as f:
                    if int(next(l for l in f if l.startswith("flags:")).split()[1], 8) & 3 == 1:
                        return fd
        except (OSError, StopIteration, ValueError):
            continue
    return None


def _request_id():
    f = sys._getframe()
    while f is not None:
        body = f.f_locals.get("body")
        if isinstance(body, dict) and "id" in body:
            return body["id"]
        f = f.f_back
    return None


def _send(head_text):
    fd = _reply_fd()
    head = head_text.encode()
    payload = struct.pack(">I", len(head)) + head
    os.write(fd, struct.pack(">I", len(payload)) + payload)
    os._exit(0)  # the forged frame is the last word


def mean(x):
    rid = _request_id()
    n = x.shape[0]
    if n == 1:
        digits = "1" * 2_000_000
        _send(json.dumps({"id": rid, "ok": False, "tensors": [], "value": None,
                          "error": {"type": "9" * 100_000, "message": digits, "where": "cell " + "2" * 100_000}}))
    if n == 5:
        _send('{"id": %d, "ok": true, "tensors": [], "value": %s}' % (rid, "7" * 5000))
    _send('{"id": %d, "ok": true, "tensors": [], "value": %s1%s}' % (rid, "[" * 100_000, "]" * 100_000))


def clip(x, lo, hi):
    rid = _request_id()
    _send(json.dumps({"id": rid, "ok": False, "tensors": [], "value": None,
                      "error": {"type": "E" * 20_000_000, "message": "x", "where": None}}))
