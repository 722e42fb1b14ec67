"""Threat 10: a gigabyte of output while loading (768 MB on stdout, 256 MB on stderr), then a little
more in every call; the grader must neither block nor hold it in memory. The functions are wrong."""
import os
import sys


def _flood(megabytes):
    line = "x" * 1023 + "\n"
    block = line * 1024
    for i in range(megabytes):
        if i % 4 == 3:
            os.write(2, block.encode())
        else:
            sys.stdout.write(block)
    sys.stdout.flush()
    return megabytes


try:
    _FLOODED = _flood(1024)
except BaseException:
    _FLOODED = 0


def mean(x):
    _flood(8)
    return x.max() + 1.0


def clip(x, lo, hi):
    _flood(8)
    return x
