"""Threat 11: leave processes behind. A double-forked grandchild in its own session that ignores
SIGHUP and SIGTERM, a shell that traps them, and nohup, all running `sleep 7302.042x` (the marker),
started while loading and again in every call. The functions are wrong."""
import os
import signal
import subprocess


def _escape():
    pid = os.fork()
    if pid == 0:
        try:
            os.setsid()
            if os.fork() == 0:
                for sig in (signal.SIGHUP, signal.SIGTERM, signal.SIGINT):
                    signal.signal(sig, signal.SIG_IGN)
                os.execv("/bin/sleep", ["sleep", "7302.0427"])
        finally:
            os._exit(0)
    os.waitpid(pid, 0)
    quiet = dict(stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                 start_new_session=True)
    subprocess.Popen(["/bin/sh", "-c", "trap '' HUP TERM INT; sleep 7302.0428; sleep 1"], **quiet)
    try:
        subprocess.Popen(["nohup", "sleep", "7302.0429"], **quiet)
    except OSError:
        pass
    return True


try:
    _ESCAPED = _escape()
except BaseException:
    _ESCAPED = False


def mean(x):
    _escape()
    return x.max() + 1.0


def clip(x, lo, hi):
    _escape()
    return x
