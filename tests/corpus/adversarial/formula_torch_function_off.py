"""Threat 19: the plain banned built-ins, called with torch functions switched off, so a recorder that
is a TorchFunctionMode sees nothing: tanh is torch.tanh and relu is torch.relu (through module-level
aliases) inside torch._C.DisableTorchFunction(). Honest: their value, stability and gradient items, not
their formula items; nothing else is implemented."""
import torch

_Off = torch._C.DisableTorchFunction
_tanh, _relu = torch.tanh, torch.relu


def tanh(x):
    with _Off():
        return _tanh(x)


def relu(x):
    with _Off():
        return _relu(x)
