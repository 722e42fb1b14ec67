"""What this host can do: bubblewrap namespaces, or a plain subprocess (reduced isolation), and how to say so."""

from __future__ import annotations

import functools
import os
import shutil
import stat
import subprocess
import sys

from grader.errors import InfrastructureError
from grader.results import Isolation
from grader.sandbox.command import INSIDE_DIR
from grader.sandbox.spec import FULL, REDUCED, SandboxSpec


@functools.lru_cache(maxsize=None)
def bwrap_works() -> bool:
    """True when bubblewrap exists and can create the namespaces on this host."""
    exe = shutil.which("bwrap")
    if not exe:
        return False
    try:
        r = subprocess.run(
            [exe, "--ro-bind", "/", "/", "--unshare-pid", "--unshare-net", "--unshare-ipc",
             "--proc", "/proc", "--dev", "/dev", "true"],
            capture_output=True, timeout=20,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return r.returncode == 0


def isolation_level(spec: SandboxSpec) -> str:
    if spec.isolation == "none":
        return REDUCED
    if bwrap_works():
        return FULL
    if spec.isolation == "bwrap":
        raise InfrastructureError(
            "bubblewrap is required (--isolation bwrap) but cannot run here; install the Debian "
            "package 'bubblewrap' and make sure user namespaces are enabled")
    return REDUCED


def describe_isolation(level: str) -> str:
    """The isolation of isolation_of(level), in words for staff."""
    typed = isolation_of(level)
    if typed is Isolation.FULL:
        return ("full: bubblewrap sandbox (own mount, PID, network and IPC namespaces, "
                f"{'unprivileged uid, ' if os.geteuid() == 0 else ''}rlimits, no network)")
    if typed is Isolation.AS_ROOT:
        return ("REDUCED ISOLATION: no namespaces on this host, and the submission ran AS ROOT in a plain "
                "subprocess (the Python installation is not readable by other users, so it could not "
                "run as an unprivileged uid): it could read and change anything on this machine")
    who = "as an unprivileged uid " if os.geteuid() == 0 else ""
    return ("REDUCED ISOLATION: no namespaces on this host; the submission ran in a plain "
            f"subprocess {who}with rlimits only and could read files this user can read")


@functools.lru_cache(maxsize=None)
def reduced_can_drop_root() -> bool:
    """Without namespaces, as root: whether the worker can still run as an unprivileged uid, that is
    whether a uid of no group can reach and read the interpreter, the standard library, torch and
    the worker's files (a Python under /root, mode 0700, cannot be run by anyone else)."""
    import importlib.util

    torch = importlib.util.find_spec("torch")
    paths = [sys.executable, os.__file__, os.path.join(INSIDE_DIR, "worker.py"), os.path.join(INSIDE_DIR, "protocol.py")]
    paths += [torch.origin] if torch and torch.origin else []
    try:
        for path in map(os.path.realpath, paths):
            folder = os.path.dirname(path)
            while True:
                if not os.stat(folder).st_mode & stat.S_IXOTH:
                    return False
                if folder == os.path.dirname(folder):
                    break
                folder = os.path.dirname(folder)
            if not os.stat(path).st_mode & stat.S_IROTH:
                return False
        return bool(os.stat(os.path.realpath(sys.executable)).st_mode & stat.S_IXOTH)
    except OSError:
        return False


def isolation_of(level: str) -> Isolation:
    """The typed level reporters read (they never parse the sentence describe_isolation writes)."""
    if level == FULL:
        return Isolation.FULL
    if os.geteuid() == 0 and not reduced_can_drop_root():
        return Isolation.AS_ROOT
    return Isolation.REDUCED
