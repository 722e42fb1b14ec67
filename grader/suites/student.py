"""The suites' `student` object: calls the submission's names in the sandbox by value, restarting a crashed worker."""

from __future__ import annotations

import contextlib
import time
import weakref
from dataclasses import dataclass, field

import torch

from grader.errors import InfrastructureError
from grader.inside import protocol
from grader.load.submission import Submission
from grader.sandbox.connection import Connection
from grader.sandbox.faults import (
    CallTimeout,
    ProtocolViolation,
    StudentError,
    SubmissionFault,
    TimeLimitReached,
    WorkerCrashed,
    missing_module,
    place,
    redact,
    type_name,
)
from grader.sandbox.interfaces import Launcher, Worker
from grader.sandbox.spec import SandboxSpec

MAX_RESTARTS = 8


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
                 prestarted: Worker | None = None, zygote: Launcher | None = None):
        self.submission, self.spec = submission, spec
        self.cells = submission.cell_guide()
        self.call_timeout, self.import_timeout = call_timeout, import_timeout
        self.deadline = time.monotonic() + total_seconds
        self.startup = StartupReport()
        self.conn: Connection | None = None
        self.generation = 0
        self.restarts = 0
        self.info: dict = {}
        self.output = bytearray()
        self.output_total = 0
        self.shown = bytearray()  # printed while loading and in visible tests: for the student
        self.shown_total = 0
        self.showing = True
        self.worker_peak_mb = 0.0
        self.timings: dict[str, float] = {}
        self.test_deadline: float | None = None  # set per test by the suite runner
        self.infrastructure_error: str | None = None  # the sandbox itself failed: not a grade
        self.time_limit_reached = False  # the total limit stopped a call: later checks were not run
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
            _show(self.conn.process, self.showing)
            self.timings.setdefault("waiting for the sandbox to start", t2 - t)
            self.timings.setdefault("loading the submission in the sandbox", time.perf_counter() - t2)
        return self.conn

    def _load_code(self) -> None:
        for i, chunk in enumerate(self.submission.chunks):
            if i in self.startup.skipped:
                continue
            label = place(f"{chunk.filename}, line {chunk.line}", self.cells)
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
                    self.time_limit_reached = True
                    raise TimeLimitReached("the submission's total time limit was reached while loading") from None
                self.conn = self._new_connection()
                self.info = self.conn.info
                return self._load_code()

    def _new_connection(self) -> Connection:
        prestarted, self.prestarted = self.prestarted, None
        try:
            process = prestarted or (self.zygote.spawn(self.spec) if self.zygote else None)
            conn = Connection(self.spec, process)
            # The first load's prints are the student's; a restart's repeat them.
            _show(conn.process, self.generation == 1)
            return conn
        except InfrastructureError as exc:
            self.infrastructure_error = str(exc)
            raise

    def _drop(self) -> None:
        if self.conn is not None:
            proc = self.conn.process
            self.conn.close()
            self.output += proc.output[: max(0, 65536 - len(self.output))]
            self.output_total += proc.output_total
            drain = getattr(proc, "drain", None)
            if drain is not None:
                self.shown += drain.shown[: max(0, 16384 - len(self.shown))]
                self.shown_total += drain.shown_total
            self.conn = None

    def close(self) -> None:
        if self.conn is not None and self._left() > 0:
            try:  # the worker's own peak memory, for the benchmark; untrusted, informational only, and
                # asked within the submission's total time like every other request
                stats = self.conn.request("stats", timeout=min(2.0, self._left()), label="stats")
                peak = float(stats.get("peak_rss_mb", 0))
                if 0 <= peak < 1e7:
                    self.worker_peak_mb = max(self.worker_peak_mb, peak)
            except Exception:
                pass
        self._drop()
        if self.prestarted is not None:
            self.prestarted.kill()
            self.prestarted = None

    def show_output(self, showing: bool) -> None:
        """Whether what the code prints from now on is shown to the student (loading, visible tests)."""
        self.showing = showing
        if self.conn is not None:
            _show(self.conn.process, showing)

    def _left(self) -> float:
        return self.deadline - time.monotonic()

    # -- calls ---------------------------------------------------------------------------------
    def request(self, op: str, value=None, *, label: str, timeout: float | None = None, **fields):
        left = self._left()
        if left <= 0:
            self.time_limit_reached = True
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
        except StudentError as exc:
            raise exc.placed(self.cells) from None
        except (WorkerCrashed, CallTimeout, ProtocolViolation):
            self._drop()  # the next call starts a fresh worker; this test fails with the reason
            if self._left() <= 0:
                self.time_limit_reached = True
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
        """Call the student's `name`(*args, **kwargs) in the sandbox, by value.

        Args:
            name: a name the submission defines (function or class).
            args, kwargs: tensors, numbers, strings, lists, dicts and Remote handles.
            timeout: seconds for this call (default: the rubric's call_timeout_s).
        Returns: copies of plain values and tensors, or a Remote for anything else. Raises: StudentError
        (the student's own exception, worded for them), SubmissionFault (timeout, crash, bad reply).
        """
        return self.request("call", self._unwrap([list(args), kwargs]), label=f"{name}()",
                            timeout=timeout, target=name)

    def trace(self, name: str, *args, timeout: float | None = None, **kwargs):
        """Call `name` and also return what it used, for from-the-formula checks.

        Args: as call().
        Returns: (the output, a Trace: the Python functions and the ATen ops the call ran, and whether
        torch functions were switched off); the names are checked and bounded here.
        """
        reply = self.request("trace", self._unwrap([list(args), kwargs]), label=f"{name}()",
                             timeout=timeout, target=name)
        # What the sandbox reports (a patched worker can report anything) is checked and is only text
        # and a flag.
        if not (isinstance(reply, list) and len(reply) == 4 and isinstance(reply[1], list)
                and isinstance(reply[2], list) and type(reply[3]) is bool):
            raise SubmissionFault(f"{name}(): the sandbox sent a malformed trace")
        return reply[0], Trace(_names(reply[1]), _names(reply[2]), reply[3])

    def vjp(self, name: str, args, wrt, cotangent=None, *, params: bool = False, timeout=None, **kwargs):
        """Output and vector-Jacobian products of a student function (or Remote method), computed in
        the sandbox; use compare.checked_vjp, which also checks the output against a plain call.

        Args:
            name: a function's name, or (Remote, method name).
            args: the positional arguments, a list; wrt: indices of the args to differentiate.
            cotangent: the vector of the product (default: ones like the output).
            params: also the gradients of the object's parameters.
        """
        fields = {"target": name} if isinstance(name, str) else {"handle": name[0]._handle.id, "method": name[1]}
        label = f"{name}()" if isinstance(name, str) else f"{name[0]._handle.type}.{name[1]}()"
        return self.request("vjp", self._unwrap([list(args), kwargs, list(wrt), cotangent, params]),
                            label=f"gradient of {label}", timeout=timeout, **fields)

    def seed(self, n: int) -> None:
        """Seed torch's generators in the sandbox (for a check of code that draws random numbers)."""
        self.request("seed", int(n), label="seeding")

    def mnist(self, name: str, count: int | None = None) -> "Remote":
        """A fresh copy, in the sandbox, of MNIST records as one tensor (images normalised and flattened
        by the grader), as a Remote to pass to the student's code.

        Args:
            name: "train_images", "train_labels" or "test_images" (test labels never enter the sandbox).
            count: its first `count` records, when given.
        """
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

    def grad_norms(self, model: "Remote") -> dict[str, float | None]:
        """The norm of the .grad each of the model's weights and biases holds (None where there is none);
        reported by the sandbox, so for feedback only, never for a score."""
        reply = self.request("grad_norms", self._unwrap(model), label=f"{model!r} gradients")
        if not (isinstance(reply, dict) and len(reply) <= 64 and all(
                isinstance(k, str) and (v is None or type(v) is float) for k, v in reply.items())):
            raise ProtocolViolation("the sandbox sent malformed gradient norms")
        return reply

    def grader_mlp(self, weights: dict) -> "Remote":
        """The grader's own relu MLP, in the sandbox, holding `weights` (contract keys)."""
        model = self.request("grader_mlp", weights, label="building the grader's MLP")
        if not isinstance(model, Remote):
            raise ProtocolViolation("the sandbox did not build the grader's MLP")
        return model

    def same(self, a: "Remote", b: "Remote") -> bool:
        """Whether two handles name the same object in the sandbox (a method that returns self, say)."""
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


