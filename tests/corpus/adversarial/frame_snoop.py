"""Threat 3: read the expected value from the caller. Walk sys._getframe() up the stack, every
thread's frames (sys._current_frames) and inspect.stack(), looking for locals or globals named
expected / reference / want / ref, or anything with a mean and clip of its own; answer with it."""
import inspect
import sys
import types

import torch

NAMES = ("expected", "reference", "ref", "want", "target", "answer", "ctx")


def _snoop():
    frames = []
    f = sys._getframe()
    while f is not None:
        frames.append(f)
        f = f.f_back
    frames += list(sys._current_frames().values())
    try:
        frames += [info.frame for info in inspect.stack()]
    except Exception:
        pass
    for frame in frames:
        scopes = [frame.f_locals, frame.f_globals]
        for scope in scopes:
            for key, value in list(scope.items()):
                if key in NAMES and value is not None:
                    return key, value
                if isinstance(value, (types.ModuleType, torch.Tensor, type)) or key == "__builtins__":
                    continue  # torch.mean is no secret: only the grader's own objects count
                if getattr(value, "mean", None) is not None and getattr(value, "clip", None) is not None:
                    return key, value
    return None, None


def _answer(name, *args):
    key, found = _snoop()
    if found is None:
        raise NotImplementedError("nothing to copy in the caller's frames")
    print("LEAKED:", key, repr(found)[:500], flush=True)
    if isinstance(found, torch.Tensor):
        return found
    return getattr(found, name)(*args)


def mean(x):
    return _answer("mean", x)


def clip(x, lo, hi):
    return _answer("clip", x, lo, hi)
