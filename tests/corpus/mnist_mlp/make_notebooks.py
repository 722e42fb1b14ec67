"""Build the two notebook variants of correct/ with nbformat (their cells are written out below).

    .venv/bin/python tests/corpus/mnist_mlp/make_notebooks.py     # rewrites correct/c_*.ipynb and correct/d_*.ipynb

(c) a tidy notebook in a different style: helper functions, a class-level ACTIVATIONS mapping,
    docstrings and type hints, RMSprop in train.
(d) a MESSY real notebook: %matplotlib inline, !pip install, a top-level torchvision MNIST download,
    plots, a first sigmoid via torch.sigmoid replaced by one from the formula in a later cell, a
    20-epoch top-level training run on the full data (never run at grade time: only definitions
    are), prints, torch.save at the end, a plotting cell with a syntax error, and the outputs of
    the student's own out-of-order runs (streams, a figure, an error).
tests/test_corpus.py checks that the committed notebooks are what this script writes.
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

HERE = Path(__file__).resolve().parent
CORRECT = HERE / "correct"

# -- (c) ------------------------------------------------------------------------------------------

TIDY = [
    ("markdown", "# PyTorch Tutorial I: MNIST MLP\n\nTyped helpers, a class-level activation table, docstrings."),
    ("code", '''\
from typing import Callable, Dict, Sequence

import torch
from torch import Tensor, nn'''),
    ("markdown", "## Part 1: tensors and data"),
    ("code", '''\
PIXEL_MAX: float = 255.0


def to_tensor(values: list) -> Tensor:
    """A float32 tensor from a (nested) list of numbers."""
    return torch.tensor(values, dtype=torch.float32)


def normalize(images: Tensor) -> Tensor:
    """uint8 [0, 255] -> float32 [-1, 1]."""
    half = PIXEL_MAX / 2
    return images.to(dtype=torch.float32) / half - 1.0


def flatten(images: Tensor) -> Tensor:
    """(N, 28, 28) -> (N, 784), row by row."""
    return torch.flatten(images, start_dim=1)


def one_hot(labels: Tensor, num_classes: int = 10) -> Tensor:
    """int64 (N,) -> float32 (N, num_classes)."""
    out = labels.new_zeros((labels.numel(), num_classes), dtype=torch.float32)
    out[torch.arange(labels.numel(), device=labels.device), labels] = 1.0
    return out'''),
    ("markdown", "## Part 2: activations\n\nHelpers first: |x| and exp(-|x|) never overflow."),
    ("code", '''\
def _neg_abs_exp(x: Tensor, scale: float = 1.0) -> Tensor:
    """exp(-scale * |x|), in (0, 1]."""
    return torch.exp(-scale * torch.where(x < 0, -x, x))


def sigmoid(x: Tensor) -> Tensor:
    """1 / (1 + e^-x) = exp(-log(1 + e^-x)), via logaddexp so that nothing overflows."""
    return torch.exp(-torch.logaddexp(torch.zeros_like(x), -x))


def tanh(x: Tensor) -> Tensor:
    """(e^x - e^-x) / (e^x + e^-x) = sign(x) (1 - e^-2|x|) / (1 + e^-2|x|)."""
    t = _neg_abs_exp(x, 2.0)
    return torch.copysign((1 - t) / (1 + t), x)


def relu(x: Tensor) -> Tensor:
    """max(x, 0)."""
    return torch.maximum(x, torch.zeros_like(x))


def leaky_relu(x: Tensor, slope: float = 0.1) -> Tensor:
    """max(slope * x, x) with the tutorial's slope 0.1."""
    return torch.where(x < 0, x * slope, x)'''),
    ("markdown", "## Part 3: layers"),
    ("code", '''\
def linear(x: Tensor, W: Tensor, b: Tensor) -> Tensor:
    """x @ W + b: row i is W^T x_i + b."""
    return x.matmul(W).add(b)


def _init_layer(d_in: int, d_out: int) -> tuple:
    bound = d_in ** -0.5
    W = (torch.rand(d_in, d_out) * 2 - 1) * bound
    b = (torch.rand(d_out) * 2 - 1) * bound
    return nn.Parameter(W), nn.Parameter(b)