@dataclass(frozen=True)
class Trace:
    """What a traced call reported using: a claim of the sandbox, to cross-check, never a fact."""

    functions: tuple[str, ...]  # torch functions as called: "torch.exp", "torch.Tensor.__rtruediv__"
    aten: tuple[str, ...]  # the ATen ops they ran: "aten::exp", "aten::add.Tensor"
    torch_function_off: bool  # an op ran while torch functions were switched off (DisableTorchFunction)


def _names(values: list, cap: int = 1000) -> tuple[str, ...]:
    return tuple(redact(n, 120) for n in values[:cap] if isinstance(n, str))


def _show(process, showing: bool) -> None:
    """Whether the worker's output from now on is the student's (a worker without a drain shows none)."""
    drain = getattr(process, "drain", None)
    if drain is not None:
        drain.switch(showing)


class Remote:
    """An object that lives in the sandbox (a model, say); calling its methods goes by value."""

    def __init__(self, student: Student, handle: protocol.Handle, generation: int):
        self._student, self._handle, self._generation = student, handle, generation

    def __repr__(self) -> str:
        return f"<your {self._handle.type} object>"

    # No public attribute of its own: remote.<name> is the student's method <name>, whatever it is called
    # (method, type_name ...); the grader's side is call_method() and type_of().
    def __call__(self, *args, timeout=None, **kwargs):
        return call_method(self, "__call__", *args, timeout=timeout, **kwargs)

    def __getattr__(self, name: str):
        if name.startswith("_"):
            raise AttributeError(name)
        return lambda *args, timeout=None, **kwargs: call_method(self, name, *args, timeout=timeout, **kwargs)


