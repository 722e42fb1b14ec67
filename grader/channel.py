"""The grader's side of the sandbox: by-value RPC with timeouts, restarts, and the `student` proxy."""

from __future__ import annotations

import contextlib
import os
import re
import select
import struct
import time
from dataclasses import dataclass, field

import torch

from grader import protocol
from grader.errors import InfrastructureError
from grader.load import Submission
from grader.sandbox import SandboxSpec, WorkerProcess, Zygote

MAX_REPLY = 128 * 1024 * 1024
START_TIMEOUT = 120.0
MAX_RESTARTS = 8


class SubmissionFault(Exception):
    """Something the submission did made a call fail; the message is written for the student."""


class StudentError(SubmissionFault):
    """The student's code raised an exception."""

    def __init__(self, call: str, error: dict):
        # Every field comes from the sandbox: redacted like the message (a class name or a code
        # object's file name can carry the hidden inputs as well as the text can).
        self.type = redact(str(error.get("type", "Exception")), 100)
        self.message = redact(str(error.get("message", "")))
        self.where = redact(str(error["where"]), 120) if error.get("where") else None
        at = f" ({self.where})" if self.where else ""
        if self.type == "NotImplementedError":
            text = f"{call} is not implemented yet (it raises NotImplementedError{at})"
        elif self.type == "ModuleNotFoundError":
            text = f"{call}: {missing_module(self.message)}{at}"
        elif self.type == "SystemExit":
            text = f"{call} called sys.exit(){at}; graded code must return a value"
        else:
            text = f"{call} raised {self.type}: {self.message}{at}"
        super().__init__(text)


AVAILABLE = "torch, numpy, math, the Python standard library and tqdm"


def missing_module(message: str) -> str:
    """What a student reads when graded code imports a module the grader does not have."""
    match = re.search(r"No module named '([\w.]{1,80})'", message)
    name = f"the module {match.group(1)!r}" if match else "a module"
    return f"{name} is not available where graded code runs; graded code may use {AVAILABLE}"


# Text from the sandbox is split into tokens at separators (linear time: no pattern that can
# backtrack on a megabyte of digits). A token "has digits" if any character is one.
_SEPARATORS = re.compile(r"([^\w.+\-/=]+)")
_DECIMAL = re.compile(r"\d+\.\d+(?:[eE][-+]?\d+)?|(?<![\w.])\.\d+(?:[eE][-+]?\d+)?|\d+[eE][-+]?\d+")


def redact(message: str, cap: int = 300) -> str:
    """Text from the sandbox (a student's exception, a class name) as feedback may show it, without what
    could echo hidden inputs: runs of four or more tokens with digits (a printed list or tensor, hex
    words), decimals and exponents (x=0.25 -> x=#), and long tokens that are mostly digits (hex or
    digit-encoded data). Whole numbers such as shapes and line numbers stay."""
    tokens = _SEPARATORS.split(str(message)[: cap * 4])
    words, seps = tokens[0::2], tokens[1::2] + [""]
    digits = [any(c.isdigit() for c in w) for w in words]
    out: list[str] = []
    i = 0
    while i < len(words):
        j = i
        while digits[i] and j + 1 < len(words) and digits[j + 1]:
            j += 1
        if j - i >= 3:
            out += ["[numbers removed]", seps[j]]
            i = j + 1
            continue
        word = words[i]
        if digits[i] and len(word) > 12 and 3 * sum(c.isdigit() for c in word) >= len(word):
            word = "[data removed]"
        elif digits[i]:
            word = _DECIMAL.sub("#", word)
        out += [word, seps[i]]
        i += 1
    return "".join(out)[:cap]


def type_name(name: str) -> str:
    """A class name sent by the sandbox, safe to print in feedback."""
    return redact(name, 60) or "object"


class WorkerCrashed(SubmissionFault):
    """The worker process died during a call."""


class CallTimeout(SubmissionFault):
    """A call ran past its time limit."""


class ProtocolViolation(SubmissionFault):
    """The worker sent something that is not a valid reply."""


class TimeLimitReached(SubmissionFault):
    """The submission used up its total time."""


def _place(t: torch.Tensor, device: str) -> torch.Tensor:
    # A tensor that lived on the GPU in the sandbox comes back on the GPU, so tests can check it.
    if device.startswith("cuda") and torch.cuda.is_available():
        return t.to("cuda")
    return t


