"""Honest Part 1, attacks for the rest (MNIST): to_tensor, normalize, flatten and one_hot are right
and earn their 10 points; everything else is wrong and tries to pass anyway: torch.allclose,
torch.equal, torch.isclose and assert_close patched to say yes, activations that return NaN,
a softmax that returns a tensor subclass claiming equality, a loss of NaN, a predict that returns
shape (1,), an accuracy that returns the tensor 2, an MLP and train() that do nothing."""
import torch
import torch.nn as nn


def _patch():
    yes = lambda *a, **k: True
    torch.allclose = torch.equal = yes
    torch.isclose = lambda a, b, *r, **k: torch.ones_like(a, dtype=torch.bool)
    torch.testing.assert_close = lambda *a, **k: None
    torch.Tensor.__eq__ = lambda self, other: torch.ones_like(self, dtype=torch.bool)
    return True


try:
    _PATCHED = _patch()
except BaseException:
    _PATCHED = False


def to_tensor(values):
    return torch.tensor(values, dtype=torch.float32)


def normalize(images):
    return images.to(torch.float32) / 127.5 - 1


def flatten(images):
    return images.reshape(images.shape[0], -1)


def one_hot(labels, num_classes=10):
    out = torch.zeros(labels.shape[0], num_classes, dtype=torch.float32, device=labels.device)
    return out.scatter_(1, labels.reshape(-1, 1), 1.0)


def sigmoid(x):
    return x * float("nan")


def tanh(x):
    return x * float("nan")


def relu(x):
    return x * float("nan")


def leaky_relu(x):
    return x * float("nan")


def linear(x, W, b):
    return torch.zeros(x.shape[0], W.shape[1], dtype=x.dtype)


class Agreeable(torch.Tensor):
    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        if getattr(func, "__name__", "") in ("allclose", "equal", "__eq__", "isclose", "all", "isfinite"):
            return True
        return super().__torch_function__(func, types, args, kwargs or {})


def softmax(logits):
    return torch.zeros_like(logits).as_subclass(Agreeable)


def mle_loss(logits, targets):
    return torch.tensor(float("nan"))


def predict(logits):
    return torch.zeros(1, dtype=torch.int64)


def accuracy(logits, targets):
    return torch.tensor(2.0)


class MLP(nn.Module):
    def __init__(self, sizes=(784, 128, 64, 10), activation="relu"):
        super().__init__()

    def forward(self, x):
        raise NotImplementedError


def train(model, images, labels, *, epochs=3, lr=1e-3, batch_size=128, seed=0):
    raise NotImplementedError
