"""Threat 6: right numbers in the wrong container: the mean as a shape-(1,) tensor (broadcasts
against the expected scalar), in float64 and as a Python float; clip in float64, with an extra
leading dimension, as int, on the meta device."""
import torch


def mean(x):
    m = x.sum() / x.shape[0]
    return {1: lambda: m.reshape(1), 5: lambda: torch.empty_like(m, device="meta"),
            100: lambda: m.double()}.get(x.shape[0], lambda: float(m))()


def clip(x, lo, hi):
    return x.clamp(lo, hi)[None]  # shape (1, N): broadcasts against the expected (N,)
