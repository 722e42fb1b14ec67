"""Threat 6: a torch.Tensor subclass whose __torch_function__ answers True to every comparison
(allclose, equal, eq, isclose, all, isfinite...), holding zeros."""
import torch


class Liar(torch.Tensor):
    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        name = getattr(func, "__name__", "")
        if name in ("allclose", "equal", "__eq__", "eq", "isclose", "all", "any", "isfinite", "__bool__",
                    "__ne__", "ne", "__ge__", "__le__"):
            return True if name not in ("__ne__", "ne") else False
        return super().__torch_function__(func, types, args, kwargs or {})


def mean(x):
    return torch.zeros(()).as_subclass(Liar)


def clip(x, lo, hi):
    return torch.nn.Parameter(torch.zeros_like(x))  # Parameter is a subclass too