class Connection:
    """One live worker: send a request, wait for its reply, validate it."""

    def __init__(self, spec: SandboxSpec, process=None):
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
            body, value = protocol.decode(payload, place=_place)
        except Exception as exc:  # ProtocolError, or anything else bytes from the sandbox can provoke
            why = str(exc) if isinstance(exc, protocol.ProtocolError) else type(exc).__name__
            raise ProtocolViolation(f"{label}: invalid reply from the sandbox ({why})") from None
        if body.get("id") != rid or not isinstance(body.get("ok"), bool):
            raise ProtocolViolation(
                f"{label}: a reply out of order; something in the submission wrote to the grader's channel")
        return body, value

    def _read(self, n: int, deadline: float, label: str) -> bytes:
        chunks, got = [], 0
        while got < n:
            left = deadline - time.monotonic()
            if left <= 0:
                raise CallTimeout(f"{label} did not finish within its time limit (an endless loop?)")
            readable, _, _ = select.select([self.process.rep_r], [], [], left)
            if not readable:
                continue
            b = os.read(self.process.rep_r, min(n - got, 1 << 20))
            if not b:
                raise self._crashed(label)
            chunks.append(b)
            got += len(b)
        return b"".join(chunks)

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


@dataclass
class StartupReport:
    """What happened while the submission's code was loaded in the sandbox."""

    notes: list[str] = field(default_factory=list)
    skipped: set[int] = field(default_factory=set)  # chunk indexes that crashed or hung the worker
    failed: set[int] = field(default_factory=set)


