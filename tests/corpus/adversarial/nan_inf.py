"""Threat 6: non-finite results: NaN for the mean, +-inf for the clipped values (a comparison with
equal_nan or a naive `not (a != b)` would accept them)."""
import torch


def mean(x):
    return torch.tensor(float("nan"))


def clip(x, lo, hi):
    return torch.where(x > 0, torch.tensor(float("inf")), torch.tensor(float("-inf")))
