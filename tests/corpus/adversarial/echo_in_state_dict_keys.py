"""Threat 13 (MNIST): echo hidden inputs through strings a hidden test prints. sigmoid() keeps the
inputs it is called with (then fails); every MLP's state_dict() then holds one extra key spelling
those inputs, which a check listing "unexpected keys" would print. What it tried to echo is printed
for the instructors as ECHO: [...], so the test can look for exactly that in the feedback."""
import json

import torch
import torch.nn as nn

_SEEN = []


def sigmoid(x):
    _SEEN.append(x.reshape(-1)[:6].tolist())
    raise NotImplementedError


def _spelled():
    if not _SEEN:
        return []
    return [f"{v:.6f}" for v in _SEEN[-1]]


class MLP(nn.Module):
    def __init__(self, sizes=(784, 128, 64, 10), activation="relu"):
        super().__init__()
        self.sizes = sizes

    def state_dict(self, *args, **kwargs):
        words = _spelled()
        print("ECHO:", json.dumps(words + [w.replace(".", "p").replace("-", "m") for w in words]))
        state = {}
        for l, (a, b) in enumerate(zip(self.sizes[:-1], self.sizes[1:])):
            state[f"weights.{l}"] = torch.zeros(a, b)
            state[f"biases.{l}"] = torch.zeros(b)
        state[" ".join(words) or "nothing"] = torch.zeros(1)
        state["_".join(w.replace(".", "p").replace("-", "m") for w in words) or "nothing2"] = torch.zeros(1)
        return state

    def forward(self, x):
        raise NotImplementedError


def train(model, images, labels, *, epochs=3, lr=1e-3, batch_size=128, seed=0):
    raise NotImplementedError


def to_tensor(values):
    raise NotImplementedError


def normalize(images):
    raise NotImplementedError


def flatten(images):
    raise NotImplementedError


def one_hot(labels, num_classes=10):
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
