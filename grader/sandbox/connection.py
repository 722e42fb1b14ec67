"""One live worker seen from the grader: send a request frame, read its reply within the deadline, validate it."""

from __future__ import annotations

import os
import select
import struct
import time

import torch

from grader.errors import InfrastructureError
from grader.inside import protocol
from grader.sandbox.faults import (
    CallTimeout,
    ProtocolViolation,
    StudentError,
    SubmissionFault,
    WorkerCrashed,
)
from grader.sandbox.interfaces import Worker
from grader.sandbox.process import WorkerProcess
from grader.sandbox.spec import SandboxSpec

MAX_REPLY = 128 * 1024 * 1024


START_TIMEOUT = 120.0


def place(t: torch.Tensor, device: str) -> torch.Tensor:
    # A tensor that lived on the GPU in the sandbox comes back on the GPU, so tests can check it.
    if device.startswith("cuda") and torch.cuda.is_available():
        return t.to("cuda")
    return t


class Connection:
    """One live worker: send a request, wait for its reply, validate it."""

    def __init__(self, spec: SandboxSpec, process: Worker | None = None):
        self.process = process or WorkerProcess(spec)
        self.next_id = 1
        os.set_blocking(self.process.req_w, False)
        try:
            body, info = self._receive(0, START_TIMEOUT, "starting the sandbox")
        except SubmissionFault as exc:
            # No student code has run yet: this is the grader's problem, not the submission's.
            self.process.kill()
            tail = bytes(self.process.output[-2000:]).decode("utf-8", "replace")
            raise InfrastructureError(f"the sandbox could not start: {exc}\n{tail}") from None
        if not body.get("ok") or not isinstance(info, dict):
            raise InfrastructureError("the sandbox did not start")
        self.info = info

    def request(self, op: str, value=None, *, timeout: float, label: str, **fields):
        rid = self.next_id
        self.next_id += 1
        try:
            frame = protocol.encode({"id": rid, "op": op, **fields}, value)
        except protocol.ProtocolError as exc:
            raise SubmissionFault(f"{label}: cannot send the arguments ({exc})") from None
        deadline = time.monotonic() + timeout
        self._send(frame, deadline, label)
        body, result = self._receive(rid, deadline - time.monotonic(), label)
        if not body.get("ok"):
            error = body.get("error")
            raise StudentError(label, error if isinstance(error, dict) else {})
        return result

    def _send(self, frame: bytes, deadline: float, label: str) -> None:
        view = memoryview(frame)
        while view:
            left = deadline - time.monotonic()
            if left <= 0:
                raise CallTimeout(f"{label} did not accept its input in time")
            _, writable, _ = select.select([], [self.process.req_w], [], left)
            if writable:
                try:
                    view = view[os.write(self.process.req_w, view):]
                except BlockingIOError:
                    continue
                except (BrokenPipeError, OSError):
                    raise self._crashed(label) from None

    def _receive(self, rid: int, timeout: float, label: str):
        deadline = time.monotonic() + max(timeout, 0.0)
        head = self._read(4, deadline, label)
        (n,) = struct.unpack(">I", head)
        if n > MAX_REPLY:
            raise ProtocolViolation(f"{label}: the sandbox sent a {n}-byte reply, over the limit")
        payload = self._read(n, deadline, label)
        try:
            body, value = protocol.decode(payload, place=place)
        except Exception as exc:  # ProtocolError, or anything else bytes from the sandbox can provoke
            why = str(exc) if isinstance(exc, protocol.ProtocolError) else type(exc).__name__
            raise ProtocolViolation(f"{label}: invalid reply from the sandbox ({why})") from None
        del payload
        if time.monotonic() > deadline:  # decoding is bounded, but a reply is on time only when decoded
            raise CallTimeout(f"{label} did not finish within its time limit (an endless loop?)")
        if body.get("id") != rid or not isinstance(body.get("ok"), bool):
            raise ProtocolViolation(
                f"{label}: a reply out of order; something in the submission wrote to the grader's channel")
        return body, value

    def _read(self, n: int, deadline: float, label: str) -> bytearray:
        # Into one buffer of the announced size: the frame is held once, never as chunks plus a join.
        buf = bytearray(n)
        view, got = memoryview(buf), 0
        while got < n:
            left = deadline - time.monotonic()
            if left <= 0:
                raise CallTimeout(f"{label} did not finish within its time limit (an endless loop?)")
            readable, _, _ = select.select([self.process.rep_r], [], [], left)
            if not readable:
                continue
            k = os.readv(self.process.rep_r, [view[got:got + (1 << 20)]])
            if not k:
                raise self._crashed(label)
            got += k
        return buf

    def _crashed(self, label: str) -> WorkerCrashed:
        try:
            self.process.wait(5)
        except Exception:
            pass
        how = self.process.exit_description()
        hint = " (did the code call os._exit() or sys.exit()?)" if "status" in how else ""
        return WorkerCrashed(f"{label}: the sandboxed Python process {how}{hint}")

    def close(self) -> None:
        self.process.kill()
