"""Threat 4: monkeypatch the judge's torch: allclose, equal, isclose, all, isfinite, testing.assert_close,
Tensor.__eq__/__ne__/__sub__/abs/max, nan_to_num, so that every comparison says "equal"; the results
themselves are wrong."""
import torch
import torch.testing


def _patch():
    yes = lambda *a, **k: True
    ones = lambda a, *r, **k: torch.ones_like(a, dtype=torch.bool) if isinstance(a, torch.Tensor) else True
    torch.allclose = torch.equal = yes
    torch.isclose = torch.eq = ones
    torch.all = torch.any = yes
    torch.isfinite = ones
    torch.testing.assert_close = lambda *a, **k: None
    torch.testing.assert_allclose = lambda *a, **k: None
    zero = lambda self, *a, **k: torch.zeros((), dtype=torch.float64)
    for name in ("__eq__", "__ne__"):
        setattr(torch.Tensor, name, lambda self, other: torch.ones_like(self, dtype=torch.bool))
    torch.Tensor.__sub__ = lambda self, other: torch.zeros_like(self)
    torch.Tensor.abs = torch.Tensor.max = zero
    torch.nan_to_num = lambda a, *r, **k: torch.zeros_like(a)
    return True


try:
    _PATCHED = _patch()
except BaseException:
    _PATCHED = False


def mean(x):
    _patch()
    return torch.zeros(())


def clip(x, lo, hi):
    _patch()
    return torch.zeros_like(x)
