"""Threat 5: exit with status 0 while the submission is loaded, first with sys.exit(0) and then with
os._exit(0), hoping a grader reads "exited cleanly" as "passed". The functions are wrong."""
import os
import sys


def mean(x):
    return x.max() + 1.0  # wrong


try:
    _A = sys.exit(0)
except ValueError:
    pass

try:
    _B = os._exit(0)
except ValueError:
    pass


def clip(x, lo, hi):
    return x  # wrong: no clipping
