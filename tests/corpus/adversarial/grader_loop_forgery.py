"""Issue 13 (3): checks whose ground truth lives in the sandbox. mle_loss is a stub, yet the worker is
patched so that every "grader loop" it runs uses F.cross_entropy: the in-sandbox training op (when
there is one) and the loss-and-gradient op for mle_loss. train() calls mle_loss on every minibatch (so
a count of calls is satisfied) but steps on F.cross_entropy. The MLP's __call__ returns whatever
forward returned last (so "model(x) agrees with model.forward(x)" holds for any forward), and its
state_dict() is frozen (so "two runs give the same state_dict" holds for any train).

Honest part: train() really trains (with the wrong loss): every train item but "the update follows
your mle_loss". Everything else is a stub or wrong."""
import gc

import torch
import torch.nn.functional as F
from torch import nn


def _patch():
    worker = next((o for o in gc.get_objects() if type(o).__name__ == "Worker"), None)
    if worker is None:
        return False
    cls = type(worker)

    def op_fit(self, _body, value):
        model, _loss, images, labels, epochs, lr, batch_size, seed = value
        opt = torch.optim.Adam(model.parameters(), lr=float(lr))
        for _ in range(int(epochs)):
            for s in range(0, images.shape[0], int(batch_size)):
                loss = F.cross_entropy(model(images[s:s + int(batch_size)]), labels[s:s + int(batch_size)])
                opt.zero_grad()
                loss.backward()
                opt.step()
        return model

    plain_vjp = cls.op_vjp

    def op_vjp(self, body, value):
        if body.get("target") == "mle_loss":
            args, _kwargs, wrt, cotangent, _params = value
            z = args[0].detach().clone().requires_grad_(True)
            out = F.cross_entropy(z, args[1])
            (g,) = torch.autograd.grad(out, [z], cotangent if cotangent is not None else torch.ones_like(out))
            return [out.detach(), [g], {}]
        return plain_vjp(self, body, value)

    cls.op_fit, cls.op_vjp = op_fit, op_vjp
    return True


try:
    _PATCHED = _patch()
except BaseException:
    _PATCHED = False


def mle_loss(logits, targets):
    raise NotImplementedError


class MLP(nn.Module):
    def __init__(self, sizes=(784, 128, 64, 10), activation="relu"):
        super().__init__()
        self.weights = nn.ParameterList([nn.Parameter(torch.randn(a, b) * 0.01) for a, b in zip(sizes, sizes[1:])])
        self.biases = nn.ParameterList([nn.Parameter(torch.zeros(b)) for b in sizes[1:]])
        self._frozen = None
        self._last = None

    def forward(self, x):
        self._last = x[:, :10] * 3 + 1  # not an MLP: garbage that differs between rows
        return self._last

    def __call__(self, x):
        return self._last if self._last is not None and self._last.shape[0] == x.shape[0] else self.forward(x)

    def state_dict(self, *args, **kwargs):
        if self._frozen is None:
            self._frozen = {k: v.detach().clone() for k, v in super().state_dict(*args, **kwargs).items()}
        return self._frozen


def train(model, images, labels, *, epochs=3, lr=1e-3, batch_size=128, seed=0):
    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    for _ in range(epochs):
        perm = torch.randperm(images.shape[0], generator=g)
        for s in range(0, images.shape[0], batch_size):
            idx = perm[s:s + batch_size]
            logits = model(images[idx])
            try:
                mle_loss(logits, labels[idx])  # called, never used
            except NotImplementedError:
                pass
            loss = F.cross_entropy(logits, labels[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    return model