class Student:
    """The `student` fixture: calls names of the submission in the sandbox, by value."""

    def __init__(self, submission: Submission, spec: SandboxSpec, *, call_timeout: float = 20.0,
                 total_seconds: float = 600.0, import_timeout: float = 30.0,
                 prestarted: WorkerProcess | None = None, zygote: Zygote | None = None):
        self.submission, self.spec = submission, spec
        self.call_timeout, self.import_timeout = call_timeout, import_timeout
        self.deadline = time.monotonic() + total_seconds
        self.startup = StartupReport()
        self.conn: Connection | None = None
        self.generation = 0
        self.restarts = 0
        self.info: dict = {}
        self.output = bytearray()
        self.output_total = 0
        self.worker_peak_mb = 0.0
        self.timings: dict[str, float] = {}
        self.test_deadline: float | None = None  # set per test by the suite runner
        self.infrastructure_error: str | None = None  # the sandbox itself failed: not a grade
        self.zygote = zygote  # forks workers without a new `import torch` each (batch grading)
        self.substituted: dict = {}  # fields of every request inside `with student.known_good(...)`
        self.prestarted = prestarted  # started early so its torch import overlaps the grader's

    # -- lifecycle ---------------------------------------------------------------------------
    def connection(self) -> Connection:
        started = time.monotonic()
        try:
            return self._connect()
        finally:
            # Starting (or restarting) the sandbox is the grader's time, not the current test's.
            if self.test_deadline is not None:
                self.test_deadline += time.monotonic() - started

    def _connect(self) -> Connection:
        while self.conn is None:
            if self.restarts > MAX_RESTARTS:
                raise WorkerCrashed("the sandbox crashed too many times; later calls are not run")
            self.restarts += 1
            self.generation += 1
            t = time.perf_counter()
            self.conn = self._new_connection()
            self.info = self.conn.info
            t2 = time.perf_counter()
            self._load_code()
            self.timings.setdefault("waiting for the sandbox to start", t2 - t)
            self.timings.setdefault("loading the submission in the sandbox", time.perf_counter() - t2)
        return self.conn

    def _load_code(self) -> None:
        for i, chunk in enumerate(self.submission.chunks):
            if i in self.startup.skipped:
                continue
            label = f"{chunk.filename}, line {chunk.line}"
            try:
                self.conn.request("exec", timeout=min(self.import_timeout, self._left()), label=label,
                                  code=chunk.code, filename=chunk.filename)
            except StudentError as exc:
                if i not in self.startup.failed:
                    self.startup.failed.add(i)
                    why = (missing_module(exc.message) if exc.type == "ModuleNotFoundError"
                           else f"{exc.type}: {exc.message}")
                    self.startup.notes.append(f"{label}: {why} (this statement failed when loaded)")
            except SubmissionFault as exc:
                self.startup.skipped.add(i)
                self.startup.notes.append(f"{exc}; that statement was skipped")
                self._drop()
                if self._left() <= 0:
                    raise TimeLimitReached("the submission's total time limit was reached while loading") from None
                self.conn = self._new_connection()
                self.info = self.conn.info
                return self._load_code()

    def _new_connection(self) -> Connection:
        prestarted, self.prestarted = self.prestarted, None
        try:
            process = prestarted or (self.zygote.spawn(self.spec) if self.zygote else None)
            return Connection(self.spec, process)
        except InfrastructureError as exc:
            self.infrastructure_error = str(exc)
            raise

    def _drop(self) -> None:
        if self.conn is not None:
            proc = self.conn.process
            self.conn.close()
            self.output += proc.output[: max(0, 65536 - len(self.output))]
            self.output_total += proc.output_total
            self.conn = None

    def close(self) -> None:
        if self.conn is not None:
            try:  # the worker's own peak memory, for the benchmark; untrusted, informational only
                stats = self.conn.request("stats", timeout=2, label="stats")
                self.worker_peak_mb = max(self.worker_peak_mb, float(stats.get("peak_rss_mb", 0)))
            except Exception:
                pass
        self._drop()
        if self.prestarted is not None:
            self.prestarted.kill()
            self.prestarted = None

    def _left(self) -> float:
        return self.deadline - time.monotonic()

    # -- calls ---------------------------------------------------------------------------------
    def request(self, op: str, value=None, *, label: str, timeout: float | None = None, **fields):
        left = self._left()
        if left <= 0:
            raise TimeLimitReached(f"{label} was not run: the submission's total time limit was reached")
        conn = self.connection()
        fields = {**self.substituted, **fields}
        timeout = min(timeout or self.call_timeout, self._left())
        if self.test_deadline is not None:
            test_left = self.test_deadline - time.monotonic()
            if test_left <= 0:
                raise TimeLimitReached(f"{label} was not run: this test's time limit was reached")
            timeout = min(timeout, test_left)
        try:
            return self._wrap(conn.request(op, value, timeout=timeout, label=label, **fields))
        except (WorkerCrashed, CallTimeout, ProtocolViolation):
            self._drop()  # the next call starts a fresh worker; this test fails with the reason
            raise

    def _wrap(self, value):
        if isinstance(value, protocol.Handle):
            return Remote(self, protocol.Handle(value.id, type_name(value.type)), self.generation)
        if isinstance(value, protocol.NonPlainTensor):
            return protocol.NonPlainTensor(type_name(value.type_name), value.data)
        if isinstance(value, list):
            return [self._wrap(v) for v in value]
        if isinstance(value, tuple):
            return tuple(self._wrap(v) for v in value)
        if isinstance(value, dict):
            return {k: self._wrap(v) for k, v in value.items()}
        return value

    def _unwrap(self, value):
        if isinstance(value, Remote):
            if value._generation != self.generation:
                raise WorkerCrashed(f"{value!r} was lost when the sandbox restarted after an earlier failure")
            return value._handle
        if isinstance(value, (list, tuple)):
            return type(value)(self._unwrap(v) for v in value)
        if isinstance(value, dict):
            return {k: self._unwrap(v) for k, v in value.items()}
        return value

    def call(self, name: str, *args, timeout: float | None = None, **kwargs):
        return self.request("call", self._unwrap([list(args), kwargs]), label=f"{name}()",
                            timeout=timeout, target=name)

    def trace(self, name: str, *args, timeout: float | None = None, **kwargs):
        """Call `name` and also return the torch functions it used (for from-the-formula checks)."""
        out, names, _ = self._traced(name, args, kwargs, (), timeout)
        return out, names

    def counting(self, name: str, *args, watch: tuple[str, ...], timeout: float | None = None, **kwargs):
        """Call `name` and also return how often it called each of the student's functions in `watch`."""
        out, _, counts = self._traced(name, args, kwargs, watch, timeout)
        return out, counts

    def _traced(self, name, args, kwargs, watch, timeout):
        reply = self.request("trace", self._unwrap([list(args), kwargs]), label=f"{name}()",
                             timeout=timeout, target=name, watch=list(watch))
        # What the sandbox reports (a patched worker can report anything) is checked and is only text
        # and counts.
        if not (isinstance(reply, list) and len(reply) == 3 and isinstance(reply[1], list)
                and isinstance(reply[2], dict)):
            raise SubmissionFault(f"{name}(): the sandbox sent a malformed trace")
        counts = {w: reply[2].get(w) for w in watch}
        if not all(type(c) is int and c >= 0 for c in counts.values()):
            raise SubmissionFault(f"{name}(): the sandbox sent malformed call counts")
        return reply[0], tuple(redact(n, 120) for n in reply[1] if isinstance(n, str)), counts

    def vjp(self, name: str, args, wrt, cotangent=None, *, params: bool = False, timeout=None, **kwargs):
        """Output and vector-Jacobian products of a student function (or Remote method)."""
        fields = {"target": name} if isinstance(name, str) else {"handle": name[0]._handle.id, "method": name[1]}
        label = f"{name}()" if isinstance(name, str) else f"{name[0]._handle.type}.{name[1]}()"
        return self.request("vjp", self._unwrap([list(args), kwargs, list(wrt), cotangent, params]),
                            label=f"gradient of {label}", timeout=timeout, **fields)

    def seed(self, n: int) -> None:
        self.request("seed", int(n), label="seeding")

    def mnist(self, name: str, count: int | None = None) -> "Remote":
        """A fresh copy, in the sandbox, of MNIST's `name` (its first `count` records when given)."""
        value = name if count is None else [name, int(count)]
        return self.request("mnist", value, label=f"loading MNIST {name}", timeout=60)

    @contextlib.contextmanager
    def known_good(self, *names: str, label_map: list[int] | None = None):
        """Calls made inside run with the student's functions `names` computing known-good values (so a
        check of train() or MLP.forward does not also charge a broken mle_loss or relu); with label_map,
        the known-good mle_loss scores targets[i] as label_map[targets[i]]."""
        previous = self.substituted
        self.substituted = {"known_good": list(names)}
        if label_map is not None:
            self.substituted["label_map"] = [int(v) for v in label_map]
        try:
            yield
        finally:
            self.substituted = previous

    def params(self, model: "Remote", layers: int | None, new: dict | None = None) -> tuple[dict, frozenset]:
        """The model's tensors at weights[l] and biases[l] (whatever holds them), first set to `new` in the
        model's layout when given; also the keys it stores transposed. Checked: only tensors come back."""
        reply = self.request("params", self._unwrap([model, None if layers is None else int(layers), new]),
                             label=f"{model!r}.weights / .biases")
        if not (isinstance(reply, list) and len(reply) == 2 and isinstance(reply[0], dict)
                and all(isinstance(k, str) and type(v) is torch.Tensor for k, v in reply[0].items())
                and isinstance(reply[1], list) and all(isinstance(k, str) for k in reply[1])):
            raise ProtocolViolation("the sandbox sent malformed parameters")
        return reply[0], frozenset(reply[1])

    def grader_mlp(self, weights: dict) -> "Remote":
        """The grader's own relu MLP, in the sandbox, holding `weights` (contract keys)."""
        model = self.request("grader_mlp", weights, label="building the grader's MLP")
        if not isinstance(model, Remote):
            raise ProtocolViolation("the sandbox did not build the grader's MLP")
        return model

    def same(self, a: "Remote", b: "Remote") -> bool:
        return self.request("same", self._unwrap([a, b]), label="comparing objects") is True

    def loss_log(self) -> list[int]:
        """The batch sizes the known-good mle_loss saw since the last call (counted in the sandbox)."""
        log = self.request("loss_log", label="reading the loss log")
        if not (isinstance(log, list) and all(type(n) is int and n >= 0 for n in log)):
            raise ProtocolViolation("the sandbox sent a malformed loss log")
        return log

    def names(self) -> dict:
        return self.request("names", label="listing names")

    def __getattr__(self, name: str):
        if name.startswith("_"):
            raise AttributeError(name)
        return lambda *args, timeout=None, **kwargs: self.call(name, *args, timeout=timeout, **kwargs)


class Remote:
    """An object that lives in the sandbox (a model, say); calling its methods goes by value."""

    def __init__(self, student: Student, handle: protocol.Handle, generation: int):
        self._student, self._handle, self._generation = student, handle, generation

    def __repr__(self) -> str:
        return f"<your {self._handle.type} object>"

    @property
    def type_name(self) -> str:
        return self._handle.type

    def method(self, name: str, *args, timeout: float | None = None, **kwargs):
        s = self._student
        return s.request("call", s._unwrap([list(args), kwargs]), label=f"{self._handle.type}.{name}()",
                         timeout=timeout, handle=s._unwrap(self).id, method=name)

    def __call__(self, *args, timeout=None, **kwargs):
        return self.method("__call__", *args, timeout=timeout, **kwargs)

    def __getattr__(self, name: str):
        if name.startswith("_"):
            raise AttributeError(name)
        return lambda *args, timeout=None, **kwargs: self.method(name, *args, timeout=timeout, **kwargs)