def call_method(remote: Remote, name: str, *args, timeout: float | None = None, **kwargs):
    """Call the method `name` of an object in the sandbox, by value (as call() does for a function)."""
    s = remote._student
    return s.request("call", s._unwrap([list(args), kwargs]), label=f"{remote._handle.type}.{name}()",
                     timeout=timeout, handle=s._unwrap(remote).id, method=name)


def type_of(remote: Remote) -> str:
    """The class name of an object in the sandbox, as the sandbox reported it (bounded, for messages)."""
    return remote._handle.type


_SANDBOX_OF: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


class StudentNames:
    """The suites' `student` fixture: `student.<name>(...)` calls the submission's `<name>` by value, for
    every valid Python name (`student.fit`, `student.seed`, `student.trace` included); only dunder names
    are Python's own. The grader's operations (seeding, tracing, gradients, MNIST, known-good helpers)
    are on the `sandbox` fixture, or `sandbox_of(student)` in a helper that only has `student`.

    Args of every call: the student's own positional and keyword arguments (tensors, numbers, strings,
    lists, dicts and handles of objects in the sandbox), plus `timeout=` seconds for this call.
    Returns: plain values and tensors (copies), or a `Remote` handle for anything else (a model); an
    exception the student's code raised arrives as `StudentError`, worded for the student.
    """

    __slots__ = ("__weakref__",)  # no attribute of its own that a student's name could hide behind

    def __init__(self, sandbox: "Student"):
        _SANDBOX_OF[self] = sandbox

    def __getattr__(self, name: str):
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(name)
        sandbox = _SANDBOX_OF[self]
        return lambda *args, timeout=None, **kwargs: sandbox.call(name, *args, timeout=timeout, **kwargs)

    def __repr__(self) -> str:
        return "<the student's submission>"


def sandbox_of(student: "StudentNames | Student") -> "Student":
    """The grader's side of a `student` fixture: the object with seed, trace, vjp, mnist, known_good ..."""
    return _SANDBOX_OF[student] if isinstance(student, StudentNames) else student
