"""Threat 2: read the reference solution and run it. Hunt for the reference notebook (tiny.ipynb or
any notebook under a reference_solution folder), execute its code cells, and answer with its
functions; without it, nothing works."""
import json
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


_REF = {}


def _reference():
    if "done" not in _REF:
        _REF["done"] = True
        for path in _find({"tiny.ipynb"}):
            try:
                nb = json.loads(_read(path))
                code = "\n".join("".join(c["source"]) for c in nb["cells"]
                                  if c["cell_type"] == "code" and "download" not in "".join(c["source"]))
            except Exception:
                continue
            if "BEGIN SOLUTION" in code or "reference" in path:
                print("LEAKED:", path, code[:2000], flush=True)
                ns = {}
                try:
                    exec(code, ns)
                    ns["mean"](torch.ones(2)), ns["clip"](torch.ones(2), 0.0, 1.0)  # the solution, not a stub
                except Exception:
                    continue
                _REF.update({k: v for k, v in ns.items() if k in ("mean", "clip")})
                break
    return _REF


def mean(x):
    ref = _reference()
    if "mean" not in ref:
        raise NotImplementedError("the reference was not found")
    return ref["mean"](x)


def clip(x, lo, hi):
    ref = _reference()
    if "clip" not in ref:
        raise NotImplementedError("the reference was not found")
    return ref["clip"](x, lo, hi)
