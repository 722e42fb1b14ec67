"""Threat 5: exit with status 0 from inside the graded calls: sys.exit(0) in mean, os._exit(0) in clip,
and SystemExit raised from a finally block."""
import os
import sys


def mean(x):
    try:
        raise ValueError("about to fail")
    finally:
        sys.exit(0)


def clip(x, lo, hi):
    sys.stdout.flush()
    os._exit(0)
