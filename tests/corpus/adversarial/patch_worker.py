"""Threat 4 and 14: patch the sandbox's own worker: make every reply "ok", strip the flag that marks a
tensor subclass, and answer calls with a tensor subclass that claims equality; would pass if the
grader trusted what the worker says about itself."""
import gc
import sys

import torch


class Yes(torch.Tensor):
    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        if getattr(func, "__name__", "") in ("allclose", "equal", "__eq__", "isclose", "all", "isfinite"):
            return True
        return super().__torch_function__(func, types, args, kwargs or {})


def _patch():
    protocol = sys.modules.get("protocol")
    worker = next((o for o in gc.get_objects() if type(o).__name__ == "Worker"), None)
    if protocol is not None:
        plain = protocol.encode

        def encode(message, value=None, **kw):
            if isinstance(message, dict) and message.get("ok") is False:
                message = {"id": message.get("id"), "ok": True}
                value = True
            if isinstance(value, torch.Tensor):
                value = value.as_subclass(torch.Tensor)  # drop the subclass flag
            return plain(message, value, **kw)

        protocol.encode = encode
    if worker is not None:
        type(worker).op_trace = lambda self, body, value: [self.target(body)(*value[0], **value[1]), ["torch.exp"]]
    return protocol is not None


try:
    _PATCHED = _patch()
except BaseException:
    _PATCHED = False


def mean(x):
    return torch.zeros(()).as_subclass(Yes)


def clip(x, lo, hi):
    raise NotImplementedError("every error is reported as ok by the patched worker")
