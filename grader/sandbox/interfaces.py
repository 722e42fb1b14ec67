"""The two interfaces the grader's side relies on: a running worker, and a launcher that makes one."""

from __future__ import annotations

from typing import Protocol

from grader.sandbox.spec import SandboxSpec


class Worker(Protocol):
    """A running worker as the connection sees it: `WorkerProcess` (a new sandbox), `ForkedWorker` (forked
    by the template sandbox), or a test's in-process fake. Requests go to `req_w`, replies come from
    `rep_r`; what it printed is in `output` (capped), `output_total` bytes in all."""

    level: str  # "full" or "reduced": how it is isolated
    req_w: int
    rep_r: int

    @property
    def output(self) -> bytearray: ...

    @property
    def output_total(self) -> int: ...

    def wait(self, timeout: float) -> None:
        """Wait up to timeout seconds for it to exit."""

    def kill(self) -> None:
        """Kill it and everything it started; close its pipes."""

    def exit_description(self) -> str:
        """How it ended, in words ("killed by signal SIGKILL"), or "still running"."""


class Launcher(Protocol):
    """Makes workers for one grading process without starting a new interpreter each time: the template
    sandbox (`Zygote`) in batch grading, or a test's in-process fake."""

    spec: SandboxSpec

    def usable(self, spec: SandboxSpec) -> bool:
        """Whether it can start a worker for this spec (else the grader starts a `WorkerProcess`)."""

    def spawn(self, spec: SandboxSpec) -> Worker:
        """A new worker, isolated from every other."""
