"""In-process stand-ins for the sandbox, for fast tests of scoring, suites and reporters: the REAL worker
code (grader/inside/worker.py) serves the real protocol over pipes, in a thread of the test process.
No bubblewrap, no new interpreter, no second `import torch`; trusted test code only (nothing is isolated).
"""

from __future__ import annotations

import importlib
import os
import sys
import threading

from grader.sandbox.command import INSIDE_DIR
from grader.sandbox.spec import SandboxSpec


def _worker_module():
    # The worker imports its sibling `protocol` by plain name, as it does inside the sandbox.
    if INSIDE_DIR not in sys.path:
        sys.path.append(INSIDE_DIR)
    return importlib.import_module("worker")


class InProcessWorker:
    """A worker served by a thread: satisfies grader.sandbox.interfaces.Worker."""

    level = "in-process (tests only)"

    def __init__(self):
        req_r, self.req_w = os.pipe()
        self.rep_r, rep_w = os.pipe()
        self._fds = (req_r, rep_w)
        worker = _worker_module()
        self._thread = threading.Thread(target=worker.Worker(req_r, rep_w).serve, daemon=True)
        self._thread.start()
        self.output, self.output_total = bytearray(), 0
        self._killed = False

    def wait(self, timeout: float) -> None:
        self._thread.join(timeout)

    def kill(self) -> None:
        if self._killed:
            return
        self._killed = True
        for fd in (self.req_w, self.rep_r):  # EOF on its requests ends the serving thread
            try:
                os.close(fd)
            except OSError:
                pass
        self._thread.join(5)
        for fd in self._fds:
            try:
                os.close(fd)
            except OSError:
                pass

    def exit_description(self) -> str:
        return "still running" if self._thread.is_alive() else "exited with status 0"


class InProcessLauncher:
    """Hands pipeline.grade() in-process workers: satisfies grader.sandbox.interfaces.Launcher."""

    def __init__(self, spec: SandboxSpec | None = None):
        self.spec = spec or SandboxSpec()
        self.spawned = 0

    def usable(self, spec: SandboxSpec) -> bool:
        return True

    def spawn(self, spec: SandboxSpec) -> InProcessWorker:
        self.spawned += 1
        return InProcessWorker()


class _Finished:
    """The part of Popen the batch loop uses, for a child that has already exited."""

    def __init__(self, returncode: int):
        self.returncode, self.pid = returncode, None

    def poll(self) -> int:
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        return self.returncode


def in_process_child_launcher(tmp, rubric, options, *, on_start=None):
    """A grader.batch.children.ChildLauncher whose children are graded in this process (real worker code,
    through InProcessLauncher) and have exited by the time start() returns: the batch loop, journal,
    student files and signals, with no process started. on_start(key, sub, attempt) runs first."""
    import json
    import time

    from grader.batch.children import Child, ChildLauncher
    from grader.pipeline import GradeOptions, grade
    from grader.serialize import to_plain

    class InProcessChildLauncher(ChildLauncher):
        def prepare(self) -> None:
            pass

        def kill(self, child, sig) -> None:
            pass

        def start(self, key, sub, attempt):
            if on_start is not None:
                on_start(key, sub, attempt)
            out, err = self.tmp / f"{key}.json", self.tmp / f"{key}.err"
            result = grade(sub.path, self.rubric, GradeOptions(threads=1, gpu="off"), zygote=InProcessLauncher())
            out.write_text(json.dumps({"result": to_plain(result)}))
            err.write_bytes(b"")
            now = time.monotonic()
            return Child(key, sub, attempt, _Finished(0), out, err, now, now + self.timeout)

    return InProcessChildLauncher(tmp, rubric, options, 60.0)
