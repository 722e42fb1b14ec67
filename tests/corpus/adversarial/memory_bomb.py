"""Threat 10: memory bomb. Ask for a terabyte at once, then map 256 MB private blocks until refused
(untouched, so the host is spared while the limit is tested), then touch memory in 128 MB blocks
until the data limit stops it, and catch every MemoryError. "Passes" only if 64 GB were granted."""
import mmap

import torch


def _bomb():
    hoard, granted = [], 0
    for size in (2**40, 2**38, 2**36):
        try:
            hoard.append(bytearray(size))
            granted += size
        except (MemoryError, OverflowError):
            pass
    while granted < 64 * 2**30:
        try:
            hoard.append(mmap.mmap(-1, 256 * 2**20, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS))
            granted += 256 * 2**20
        except (MemoryError, OSError):
            break
    for m in hoard:
        if isinstance(m, mmap.mmap):
            m.close()
    hoard.clear()
    touched = []
    while len(touched) < 512:  # 64 GB in 128 MB blocks
        try:
            touched.append(torch.ones(2**25))
        except (MemoryError, RuntimeError):
            break
    granted = max(granted, len(touched) * 2**27)
    touched.clear()
    try:
        torch.empty(2**36)
        granted = max(granted, 2**38)
    except (MemoryError, RuntimeError):
        pass
    return granted


def mean(x):
    granted = _bomb()
    if granted >= 64 * 2**30:
        return x.sum() / x.shape[0]
    raise MemoryError(f"only {granted >> 20} MB granted")


def clip(x, lo, hi):
    granted = _bomb()
    if granted >= 64 * 2**30:
        return x.clamp(lo, hi)
    raise MemoryError(f"only {granted >> 20} MB granted")
