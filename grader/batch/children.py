"""Grading children: each submission of a batch in a process of its own, forked from this warm process
(or started as a new interpreter), and what it wrote read back and checked."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import grader
from grader.batch.child import partial_path
from grader.batch.verdicts import failed_result, stopped_result, timeout_message
from grader.classrun import NEEDS_REGRADE, BatchOptions, Status, StudentSubmission
from grader.errors import ConfigError, InfrastructureError
from grader.results import GradeResult
from grader.rubric import Rubric
from grader.serialize import from_plain, outcomes_from_plain


@dataclass
class Child:
    """A grading child in flight: its process, where it writes, and its deadline."""

    key: str
    sub: StudentSubmission
    attempt: int
    proc: subprocess.Popen
    out: Path
    err: Path
    started: float
    deadline: float
    terminated_at: float = 0.0
    warned: bool = False  # announced as running far longer than the median


class Children(Protocol):
    """What the batch loop needs of whatever starts its children: ChildLauncher, or a test's stand-in."""

    timeout: float  # seconds a child may run, sandbox start and imports included

    def prepare(self) -> None:
        """Before the first start (a warm parent to fork from, say)."""

    def close(self) -> None:
        """After the last child."""

    def start(self, key: str, sub: StudentSubmission, attempt: int) -> Child:
        """A child grading sub, running or already finished."""

    def collect(self, child: Child) -> tuple[Status, GradeResult | None, str]:
        """What a finished (or stopped) child earned: status, result, message."""

    def kill(self, child: Child, sig: int) -> None:
        """Send sig to the child and everything it started."""

    def forget(self, child: Child) -> None:
        """Remove what a recorded child left behind."""


