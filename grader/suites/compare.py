"""Checks for hidden suites: compare a student's value with the expected one and explain the difference.

Each check raises Feedback (an AssertionError) whose message a student can act on: expected vs got
shape and dtype, the largest error and where, the first NaN, and a hint when the value matches a
known mistake.
"""

from __future__ import annotations

import math

import torch

from grader.inside.protocol import NonPlainTensor
from grader.suites.student import Remote, call_method, sandbox_of, type_of


class Feedback(AssertionError):
    """A failed check, worded for the student; `hint` names a mistake the check recognised.

    Args:
        message: what is wrong, for the student (shown as is).
        hint: the recognised mistake, when there is one; the class report groups students by it. Only
            the grader raises Feedback, so a hint is never text the student wrote.
    """

    def __init__(self, message: str = "", *, hint: str = ""):
        super().__init__(message)
        self.hint = hint


def _fmt(x: float) -> str:
    return f"{x:.6g}"


def _index(flat: int, shape) -> str:
    idx = []
    for dim in reversed(list(shape)):
        idx.append(flat % dim if dim else 0)
        flat //= dim if dim else 1
    return "[" + ", ".join(map(str, reversed(idx))) + "]"


def describe(value) -> str:
    if isinstance(value, torch.Tensor):
        return f"a {str(value.dtype).replace('torch.', '')} tensor of shape {tuple(value.shape)}"
    if isinstance(value, NonPlainTensor):
        return f"a {value.type_name} (a torch.Tensor subclass)"
    if isinstance(value, Remote):
        return f"a {type_of(value)} object"
    return f"a {type(value).__name__}"


def expect_tensor(got, *, what: str, dtype: torch.dtype | None = None, shape=None, device: str | None = None):
    """got must be exactly a torch.Tensor (no subclass), with the given dtype, shape and device type.

    Args:
        got: what the student's function returned.
        what: how the student's call is named in the message ("relu(x)").
        dtype, shape, device: each checked only when given (device by type: "cpu", "cuda").
    Returns: got. Raises: Feedback, worded for the student.
    """
    if isinstance(got, NonPlainTensor):
        raise Feedback(f"{what} returned {describe(got)}; return a plain torch.Tensor")
    if type(got) is not torch.Tensor:
        raise Feedback(f"{what} should return a tensor but returned {describe(got)}")
    if shape is not None and tuple(got.shape) != tuple(shape):
        raise Feedback(f"{what}: expected shape {tuple(shape)}, got {tuple(got.shape)}")
    if dtype is not None and got.dtype != dtype:
        raise Feedback(f"{what}: expected dtype {str(dtype).replace('torch.', '')}, got "
                       f"{str(got.dtype).replace('torch.', '')}")
    if device is not None and got.device.type != torch.device(device).type:
        raise Feedback(f"{what}: the result is on {got.device.type}, expected {device} "
                       "(create tensors on the input's device)")
    return got


def max_error(got: torch.Tensor, expected: torch.Tensor) -> tuple[float, int]:
    diff = (got.double().cpu() - expected.double().cpu()).abs().reshape(-1)
    if diff.numel() == 0:
        return 0.0, 0
    diff = torch.nan_to_num(diff, nan=math.inf)
    i = int(diff.argmax())
    return float(diff[i]), i


def close(got: torch.Tensor, expected: torch.Tensor, *, rtol: float, atol: float) -> bool:
    if type(got) is not torch.Tensor or got.shape != expected.shape:
        return False
    g, e = got.double().cpu(), expected.double().cpu()
    return bool(torch.all(torch.isfinite(g) == torch.isfinite(e))) and bool(
        torch.allclose(g, e, rtol=rtol, atol=atol, equal_nan=False)) if g.numel() else True


