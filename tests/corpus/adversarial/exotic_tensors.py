"""Threat 6 and 14: tensors the by-value protocol must refuse or copy safely: sparse, complex,
quantized, nested, a huge expanded view (stride 0), requires_grad, conjugate and negative views."""
import torch


def mean(x):
    n = x.shape[0]
    if n == 1:
        return torch.zeros(3).to_sparse()
    if n == 5:
        return torch.zeros((), dtype=torch.complex64)
    return torch.quantize_per_tensor(torch.zeros(()), 0.1, 0, torch.qint8)


def clip(x, lo, hi):
    try:
        return torch.nested.nested_tensor([torch.zeros(2), torch.zeros(3)])
    except Exception:
        return torch.zeros(1).expand(2**40)  # a terabyte-sized view of one number