class MLP(nn.Module):
    """A multi-layer perceptron with one activation between the layers."""

    ACTIVATIONS: Dict[str, Callable[[Tensor], Tensor]] = {
        "sigmoid": sigmoid, "tanh": tanh, "relu": relu, "leaky_relu": leaky_relu,
    }

    def __init__(self, sizes: Sequence[int] = (784, 128, 64, 10), activation: str = "relu") -> None:
        super().__init__()
        self.act_fn = self.ACTIVATIONS[activation]
        layers = [_init_layer(a, b) for a, b in zip(sizes[:-1], sizes[1:])]
        self.weights = nn.ParameterList([W for W, _ in layers])
        self.biases = nn.ParameterList([b for _, b in layers])

    def forward(self, x: Tensor) -> Tensor:
        """Logits: no activation after the last layer."""
        *hidden, last = range(len(self.weights))
        for l in hidden:
            x = self.act_fn(linear(x, self.weights[l], self.biases[l]))
        return linear(x, self.weights[last], self.biases[last])'''),
    ("markdown", "## Part 4: probability and MLE"),
    ("code", '''\
def _log_softmax(logits: Tensor) -> Tensor:
    """log softmax via the max trick: t - max - log(sum(exp(t - max)))."""
    shifted = logits - logits.amax(dim=-1, keepdim=True)
    return shifted - shifted.exp().sum(dim=-1, keepdim=True).log()


def softmax(logits: Tensor) -> Tensor:
    """Probabilities along the last dim."""
    shifted = logits - logits.amax(dim=-1, keepdim=True)
    exps = shifted.exp()
    return exps / exps.sum(dim=-1, keepdim=True)


def mle_loss(logits: Tensor, targets: Tensor) -> Tensor:
    """Mean negative log-likelihood of the targets."""
    picked = torch.take_along_dim(_log_softmax(logits), targets[:, None], dim=-1)
    return -picked.mean()


def predict(logits: Tensor) -> Tensor:
    """Most probable class (int64)."""
    return torch.argmax(logits, dim=-1)


def accuracy(logits: Tensor, targets: Tensor) -> float:
    """Fraction of correct predictions, as a Python float."""
    return (predict(logits) == targets).double().mean().item()'''),
    ("markdown", "## Part 5: training"),
    ("code", '''\
def _batches(n: int, batch_size: int, device: torch.device):
    """Shuffled index batches from the global RNG (seeded by the caller)."""
    order = torch.randperm(n).to(device)
    return torch.split(order, batch_size)


def train(model: nn.Module, images: Tensor, labels: Tensor, *, epochs: int = 3, lr: float = 1e-3,
          batch_size: int = 128, seed: int = 0) -> nn.Module:
    """Minibatch maximum likelihood with RMSprop; deterministic for a given seed."""
    torch.manual_seed(seed)
    optimizer = torch.optim.RMSprop(model.parameters(), lr=lr)
    for _ in range(epochs):
        for idx in _batches(images.shape[0], batch_size, images.device):
            optimizer.zero_grad()
            mle_loss(model(images[idx]), labels[idx]).backward()
            optimizer.step()
    return model'''),
]

# -- (d) ------------------------------------------------------------------------------------------

MESSY = [
    ("markdown", "# HW1 - MNIST\nName: ...  \n(sorry it's messy, I ran stuff out of order)"),
    ("code", '''\
%matplotlib inline
!pip install torch torchvision matplotlib
import torch
import torchvision
import numpy as np
import matplotlib.pyplot as plt
import torch.nn as nn
import torch.nn.functional as F
print(torch.__version__)'''),
    ("code", '''\
train_set = torchvision.datasets.MNIST('./data', train=True, download=True)
test_set = torchvision.datasets.MNIST('./data', train=False, download=True)
print(len(train_set), len(test_set))
device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
device'''),
    ("code", '''\
fig, axes = plt.subplots(2, 5, figsize=(10, 4))
for i, ax in enumerate(axes.flat):
    ax.imshow(train_set.data[i], cmap="gray")
    ax.set_title(int(train_set.targets[i]))
    ax.axis("off")
plt.show()'''),
    ("markdown", "## Part 1"),
    ("code", '''\