def expect_close(got, expected: torch.Tensor, *, what: str, rtol: float = 1e-4, atol: float = 1e-5,
                 dtype: torch.dtype | None = None, device: str | None = None,
                 hints: dict[str, object] | None = None, check_dtype: bool = True) -> torch.Tensor:
    """got must equal expected within tolerance, with the same shape (no broadcasting) and dtype.

    Args:
        got: what the student's function returned.
        expected: the reference value, computed by the grader (never in the sandbox).
        what: how the student's call is named in the message ("softmax(x, dim=1)").
        rtol, atol: as torch.allclose; NaN or inf where expected is finite always fails.
        dtype: the dtype got must have, when it is not expected's; check_dtype=False skips the check.
        device: the device type got must be on, when given.
        hints: {mistake in words: its value, or a function computing it}; when got matches one, the
            message ends with "hint: <mistake>" and Feedback.hint holds it (the class report counts it).
    Returns: got. Raises: Feedback.
    """
    try:
        expect_tensor(got, what=what, device=device)
        if tuple(got.shape) != tuple(expected.shape):
            raise Feedback(f"{what}: expected shape {tuple(expected.shape)}, got {tuple(got.shape)}")
        want = dtype if dtype is not None else expected.dtype
        if check_dtype and got.dtype != want:
            raise Feedback(f"{what}: expected dtype {str(want).replace('torch.', '')}, got "
                           f"{str(got.dtype).replace('torch.', '')}")
        bad = ~torch.isfinite(got.double().cpu()) & torch.isfinite(expected.double().cpu())
        if bool(bad.any()):
            flat = int(bad.reshape(-1).nonzero()[0])
            kind = "NaN" if math.isnan(float(got.reshape(-1)[flat])) else "inf"
            raise Feedback(f"{what}: {kind} at {_index(flat, got.shape)} ({int(bad.sum())} non-finite "
                           f"values in all) where {_fmt(float(expected.reshape(-1)[flat]))} was expected; "
                           "make the formula numerically stable")
        if not close(got, expected, rtol=rtol, atol=atol):
            err, flat = max_error(got, expected)
            raise Feedback(f"{what}: wrong values: max abs error {_fmt(err)} at {_index(flat, got.shape)} "
                           f"(expected {_fmt(float(expected.reshape(-1)[flat]))}, got "
                           f"{_fmt(float(got.reshape(-1)[flat]))})")
    except Feedback as fb:
        hint = recognise(got, hints or {}, rtol=rtol, atol=atol)
        if hint:
            raise Feedback(f"{fb} — hint: {hint}", hint=hint) from None
        raise
    return got


def recognise(got, hints: dict[str, object], *, rtol: float, atol: float) -> str | None:
    """The first known mistake whose value matches what the student returned."""
    if type(got) is not torch.Tensor:
        return None
    for text, candidate in hints.items():
        try:
            value = candidate() if callable(candidate) else candidate
        except Exception:
            continue
        if isinstance(value, torch.Tensor) and close(got, value, rtol=rtol, atol=atol):
            return text
    return None


def expect_finite(got: torch.Tensor, *, what: str) -> None:
    """Every value of got must be finite.

    Args:
        got: a tensor the student's function returned (expect_tensor first).
        what: how the student's call is named in the message.
    Raises: Feedback naming the first non-finite index.
    """
    bad = ~torch.isfinite(got)
    if bool(bad.any()):
        flat = int(bad.reshape(-1).nonzero()[0])
        raise Feedback(f"{what}: non-finite value at {_index(flat, got.shape)}; subtract the max or use a "
                       "stable form of the formula")


def checked_vjp(student, target, args, *, wrt, cotangent=None, **kwargs):
    """student.vjp, with the output it reports checked against a plain call of the same function on the
    same inputs: the sandbox computes both, and a worker patched to answer gradients of another
    function (F.cross_entropy for a stub mle_loss) is caught unless its plain calls answer so too.

    Args:
        student: the `student` (or `sandbox`) fixture.
        target: a function's name, or (Remote, method name) for a method of an object in the sandbox.
        args: the positional arguments of the call, a list.
        wrt: indices of the args to differentiate with respect to.
        cotangent: the vector of the product (default: ones like the output).
        kwargs: keyword arguments of the call (params=True: also the gradients of the object's parameters).
    Returns: (output, gradients of wrt, {parameter name: gradient} when params=True).
    """
    out, grads, named = sandbox_of(student).vjp(target, args, wrt=wrt, cotangent=cotangent, **kwargs)
    if isinstance(target, str):
        plain, label = sandbox_of(student).call(target, *args), f"{target}()"
    else:
        plain, label = call_method(target[0], target[1], *args), f"{type_of(target[0])}.{target[1]}()"
    if not (type(out) is torch.Tensor and type(plain) is torch.Tensor and out.shape == plain.shape
            and out.dtype == plain.dtype and close(out, plain, rtol=1e-6, atol=1e-7)):
        raise Feedback(f"{label} gave {describe(plain)} when called, but {describe(out)} (or other values) while "
                       "its gradient was taken; a function must compute the same thing every time")
    return out, grads, named
