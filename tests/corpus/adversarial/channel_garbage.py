"""Threat 14: write into the grader's channel. Find the reply pipe among /proc/self/fd (a write-only
pipe that is not stdout or stderr) and write garbage, an oversized length header, and a well-formed
frame with the wrong id; steal the request pipe with a thread that reads the grader's requests and
answers "ok" to each. The functions are wrong."""
import json
import os
import struct
import threading


def _pipes(mode):
    found = []
    for name in os.listdir("/proc/self/fd"):
        fd = int(name)
        try:
            if not os.readlink(f"/proc/self/fd/{fd}").startswith("pipe:"):
                continue
            with open(f"/proc/self/fdinfo/{fd}") as f:
                flags = int(next(l for l in f if l.startswith("flags:")).split()[1], 8)
        except (OSError, StopIteration, ValueError):
            continue
        if flags & 3 == mode and fd not in (0, 1, 2):
            found.append(fd)
    return found


def _frame(message):
    head = json.dumps({**message, "value": True, "tensors": []}).encode()
    payload = struct.pack(">I", len(head)) + head
    return struct.pack(">I", len(payload)) + payload


def _write(data):
    for fd in _pipes(1):
        try:
            os.write(fd, data)
        except OSError:
            pass


def _steal():
    def loop(fd):
        while True:
            try:
                head = os.read(fd, 4)
                if len(head) < 4:
                    return
                body = os.read(fd, struct.unpack(">I", head)[0])
                rid = json.loads(body[4:4 + struct.unpack(">I", body[:4])[0]]).get("id")
                _write(_frame({"id": rid, "ok": True}))
            except Exception:
                return

    for fd in _pipes(0):
        threading.Thread(target=loop, args=(fd,), daemon=True).start()


def mean(x):
    n = x.shape[0]
    if n == 1:
        _write(b"\x00\x00\x00\x08garbage!")
    elif n == 5:
        _write(b"\xff\xff\xff\xf0" + b"z" * 4096)
    else:
        _write(_frame({"id": 987654, "ok": True}))
    return x.max() + 1.0


def clip(x, lo, hi):
    _steal()
    return x