def to_tensor(values):
    return torch.FloatTensor(values)

def normalize(images):
    x = images.float()
    x = x / 255.      # 0..1
    x = x * 2 - 1     # -1..1
    return x

def flatten(images):
    return images.reshape(-1, 28*28)

def one_hot(labels, num_classes = 10):
    y = torch.zeros(len(labels), num_classes, device=labels.device)
    for i in range(len(labels)):
        y[i, labels[i]] = 1
    return y

X = flatten(normalize(train_set.data))
print(X.shape, X.min(), X.max())
one_hot(train_set.targets[:5])'''),
    ("markdown", "## Part 2 activations"),
    ("code", '''\
def sigmoid(x):
    return torch.sigmoid(x)   # TODO do it from the formula

def tanh(x):
    # stable version: only ever exp of a negative number
    ax = torch.abs(x)
    t = torch.exp(-2*ax)
    return torch.sign(x) * (1-t)/(1+t)

def relu(x):
    return torch.clamp(x, min=0)

def leaky_relu(x):
    return torch.where(x > 0, x, 0.1*x)'''),
    ("code", '''\
# fixed sigmoid (from the formula now)
def sigmoid(x):
    z = torch.exp(-torch.abs(x))
    return torch.where(x >= 0, 1/(1+z), z/(1+z))

print(sigmoid(torch.tensor([-10000., 0., 10000.])))
print(tanh(torch.tensor([-10000., 0., 10000.])))'''),
    ("code", '''\
xs = torch.linspace(-5, 5, 200)
for f in [sigmoid, tanh, relu, leaky_relu]:
    plt.plot(xs, f(xs), label=f.__name__)