class ChildLauncher:
    """Starts grading children (forked from this warm process, or new interpreters), reads back what
    each wrote, and stops them; the batch loop's only door to processes."""

    def __init__(self, tmp: Path, rubric: Rubric, options: BatchOptions, timeout: float):
        self.tmp, self.rubric, self.options, self.timeout = tmp, rubric, options, timeout
        self.tmp.mkdir(parents=True, exist_ok=True)
        self.forking = False  # set by prepare(): children forked from this process

    def prepare(self) -> None:
        """Import the grader once here and fork each child from it, with a shared template sandbox:
        a child then pays neither for a new interpreter nor for two `import torch` (see issue 6)."""
        from grader.batch import child as batch_child
        from grader.sandbox.forked import Zygote

        if self.options.gpu != "off" or not hasattr(os, "fork"):
            return  # CUDA does not survive fork()
        from grader.pipeline import template_spec

        spec = template_spec(self.rubric, self.options.data_dir, self.options.isolation)
        # The template imports torch on one core while this process warms up on the other.
        zygote = Zygote(spec, wait=False) if Zygote.usable(spec) else None
        try:
            import torch  # noqa: F401  (imported here once, shared copy-on-write by every child)

            import grader.pipeline
            import grader.suites.runner
            from grader.load.reference import load_reference

            grader.pipeline.warm_imports()  # before any fork, with no thread: every child starts warm
            if self.rubric.reference:
                load_reference(self.rubric.reference)
            if zygote is not None:
                zygote.wait_ready()
        except BaseException:
            if zygote is not None:
                zygote.close()
            raise
        batch_child.ZYGOTE = zygote
        self.forking = True

    def close(self) -> None:
        from grader.batch import child as batch_child

        if batch_child.ZYGOTE is not None:
            batch_child.ZYGOTE.close()
            batch_child.ZYGOTE = None

    def command(self, path: Path, out_json: Path, deadline: float) -> list[str]:
        # The child stops calling the student a little before the hard deadline, so that it scores what
        # was reached itself; the kill at the deadline is the backstop.
        stop_at = deadline - min(30.0, max(3.0, 0.1 * self.timeout))
        cmd = [sys.executable, "-m", "grader.batch.child", str(path), str(self.rubric.folder), str(out_json),
               "--gpu", self.options.gpu, "--isolation", self.options.isolation, "--stop-at", f"{stop_at:.3f}"]
        return cmd + (["--data-dir", self.options.data_dir] if self.options.data_dir else [])

    def start(self, key: str, sub: StudentSubmission, attempt: int) -> Child:
        out_json, err = self.tmp / f"{key}.json", self.tmp / f"{key}.err"
        out_json.unlink(missing_ok=True)
        partial_path(out_json).unlink(missing_ok=True)
        if self.forking:
            now = time.monotonic()
            proc = ForkedChild(self.command(sub.path, out_json, now + self.timeout)[3:], err)
            return Child(key, sub, attempt, proc, out_json, err, now, now + self.timeout)
        env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "GRADER_BATCH_PARENT": str(os.getpid()),
               "PYTHONPATH": os.pathsep.join(filter(None, [str(Path(grader.__file__).parent.parent),
                                                           os.environ.get("PYTHONPATH")]))}
        try:
            with open(err, "wb") as errf:
                deadline = time.monotonic() + self.timeout
                proc = subprocess.Popen(self.command(sub.path, out_json, deadline), stdin=subprocess.DEVNULL,
                                        stdout=errf, stderr=errf, env=env, start_new_session=True)
        except OSError as exc:
            raise InfrastructureError(f"cannot start a grading process: {exc}") from None
        now = time.monotonic()
        return Child(key, sub, attempt, proc, out_json, err, now, now + self.timeout)

    def collect(self, child: Child) -> tuple[Status, GradeResult | None, str]:
        """(status, result, message); "needs regrade" for an infrastructure failure, tried again first."""
        rc = child.proc.returncode
        try:
            data = json.loads(child.out.read_text())
        except (OSError, ValueError):
            data = {}
        if child.terminated_at:
            try:
                saved = json.loads(partial_path(child.out).read_text())
                outcomes = outcomes_from_plain(saved["outcomes"])
                collected = [str(n) for n in saved["collected"]]
            except (OSError, ValueError, TypeError, KeyError):
                outcomes, collected = (), []
            why = f"grading was stopped at the time limit ({self.timeout:.0f} s)"
            result = stopped_result(child.sub, self.rubric, outcomes, collected, why, tail(child.err))
            return "timeout", result, timeout_message(result, self.timeout)
        if rc == 0 and isinstance(data.get("result"), dict):
            try:
                result = from_plain(data["result"])
            except ValueError as exc:
                return "crashed", failed_result(child.sub, self.rubric, str(exc)), str(exc)
            if result.time_limit_reached:  # stopped itself in time: the score stands, the status says why
                return "timeout", result, timeout_message(result, self.timeout)
            return ("unreadable" if result.error else "graded"), result, result.error or ""
        if rc == 3 or "config_error" in data:
            raise ConfigError(str(data.get("config_error") or tail(child.err)))
        if rc == 4 or "infrastructure_error" in data:
            return NEEDS_REGRADE, None, str(data.get("infrastructure_error") or tail(child.err, 500))
        how = f"killed by signal {signal.Signals(-rc).name}" if rc < 0 and -rc in signal.Signals._value2member_map_ \
            else f"exited with status {rc}"
        why = f"the grading process {how}"
        return "crashed", failed_result(child.sub, self.rubric, why, tail(child.err)), why

    def forget(self, child: Child) -> None:
        """Remove what a recorded child wrote: its result file, its saved outcomes, its stderr."""
        for p in (child.out, child.err, partial_path(child.out)):
            p.unlink(missing_ok=True)

    def kill(self, child: Child, sig: int) -> None:
        try:
            os.killpg(child.proc.pid, sig)
        except (ProcessLookupError, PermissionError):
            pass


class ForkedChild:
    """A grading child forked from the batch process; the subset of Popen the loop uses."""

    def __init__(self, argv: list[str], err: Path):
        from grader.batch import child as batch_child

        parent = os.getpid()
        errfd = os.open(err, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                os.setsid()  # its own process group: the loop stops it with killpg, as a Popen child
                os.dup2(errfd, 1)
                os.dup2(errfd, 2)
                os.environ["GRADER_BATCH_PARENT"] = str(parent)
                code = batch_child.main(argv)
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else 1
            except BaseException:
                import traceback

                traceback.print_exc()
            finally:
                os._exit(code)
        os.close(errfd)
        self.pid, self.returncode = pid, None

    def poll(self) -> int | None:
        if self.returncode is None:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.poll() is None:
            if deadline is not None and time.monotonic() > deadline:
                raise subprocess.TimeoutExpired("grading child", timeout)
            time.sleep(0.02)
        return self.returncode


def tail(path: Path, n: int = 4000) -> str:
    """The last n bytes of a child's stderr, as text, for staff."""
    try:
        data = path.read_bytes()
    except OSError:
        return ""
    return data[-n:].decode("utf-8", "replace")
