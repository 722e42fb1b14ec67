"""A sandboxed worker started as a new process (bwrap, or a plain subprocess): pipes, drained output, kill."""

from __future__ import annotations

import functools
import os
import secrets
import signal
import subprocess
import threading

from grader.errors import InfrastructureError
from grader.sandbox.command import environment, set_limits, worker_command
from grader.sandbox.host import isolation_level, reduced_can_drop_root
from grader.sandbox.spec import FULL, SandboxSpec
from grader.sandbox.uids import kill_uid, sandbox_uid, tasks_of_user

OUTPUT_CAP = 64 * 1024
SHOWN_CAP = 16 * 1024
# Workers this process started and has not killed yet: a grading process that is being stopped kills
# them itself (stop_all_workers) instead of trusting the code it interrupted to reach its cleanup.
LIVE: set = set()


def stop_all_workers() -> None:
    """Kill every live worker of this process at once, without waiting (safe in a signal handler)."""
    for w in list(LIVE):
        try:
            w.stop_now()
        except Exception:
            pass


class OutputDrain:
    """Drains a worker's stdout and stderr: keeps the first OUTPUT_CAP bytes for instructors and
    reads and drops the rest, so a gigabyte of prints neither blocks the worker nor fills memory.
    What comes while showing (loading the code, visible tests) is also kept for the student."""

    def __init__(self, fd: int, mark_fd: int | None = None):
        self.output = bytearray()
        self.output_total = 0
        self.shown = bytearray()
        self.shown_total = 0
        self.showing = True
        # The switch between shown and hidden travels in the stream itself: the grader writes a marker
        # into the same pipe, after the worker's reply (which follows its flush), so each byte is
        # classified by where it is, never by when this thread happens to read it. The marker is a
        # secret of this process (the worker never sees it) and shorter than PIPE_BUF, so no write of
        # the worker's can forge it or split it.
        self._mark_fd = mark_fd
        self._marker = b"\0grader-output-switch-" + secrets.token_hex(16).encode() + b"\0"
        self._carry = b""
        self._stream = os.fdopen(fd, "rb", buffering=0)
        self._thread = threading.Thread(target=self._drain, daemon=True)
        self._thread.start()

    def switch(self, showing: bool) -> None:
        """Whether what the worker writes from now on (after its last reply) is shown to the student."""
        if self._mark_fd is None or not self._thread.is_alive():
            self.showing = showing  # no reader left to free the pipe: a blocking write could hang here
            return
        try:
            os.write(self._mark_fd, self._marker + (b"1" if showing else b"0"))
        except OSError:
            pass

    def _drain(self) -> None:
        try:
            while chunk := self._stream.read(65536):
                try:
                    self._take(chunk)
                except Exception:  # noqa: BLE001  (keep reading: a stalled pipe would block the worker and switch())
                    self._carry = b""
        except (OSError, ValueError):
            pass
        self._keep(self._carry)
        self._carry = b""

    def _take(self, chunk: bytes) -> None:
        data = self._carry + chunk
        mark = len(self._marker) + 1
        while (at := data.find(self._marker)) >= 0 and len(data) >= at + mark:
            self._keep(data[:at])
            self.showing = data[at + mark - 1:at + mark] == b"1"
            data = data[at + mark:]
        # Hold back only a tail that could be the start of a marker (whole or cut between two reads).
        hold = next((n for n in range(min(len(data), mark - 1), 0, -1) if self._marker.startswith(data[-n:])), 0)
        self._carry = data[len(data) - hold:]
        self._keep(data[:len(data) - hold])

    def _keep(self, data: bytes) -> None:
        if not data:
            return
        self.output_total += len(data)
        room = OUTPUT_CAP - len(self.output)
        if room > 0:
            self.output += data[:room]
        if self.showing:
            self.shown_total += len(data)
            self.shown += data[:max(0, SHOWN_CAP - len(self.shown))]

    def join(self) -> None:
        """Wait for the end of the stream (the grader's marker end closes first, so the end can come)."""
        if self._mark_fd is not None:
            close_quietly(self._mark_fd)
            self._mark_fd = None
        self._thread.join(timeout=2)


def describe_exit(code: int | None) -> str:
    """An exit status in words; negative or above 128 means a signal."""
    if code is None:
        return "still running"
    if code < 0 or code > 128:
        num = -code if code < 0 else code - 128
        sig = signal.Signals(num).name if num in signal.Signals._value2member_map_ else str(num)
        return f"killed by signal {sig}" + (" (memory or CPU limit?)" if sig in ("SIGKILL", "SIGXCPU") else "")
    return f"exited with status {code}"


class WorkerProcess:
    """A running sandboxed worker: request and reply pipes, captured output, and a kill switch."""

    def __init__(self, spec: SandboxSpec):
        self.level = isolation_level(spec)
        req_r, self.req_w = os.pipe()
        self.rep_r, rep_w = os.pipe()
        out_r, out_w = os.pipe()
        env = environment(spec, rep_w, self.level)
        cmd = worker_command(spec, self.level)
        nproc = spec.limits.processes + (0 if os.geteuid() == 0 else tasks_of_user())
        # Without namespaces the worker is a plain child: as root, it must not stay root (rlimits
        # on processes do not bind root, and root can rewrite the results and the grader itself).
        drop = sandbox_uid() if self.level != FULL and os.geteuid() == 0 and reduced_can_drop_root() else None
        self._uid = drop
        # The grader's own write end, for the shown/hidden markers (OutputDrain.switch); not inherited.
        mark_w = os.dup(out_w)
        try:
            self.proc = subprocess.Popen(
                cmd, stdin=req_r, stdout=out_w, stderr=out_w,
                pass_fds=(rep_w,), env=env, cwd="/", start_new_session=True,
                preexec_fn=functools.partial(set_limits, spec.limits, nproc, not spec.gpu, drop),
            )
        except OSError as exc:
            close_quietly(out_r, mark_w)
            raise InfrastructureError(f"could not start the sandbox: {exc}") from None
        finally:
            os.close(req_r)
            os.close(rep_w)
            os.close(out_w)
        self._out = OutputDrain(out_r, mark_w)
        LIVE.add(self)

    @property
    def output(self) -> bytearray:
        return self._out.output

    @property
    def output_total(self) -> int:
        return self._out.output_total

    @property
    def drain(self) -> OutputDrain:
        return self._out

    def wait(self, timeout: float) -> None:
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            pass

    def stop_now(self) -> None:
        """SIGKILL the worker and everything it started (the PID namespace dies with its init; without
        one, everything of the worker's own uid, setsid() escapees included); does not wait."""
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            self.proc.kill()
        except ProcessLookupError:
            pass
        if self._uid is not None:
            kill_uid(self._uid)

    def kill(self) -> None:
        self.stop_now()
        self.wait(10)
        close_quietly(self.req_w, self.rep_r)
        self._out.join()
        LIVE.discard(self)

    def exit_description(self) -> str:
        return describe_exit(self.proc.poll())


def close_quietly(*fds: int) -> None:
    for fd in fds:
        try:
            os.close(fd)
        except OSError:
            pass