plt.legend()
plt.grid()
print("hi"
plt.show()'''),
    ("markdown", "## Part 3"),
    ("code", '''\
def linear(x, W, b):
    return x @ W + b

acts = {'sigmoid': sigmoid, 'tanh': tanh, 'relu': relu, 'leaky_relu': leaky_relu}

class MLP(nn.Module):
    def __init__(self, sizes=(784, 128, 64, 10), activation="relu"):
        super().__init__()
        self.f = acts[activation]
        self.weights = nn.ParameterList()
        self.biases = nn.ParameterList()
        for i in range(len(sizes)-1):
            k = 1/np.sqrt(sizes[i])
            self.weights.append(nn.Parameter(torch.empty(sizes[i], sizes[i+1]).uniform_(-k, k)))
            self.biases.append(nn.Parameter(torch.empty(sizes[i+1]).uniform_(-k, k)))

    def forward(self, x):
        for i in range(len(self.weights)):
            x = linear(x, self.weights[i], self.biases[i])
            if i != len(self.weights)-1:
                x = self.f(x)
        return x

m = MLP()
print(m)
print(m(torch.randn(3, 784)).shape)'''),
    ("markdown", "## Part 4"),
    ("code", '''\
def softmax(logits):
    m = logits.max(dim=-1, keepdim=True)[0]
    e = torch.exp(logits - m)
    return e / e.sum(dim=-1, keepdim=True)

def mle_loss(logits, targets):
    m = logits.max(dim=-1, keepdim=True)[0]
    lse = m.squeeze(-1) + torch.log(torch.exp(logits - m).sum(dim=-1))
    return (lse - logits[torch.arange(len(targets), device=logits.device), targets]).mean()

def predict(logits):
    return logits.argmax(-1)

def accuracy(logits, targets):
    return (predict(logits) == targets).sum().item() / targets.shape[0]

# compare with pytorch
l = torch.randn(4, 10); t = torch.tensor([1, 2, 3, 4])
print(mle_loss(l, t), F.cross_entropy(l, t))
print(softmax(l).sum(1))'''),
    ("markdown", "## Part 5 training!!"),
    ("code", '''\
def train(model, images, labels, *, epochs=3, lr=1e-3, batch_size=128, seed=0):
    torch.manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    N = images.shape[0]
    losses = []
    for ep in range(epochs):
        perm = torch.randperm(N, device=images.device)
        for i in range(0, N, batch_size):
            b = perm[i:i+batch_size]
            out = model(images[b])
            loss = mle_loss(out, labels[b])
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(loss.item())
        print("epoch", ep, "loss", np.mean(losses[-100:]))
    model.losses = losses
    return model'''),
    ("code", '''\
X_train = flatten(normalize(train_set.data)).to(device)
y_train = train_set.targets.to(device)
X_test = flatten(normalize(test_set.data)).to(device)
y_test = test_set.targets.to(device)

model = MLP().to(device)
model = train(model, X_train, y_train, epochs=20, lr=1e-3)
with torch.no_grad():
    print("test accuracy:", accuracy(model(X_test), y_test))'''),
    ("code", '''\
plt.plot(model.losses)
plt.yscale("log")
plt.xlabel("step"); plt.ylabel("loss")
plt.show()

for act in ["sigmoid", "tanh", "leaky_relu"]:
    m2 = train(MLP(activation=act).to(device), X_train, y_train, epochs=5)
    with torch.no_grad():
        print(act, accuracy(m2(X_test), y_test))'''),
    ("code", "torch.save(model.state_dict(), 'model.pt')\nprint('saved')"),
]

# What the saved notebook shows from the student's own (out-of-order) runs: cell index -> (count, outputs).
_PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="


def _stream(text):
    return new_output("stream", name="stdout", text=text)


def _figure(label):
    return new_output("display_data", data={"image/png": _PNG, "text/plain": label})


MESSY_RUNS = {
    1: (1, [_stream("Requirement already satisfied: torch in /usr/local/lib/python3.10/dist-packages (2.5.1+cu121)\n"
                    "Requirement already satisfied: torchvision in /usr/local/lib/python3.10/dist-packages (0.20.1+cu121)\n"),
            _stream("2.5.1+cu121\n")]),
    2: (2, [_stream("60000 10000\n"),
            new_output("execute_result", data={"text/plain": "device(type='cuda')"}, execution_count=2)]),
    3: (3, [_figure("<Figure size 1000x400 with 10 Axes>")]),
    5: (4, [_stream("torch.Size([60000, 784]) tensor(-1.) tensor(1.)\n")]),
    7: (5, []),
    8: (11, [_stream("tensor([0.0000, 0.5000, 1.0000])\ntensor([-1.,  0.,  1.])\n")]),
    9: (12, [new_output("error", ename="SyntaxError", evalue="'(' was never closed (3001923371.py, line 6)",
                        traceback=["  Cell In[12], line 6", '    print("hi"', "         ^",
                                   "SyntaxError: '(' was never closed"])]),
    11: (6, [_stream("MLP(\n  (weights): ParameterList(...)\n  (biases): ParameterList(...)\n)\n"
                     "torch.Size([3, 10])\n")]),
    13: (7, [_stream("tensor(2.4516) tensor(2.4516)\ntensor([1.0000, 1.0000, 1.0000, 1.0000])\n")]),
    15: (8, []),
    16: (9, [_stream("".join(f"epoch {e} loss {0.35 / (e + 1):.6f}\n" for e in range(20))
                     + "test accuracy: 0.9794\n")]),
    18: (10, [_stream("saved\n")]),
}


def _notebook(cells, runs=None) -> nbformat.NotebookNode:
    nb = new_notebook()
    nb.metadata = {"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
                   "language_info": {"name": "python"}}
    for i, (kind, source) in enumerate(cells):
        cell = new_markdown_cell(source) if kind == "markdown" else new_code_cell(source)
        if runs and i in runs:
            cell.execution_count, cell.outputs = runs[i]
        cell.id = f"cell-{i}"  # stable ids: the file only changes when a cell does
        nb.cells.append(cell)
    return nb


NOTEBOOKS = {"c_typed_helpers.ipynb": (TIDY, None), "d_messy_real_notebook.ipynb": (MESSY, MESSY_RUNS)}


def render(name: str) -> str:
    return nbformat.writes(_notebook(*NOTEBOOKS[name]), version=4)


def main() -> None:
    CORRECT.mkdir(exist_ok=True)
    for name in NOTEBOOKS:
        (CORRECT / name).write_text(render(name))
        print(CORRECT / name)


if __name__ == "__main__":
    sys.exit(main())
