"""Threat 9: an endless loop that ignores SIGALRM, SIGTERM and SIGINT, blocks every signal it can
and catches BaseException, at import and in every call; would pass only if a timeout were in-process
and counted as success."""
import signal
import time


def _deaf():
    for sig in (signal.SIGALRM, signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGXCPU, signal.SIGVTALRM,
                signal.SIGPROF, signal.SIGUSR1):
        try:
            signal.signal(sig, signal.SIG_IGN)
        except (OSError, ValueError):
            pass
    try:
        signal.pthread_sigmask(signal.SIG_BLOCK, set(signal.Signals) - {signal.SIGKILL, signal.SIGSTOP})
    except (OSError, ValueError):
        pass


def _forever():
    _deaf()
    while True:
        try:
            while True:
                time.sleep(0.01)
        except BaseException:
            continue


def mean(x):
    _forever()


def clip(x, lo, hi):
    _forever()


try:
    _DEAF = _deaf()
    _HANG = [_forever() for _ in range(1)]
except BaseException:
    pass
