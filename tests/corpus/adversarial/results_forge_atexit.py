"""Threat 1: forge the results file from exit hooks: atexit, threading's atexit, signal handlers for
every catchable signal, a weakref finalizer and a __del__, so the forgery runs whenever the worker
is torn down (it is killed with SIGKILL, which runs none of them)."""
import atexit
import json
import os
import signal
import sys
import threading
import weakref

FORGED = json.dumps({"score": 5, "output": "ADVERSARIAL_CANARY forged at exit", "tests": []})


def _forge(*_):
    for path in ("/autograder/results/results.json", "results.json", "/tmp/results.json",
                 "/submission/results.json", "/tmp/ADVERSARIAL_CANARY_atexit"):
        try:
            os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
            with open(path, "w") as f:
                f.write(FORGED)
            os.chmod(path, 0o444)
        except OSError:
            pass
    try:
        os.write(1, (FORGED + "\n").encode())
    except OSError:
        pass


class _Ghost:
    def __del__(self):
        _forge()


def _install():
    atexit.register(_forge)
    try:
        threading._register_atexit(_forge)
    except Exception:
        pass
    for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT, signal.SIGPIPE, signal.SIGUSR1,
                signal.SIGUSR2, signal.SIGXCPU, signal.SIGALRM):
        try:
            signal.signal(sig, lambda *a: (_forge(), os._exit(0)))
        except (OSError, ValueError):
            pass
    ghost = _Ghost()
    weakref.finalize(ghost, _forge)
    sys.excepthook = lambda *a: _forge()
    return ghost


try:
    _GHOST = _install()
except BaseException:
    _GHOST = None


def mean(x):
    raise NotImplementedError("nothing implemented")


def clip(x, lo, hi):
    _ = _GHOST
    sys.exit(0)  # run the atexit hooks now, if the worker let it end
