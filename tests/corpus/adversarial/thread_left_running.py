"""Threat 11: a background thread that keeps running after the call returns: non-daemon, starting a
`sleep 7303.0427` (the marker) every half second and printing, and a second one spinning on the CPU.
The functions are wrong."""
import subprocess
import threading
import time


def _haunt():
    while True:
        try:
            subprocess.Popen(["sleep", "7303.0427"], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
            print("still here")
        except BaseException:
            pass
        time.sleep(0.5)


def _spin():
    while True:
        try:
            sum(range(10000))
        except BaseException:
            pass


def _start():
    threading.Thread(target=_haunt, daemon=False, name="haunt").start()
    threading.Thread(target=_spin, daemon=True, name="spin").start()
    return True


try:
    _STARTED = _start()
except BaseException:
    _STARTED = False


def mean(x):
    return x.max() + 1.0


def clip(x, lo, hi):
    return x
