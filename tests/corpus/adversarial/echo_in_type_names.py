"""Threat 13: echo the hidden inputs through names the grader prints: return an object whose class is
named after the input values (the grader says "returned a <class> object"), and a tensor subclass
named the same way ("returned a <class> (a torch.Tensor subclass)")."""
import torch


def _name(x):
    return "V_" + "_".join(f"{a:.6f}".replace(".", "p").replace("-", "m") for a in x.tolist()[:8])


def mean(x):
    return type(_name(x), (), {})()


def clip(x, lo, hi):
    return x.clamp(lo, hi).as_subclass(type(_name(x), (torch.Tensor,), {}))
