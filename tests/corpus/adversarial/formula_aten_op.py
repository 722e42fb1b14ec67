"""Threat 19: a banned built-in through the operator registry. sigmoid calls torch.ops.aten.sigmoid's
default overload through a module-level alias: right values, not from the formula (a recorder logs
`aten.sigmoid.default`, and a check that reads only the name's last part sees `default`). Honest:
sigmoid's value, stability and gradient items, not its formula item; nothing else is implemented."""
import torch

_kernel = torch.ops.aten.sigmoid.default


def sigmoid(x):
    return _kernel(x)
