"""Template worker inside the sandbox: imports torch once, then forks one isolated worker per submission.

Started by grader.sandbox.Zygote under bubblewrap as root (bwrap's namespaces, no network), it
never runs student code itself. For each submission it forks a child that takes new mount, PID, IPC and
network namespaces; that child's own child is PID 1 there, mounts a fresh /tmp, /dev/shm and /proc,
sets the rlimits, drops every capability and becomes an unprivileged uid, and only then serves the
grader's requests. Killing that PID 1 kills everything the submission started. Root only: without
root the grader starts a fresh sandbox per submission instead.

Control messages (SOCK_SEQPACKET, JSON, file descriptors by SCM_RIGHTS):
  {"op": "spawn", "uid": N, "limits": {...}, "threads": T} + [request_r, reply_w, output_w, watch_r] -> {"pid": P}
  (watch_r: the read end of a pipe only the grading process holds open; when it closes, however that
  process ended, this template kills the worker: a forked worker never outlives its grader)
  {"op": "kill", "pid": P} -> {"ok": true};  {"op": "status", "pid": P} -> {"exit": code or null}
"""

from __future__ import annotations

import ctypes
import json
import os
import resource
import select
import signal
import socket
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import worker  # noqa: E402  (imports torch: the cost every forked worker then shares)

LIBC = ctypes.CDLL(None, use_errno=True)
CLONE_NEWNS, CLONE_NEWPID, CLONE_NEWIPC, CLONE_NEWNET = 0x00020000, 0x20000000, 0x08000000, 0x40000000
MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_REC, MS_PRIVATE = 2, 4, 8, 16384, 1 << 18
PR_CAPBSET_DROP, PR_SET_NO_NEW_PRIVS = 24, 38
RLIMITS = {"as": resource.RLIMIT_AS, "data": resource.RLIMIT_DATA, "cpu": resource.RLIMIT_CPU,
           "fsize": resource.RLIMIT_FSIZE, "nofile": resource.RLIMIT_NOFILE, "nproc": resource.RLIMIT_NPROC,
           "core": resource.RLIMIT_CORE}


def _check(ret: int, what: str) -> None:
    if ret != 0:
        raise OSError(ctypes.get_errno(), f"{what}: {os.strerror(ctypes.get_errno())}")


def _mount(source: bytes, target: bytes, fstype: bytes | None, flags: int, data: bytes | None) -> None:
    _check(LIBC.mount(source, target, fstype, flags, data), f"mount {target!r}")


def _become_worker(config: dict, req_fd: int, rep_fd: int, out_fd: int) -> None:
    """In the new namespaces, as PID 1: private mounts, limits, no privilege, then serve."""
    _mount(b"none", b"/", None, MS_REC | MS_PRIVATE, None)
    scratch = f"size={int(config['scratch_bytes'])},mode=1777".encode()
    _mount(b"tmpfs", b"/tmp", b"tmpfs", MS_NOSUID | MS_NODEV, scratch)
    _mount(b"tmpfs", b"/dev/shm", b"tmpfs", MS_NOSUID | MS_NODEV, b"size=1m,mode=1777")
    _mount(b"proc", b"/proc", b"proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, None)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.dup2(out_fd, 1)
    os.dup2(out_fd, 2)
    for fd in (null, out_fd):
        os.close(fd)
    for name, value in config["limits"].items():
        resource.setrlimit(RLIMITS[name], (int(value), int(value)))
    for cap in range(64):  # an empty bounding set: nothing can ever regain a capability
        LIBC.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0)
    uid = int(config["uid"])
    os.setgroups([])
    os.setresgid(uid, uid, uid)
    os.setresuid(uid, uid, uid)  # from root to a plain uid: permitted and effective caps are cleared
    _check(LIBC.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "no_new_privs")
    os.chdir("/tmp")
    worker.torch.set_num_threads(int(config["threads"]))
    req, rep = os.dup(req_fd), os.dup(rep_fd)  # dup'ed: not inherited by what the student starts
    os.close(req_fd)
    os.close(rep_fd)
    worker.Worker(req, rep).serve()


