"""The template sandbox (zygote) client: workers forked from a sandbox that has torch imported already."""

from __future__ import annotations

import fcntl
import functools
import json
import os
import signal
import socket
import subprocess
import tempfile
import threading
import time

from grader.errors import InfrastructureError
from grader.sandbox.command import environment, set_limits, worker_command
from grader.sandbox.host import isolation_level
from grader.sandbox.process import (
    LIVE,
    OutputDrain,
    WorkerProcess,
    close_quietly,
    describe_exit,
)
from grader.sandbox.spec import FULL, SandboxSpec
from grader.sandbox.uids import sandbox_uid


class Zygote:
    """A sandbox holding a template worker with torch imported; forks a fresh worker per submission.

    The forked worker gets its own PID, mount and IPC namespaces, /tmp, /dev/shm and /proc, an
    unprivileged uid, no capabilities and the same rlimits as a fresh sandbox (grader/inside/zygote.py),
    without paying for a new interpreter and `import torch`. Needs root; callers check `usable`.
    """

    def __init__(self, spec: SandboxSpec, *, wait: bool = True):
        """Start the template; with wait=False the caller does other work and then calls wait_ready()."""
        self.spec = spec
        self.level = FULL
        self._lock = threading.Lock()
        fd, self._lockfile = tempfile.mkstemp(prefix="grader-zygote-", suffix=".lock")
        os.close(fd)
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.ctl = ours
        env = environment(spec, 0, FULL)
        env["GRADER_ZYGOTE_FD"] = str(theirs.fileno())
        cmd = worker_command(spec, FULL, zygote=True)
        out_r, out_w = os.pipe()
        try:
            self.proc = subprocess.Popen(
                cmd, stdin=subprocess.DEVNULL, stdout=out_w, stderr=out_w, pass_fds=(theirs.fileno(),),
                env=env, cwd="/", start_new_session=True,
                preexec_fn=functools.partial(set_limits, spec.limits, spec.limits.processes, True))
        except OSError as exc:
            raise InfrastructureError(f"could not start the sandbox template: {exc}") from None
        finally:
            theirs.close()
            os.close(out_w)
        self._out = OutputDrain(out_r)
        self._ready = False
        if wait:
            self.wait_ready()

    def wait_ready(self) -> None:
        """Block until the template has imported torch and says it is ready (once)."""
        if self._ready:
            return
        self.ctl.settimeout(120)
        try:
            hello = json.loads(self.ctl.recv(65536) or b"{}")
        except (OSError, ValueError):
            hello = {}
        if not hello.get("ready"):
            self.close()
            tail = bytes(self._out.output[-2000:]).decode("utf-8", "replace")
            raise InfrastructureError(f"the sandbox template did not start\n{tail}")
        self.ctl.settimeout(30)
        self._ready = True

    @staticmethod
    def usable(spec: SandboxSpec) -> bool:
        """Forking needs root (to set up each worker's namespaces) and plain CPU work."""
        return os.geteuid() == 0 and not spec.gpu and not spec.submission_dir and isolation_level(spec) == FULL

    def call(self, message: dict, fds: list[int] = ()) -> dict:
        # Forked grading processes of a batch share this socket: a file lock keeps each request and
        # its reply together across processes, the thread lock within one.
        with self._lock, open(self._lockfile, "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                socket.send_fds(self.ctl, [json.dumps(message).encode()], list(fds))
                reply = json.loads(self.ctl.recv(65536) or b"{}")
            except (OSError, ValueError) as exc:
                raise InfrastructureError(f"the sandbox template stopped answering: {exc}") from None
        if "error" in reply:
            raise InfrastructureError(f"the sandbox template failed: {reply['error']}")
        return reply

    def spawn(self, spec: SandboxSpec) -> "ForkedWorker":
        return ForkedWorker(self, spec)

    def close(self) -> None:
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
        self.ctl.close()
        self._out.join()
        try:
            os.unlink(self._lockfile)
        except OSError:
            pass


class ForkedWorker:
    """A worker forked by the Zygote: the same interface as WorkerProcess."""

    def __init__(self, zygote: Zygote, spec: SandboxSpec):
        self.zygote, self.level = zygote, FULL
        req_r, self.req_w = os.pipe()
        self.rep_r, rep_w = os.pipe()
        out_r, out_w = os.pipe()
        limits = spec.limits
        mb = 1024 * 1024
        config = {
            "op": "spawn", "uid": sandbox_uid(), "threads": limits.threads,
            "scratch_bytes": limits.scratch_mb * mb,
            "limits": {"as": limits.address_space_mb * mb, "data": limits.data_mb * mb,
                       "cpu": limits.cpu_seconds, "fsize": limits.file_mb * mb, "nofile": limits.open_files,
                       "nproc": limits.processes, "core": 0},
        }
        # Only this process holds the watch pipe's write end: when it is closed (kill(), or this
        # process ending in any way, SIGKILL included), the template kills the worker.
        watch_r, self._watch = os.pipe()
        mark_w = os.dup(out_w)  # the grader's own write end, for the shown/hidden markers
        try:
            self.pid = int(zygote.call(config, [req_r, rep_w, out_w, watch_r])["pid"])
        except BaseException:
            close_quietly(self._watch, mark_w, out_r)
            raise
        finally:
            close_quietly(req_r, rep_w, out_w, watch_r)
        self._out = OutputDrain(out_r, mark_w)
        self._exit: int | None = None
        LIVE.add(self)

    output = WorkerProcess.output
    output_total = WorkerProcess.output_total
    drain = WorkerProcess.drain

    def wait(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while self._status() is None and time.monotonic() < deadline:
            time.sleep(0.05)

    def _status(self) -> int | None:
        if self._exit is None:
            try:
                self._exit = self.zygote.call({"op": "status", "pid": self.pid}).get("exit")
            except InfrastructureError:
                return None
        return self._exit

    def stop_now(self) -> None:
        """Kill without waiting or asking the template (safe in a signal handler): closing the watch
        pipe is the request."""
        close_quietly(self._watch)

    def kill(self) -> None:
        self.stop_now()
        try:
            self.zygote.call({"op": "kill", "pid": self.pid})
        except InfrastructureError:
            pass
        self.wait(5)
        close_quietly(self.req_w, self.rep_r)
        self._out.join()
        LIVE.discard(self)

    def exit_description(self) -> str:
        return describe_exit(self._status())