def _spawn(ctl: socket.socket, config: dict, fds: list[int]) -> int:
    req_fd, rep_fd, out_fd = fds[:3]
    watch = fds[3] if len(fds) > 3 else None
    fds = fds[:3]
    r, w = os.pipe()
    mid = os.fork()
    if mid == 0:
        code = 1
        try:
            ctl.close()
            os.close(r)
            for fd in [*WATCH.values(), watch]:  # other workers' watches (and its own) are not its business
                if fd is not None:
                    os.close(fd)
            os.setsid()
            # A network namespace of its own too: workers forked side by side must not reach each
            # other (abstract unix sockets and loopback belong to the network namespace).
            _check(LIBC.unshare(CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWNET), "unshare")
            pid = os.fork()
            if pid == 0:
                os.close(w)
                try:
                    _become_worker(config, req_fd, rep_fd, out_fd)
                finally:
                    os._exit(0)
            os.write(w, str(pid).encode())
            os.close(w)
            for fd in fds:
                os.close(fd)
            _, status = os.waitpid(pid, 0)
            code = os.waitstatus_to_exitcode(status)
            code = 128 - code if code < 0 else code  # killed by a signal: 128 + its number
        except BaseException:
            code = 125
        finally:
            os._exit(code & 0xFF)
    os.close(w)
    for fd in fds:
        os.close(fd)
    raw = os.read(r, 32)
    os.close(r)
    if not raw:
        if watch is not None:
            os.close(watch)
        raise OSError("the worker could not be set up")
    pid = int(raw)
    CHILDREN[pid] = mid
    if watch is not None:
        WATCH[pid] = watch
    return pid


CHILDREN: dict[int, int] = {}  # worker PID (as seen here) -> the middle process that waits on it
EXITS: dict[int, int] = {}
WATCH: dict[int, int] = {}  # worker PID -> the read end of its grading process's watch pipe


def _kill(pid: int) -> None:
    if pid in CHILDREN or pid in EXITS:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    fd = WATCH.pop(pid, None)
    if fd is not None:
        os.close(fd)


def _wait_for_message(ctl: socket.socket) -> None:
    """Block until a control message arrives, killing meanwhile every worker whose grading process
    went away (its watch pipe reads as closed)."""
    while True:
        ready, _, _ = select.select([ctl, *WATCH.values()], [], [])
        by_fd = {fd: pid for pid, fd in WATCH.items()}
        for fd in ready:
            if fd in by_fd:
                _kill(by_fd[fd])
        if ctl in ready:
            return


def _reap() -> None:
    while True:
        try:
            mid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if mid == 0:
            return
        for pid, m in list(CHILDREN.items()):
            if m == mid:
                EXITS[pid] = os.waitstatus_to_exitcode(status)
                del CHILDREN[pid]
                fd = WATCH.pop(pid, None)
                if fd is not None:
                    os.close(fd)


def main() -> None:
    ctl = socket.socket(fileno=int(os.environ["GRADER_ZYGOTE_FD"]))
    worker.warm_imports()  # once here, before any fork: every forked worker starts with them
    ctl.send(json.dumps({"ready": True, "torch": worker.torch.__version__}).encode())
    while True:
        try:
            _wait_for_message(ctl)
            data, fds, _, _ = socket.recv_fds(ctl, 65536, 8)
        except OSError:
            return
        if not data:
            return  # the grader went away
        _reap()
        try:
            msg = json.loads(data)
            if msg["op"] == "spawn":
                reply = {"pid": _spawn(ctl, msg, list(fds))}
            elif msg["op"] == "kill":
                _kill(int(msg["pid"]))
                reply = {"ok": True}
            elif msg["op"] == "status":
                _reap()
                reply = {"exit": EXITS.get(int(msg["pid"]))}
            else:
                reply = {"error": "unknown op"}
        except Exception as exc:
            for fd in fds:
                try:
                    os.close(fd)
                except OSError:
                    pass
            reply = {"error": f"{type(exc).__name__}: {exc}"}
        ctl.send(json.dumps(reply).encode())


if __name__ == "__main__":
    main()
