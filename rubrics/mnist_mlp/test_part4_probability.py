"""Part 4: probability and MLE (softmax, mle_loss, predict, accuracy)."""

import math

import pytest
import torch
import torch.nn.functional as F

from grader.suites.compare import Feedback, checked_vjp, close, describe, expect_close, expect_finite, expect_tensor
from grader.suites.student import sandbox_of

DTYPES = {"float32": torch.float32, "float64": torch.float64}
TOL = {torch.float32: dict(rtol=1e-4, atol=1e-5), torch.float64: dict(rtol=1e-9, atol=1e-10)}
# A loss is a mean of logs: a little looser in float32.
LOSS_TOL = {torch.float32: dict(rtol=1e-4, atol=1e-4), torch.float64: dict(rtol=1e-9, atol=1e-9)}
SHAPES = {"8x10": (8, 10), "1x10": (1, 10), "5x3": (5, 3), "3x4x5": (3, 4, 5), "7": (7,)}


def _dt(dtype):
    return str(dtype).replace("torch.", "")


def _right_in_general(student, reference, rng, name, dtype):
    """Whether the function is right on ordinary inputs (logits of size about 3)."""
    logits = torch.randn(6, 10, generator=rng, dtype=dtype) * 3
    args = (logits,) if name == "softmax" else (logits, torch.randint(0, 10, (6,), generator=rng))
    got = getattr(student, name)(*args)
    tol = TOL[dtype] if name == "softmax" else LOSS_TOL[dtype]
    return isinstance(got, torch.Tensor) and got.dtype == dtype and close(got, getattr(reference, name)(*args), **tol)


def _expect_stable(got, expected, *, what, tol, right_in_general):
    """Large inputs: the reference's value; a function that is wrong on ordinary inputs too fails with
    a pointer to its values check."""
    try:
        expect_close(got, expected, what=what, **tol)
    except Feedback:
        if right_in_general():
            raise
        # A property earns nothing on a function that is wrong in general (a constant is finite too).
        raise Feedback(f"{what.split('(')[0]} gives wrong values for ordinary inputs (see its values check), "
                       "so stability earns nothing here") from None


# -- softmax ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("shape", list(SHAPES.values()), ids=list(SHAPES))
@pytest.mark.parametrize("dtype", list(DTYPES.values()), ids=list(DTYPES))
def test_softmax_values(student, reference, rng, dtype, shape):
    logits = torch.randn(shape, generator=rng, dtype=dtype) * 3
    hints = {"matches softmax over dim 0; softmax runs along the last dim (dim=-1)":
             lambda: torch.softmax(logits, dim=0)}
    if logits.dim() == 3:
        hints["matches softmax over dim 1; softmax runs along the last dim (dim=-1)"] = \
            lambda: torch.softmax(logits, dim=1)
    hints["that is exp(logits) without dividing by the row sum"] = lambda: torch.exp(logits)
    hints["that is softmax(-logits): the exponent's sign is flipped"] = lambda: torch.softmax(-logits, dim=-1)
    hints["the whole tensor was normalised at once (one sum over all entries, not one per row)"] = \
        lambda: torch.exp(logits) / torch.exp(logits).sum()
    expect_close(student.softmax(logits), reference.softmax(logits),
                 what=f"softmax(logits) for logits of shape {shape} {_dt(dtype)}", hints=hints, **TOL[dtype])


def test_softmax_rows_sum_to_one(student, reference, rng):
    if not _right_in_general(student, reference, rng, "softmax", torch.float32):
        raise Feedback("softmax(logits) gives wrong values (see its values check), so positive entries and rows "
                       "summing to 1 earn nothing here (a constant 1/C has both)")
    logits = torch.randn(6, 10, generator=rng) * 5
    probs = expect_tensor(student.softmax(logits), what="softmax(logits) for logits of shape (6, 10)",
                          shape=(6, 10))
    expect_finite(probs, what="softmax(logits) for logits of shape (6, 10)")
    if not bool((probs > 0).all()):
        flat = int((probs <= 0).reshape(-1).nonzero()[0])
        raise Feedback(f"softmax(logits) for logits of shape (6, 10): the entry at [{flat // 10}, {flat % 10}] is "
                       f"{float(probs.reshape(-1)[flat]):.6g}; every probability must be positive")
    sums = probs.double().sum(dim=-1)
    if not close(sums, torch.ones(6, dtype=torch.float64), rtol=0, atol=1e-5):
        i = int((sums - 1).abs().argmax())
        hint = ""
        if close(probs.double().sum(dim=0), torch.ones(10, dtype=torch.float64), rtol=0, atol=1e-5):
            hint = " — hint: the columns sum to 1, not the rows: that is softmax over dim 0"
        raise Feedback(f"softmax(logits) for logits of shape (6, 10): row {i} sums to {float(sums[i]):.6g}; "
                       f"each row must sum to 1{hint}")


@pytest.mark.parametrize("dtype", list(DTYPES.values()), ids=list(DTYPES))
def test_softmax_large_logits(student, reference, rng, dtype):
    fixed = torch.tensor([[1e4, 0.0, -1e4, 5.0],
                          [-1e4, -1e4, -1e4 + 1, -1e4 + 2],
                          [1e4, 1e4, 1e4 - 1, -1e4],
                          [1e3, 1e3 + 0.5, 999.0, 0.0]], dtype=dtype)
    spread = (torch.rand(4, 4, generator=rng, dtype=dtype) * 2 - 1) * 1e4
    logits = torch.cat([fixed, spread])
    # float32 holds 1e4 only to about 1e-3, so a sound exp(x - logsumexp(x)) is off by up to ~1e-3 relative.
    tol = dict(rtol=2e-3, atol=1e-5) if dtype == torch.float32 else TOL[dtype]
    _expect_stable(student.softmax(logits), reference.softmax(logits),
                   what=f"softmax(logits) for logits up to ±1e4 ({_dt(dtype)}); subtract each row's max first",
                   tol=tol, right_in_general=lambda: _right_in_general(student, reference, rng, "softmax", dtype))


# -- mle_loss --------------------------------------------------------------------------------------

def _targets(rng, n, c):
    return torch.randint(0, c, (n,), generator=rng)


def _loss_hints(logits, targets, expected):
    n, c = logits.shape
    return {
        "matches the sum over the batch, not the mean": lambda: expected * n,
        "the sign is flipped: minimise the NEGATIVE log-likelihood": lambda: -expected,
        "divides by N * C instead of N (a mean over every entry)": lambda: expected / c,
        "that is -mean(softmax(logits)[i, targets[i]]): the log is missing":
            lambda: -torch.softmax(logits, -1)[torch.arange(n), targets].mean(),
        "sums -log p over every class, not only the target class":
            lambda: -torch.log_softmax(logits, -1).sum(-1).mean(),
    }


@pytest.mark.parametrize("nc", [(16, 10), (1, 10), (7, 3), (64, 10)], ids=["16x10", "1x10", "7x3", "64x10"])
@pytest.mark.parametrize("dtype", list(DTYPES.values()), ids=list(DTYPES))
def test_mle_loss_values(student, reference, rng, dtype, nc):
    n, c = nc
    logits = torch.randn(n, c, generator=rng, dtype=dtype) * 3
    targets = _targets(rng, n, c)
    expected = reference.mle_loss(logits, targets)
    expect_close(student.mle_loss(logits, targets), expected,
                 what=f"mle_loss(logits, targets) for logits of shape {tuple(logits.shape)} {_dt(dtype)} "
                      "(a scalar tensor)",
                 hints=_loss_hints(logits, targets, expected), **LOSS_TOL[dtype])


def test_mle_loss_matches_cross_entropy(student, rng):
    logits = torch.randn(32, 10, generator=rng) * 2
    targets = _targets(rng, 32, 10)
    expected = F.cross_entropy(logits, targets)
    expect_close(student.mle_loss(logits, targets), expected,
                 what="mle_loss(logits, targets) compared with the cross-entropy for a (32, 10) batch",
                 hints=_loss_hints(logits, targets, expected), **LOSS_TOL[torch.float32])


@pytest.mark.parametrize("dtype", list(DTYPES.values()), ids=list(DTYPES))
def test_mle_loss_large_logits(student, reference, rng, dtype):
    logits = (torch.rand(12, 10, generator=rng, dtype=dtype) * 2 - 1) * 1e4
    logits[0] = torch.tensor([1e4] + [-1e4] * 9, dtype=dtype)  # a confident, correct row: loss 0
    targets = _targets(rng, 12, 10)
    targets[0] = 0
    targets[1] = int(logits[1].argmin())  # the least likely class: loss about 1e4, but finite
    _expect_stable(student.mle_loss(logits, targets), reference.mle_loss(logits, targets),
                   what=f"mle_loss(logits, targets) for logits up to ±1e4 ({_dt(dtype)}); "
                        "compute log-probabilities with log-sum-exp, not log(softmax)",
                   tol=LOSS_TOL[dtype],
                   right_in_general=lambda: _right_in_general(student, reference, rng, "mle_loss", dtype))


@pytest.mark.parametrize("dtype", list(DTYPES.values()), ids=list(DTYPES))
def test_mle_loss_gradient(student, reference, rng, dtype):
    logits = torch.randn(8, 10, generator=rng, dtype=dtype) * 2
    targets = _targets(rng, 8, 10)
    cotangent = torch.tensor(1.5, dtype=dtype)
    out, (grad,), _ = checked_vjp(student, "mle_loss", [logits, targets], wrt=[0], cotangent=cotangent)
    leaf = logits.detach().clone().requires_grad_(True)
    value = reference.mle_loss(leaf, targets)
    (expected,) = torch.autograd.grad(value, leaf, cotangent)
    what = f"the gradient of mle_loss(logits, targets) with respect to logits ({_dt(dtype)})"
    if isinstance(out, torch.Tensor) and close(out, value.detach(), **LOSS_TOL[dtype]):
        expect_close(grad, expected, what=what,
                     hints={"the gradient is N times too large: the loss is a sum, not a mean": lambda: expected * 8},
                     **TOL[dtype])
    else:
        raise Feedback(f"{what}: mle_loss gives a wrong value (see its values check), so its gradient earns "
                       "nothing here")


# -- predict and accuracy --------------------------------------------------------------------------

@pytest.mark.parametrize("shape", [(8, 10), (1, 10), (3, 4, 5)], ids=["8x10", "1x10", "3x4x5"])
def test_predict_values(student, reference, rng, shape):
    logits = torch.randn(shape, generator=rng)
    expect_close(student.predict(logits), reference.predict(logits),
                 what=f"predict(logits) for logits of shape {shape} (int64 class indices)",
                 rtol=0, atol=0, dtype=torch.int64,
                 hints={"that is argmin; the prediction is the most probable class (argmax)":
                        lambda: logits.argmin(dim=-1),
                        "that is the argmax over dim 0; use the last dim": lambda: logits.argmax(dim=0)})


def _accuracy_case(rng, n, wrong):
    logits = torch.randn(n, 10, generator=rng)
    targets = logits.argmax(dim=-1)
    flip = torch.randperm(n, generator=rng)[:wrong]
    targets[flip] = (targets[flip] + 1 + torch.randint(0, 9, (wrong,), generator=rng)) % 10
    return logits, targets, (n - wrong) / n


def _accuracy(student, logits, targets):
    """accuracy(logits, targets) with a known-good predict swapped in: accuracy is defined through
    predict, whose mistakes (a keepdim, argmin) cost predict's items, not these."""
    with sandbox_of(student).known_good("predict"):
        return student.accuracy(logits, targets)


def _accuracy_feedback(got, n, wrong, expected):
    """Why a returned accuracy is not the expected fraction, or None; NaN and inf never pass."""
    if isinstance(got, torch.Tensor) and got.numel() == 1:
        got = got.item()
    if not isinstance(got, (int, float)) or isinstance(got, bool):
        return f"accuracy(logits, targets) returned {describe(got)}, expected a Python float"
    got = float(got)
    if math.isfinite(got) and abs(got - expected) <= 1e-6:
        return None
    hint = ""
    if math.isfinite(got) and abs(got - (n - wrong)) < 1e-6 and n > 1:
        hint = " — hint: that is the number of correct rows, not the fraction"
    elif math.isfinite(got) and abs(got - (1 - expected)) < 1e-6:
        hint = " — hint: that is the error rate (1 - accuracy)"
    return (f"accuracy(logits, targets) for {n} rows with {n - wrong} correct: expected {expected:.6g}, "
            f"got {got:.6g}{hint}")


@pytest.mark.parametrize("n,wrong", [(10, 3), (37, 0), (50, 50), (1, 0), (64, 5)],
                         ids=["10-3wrong", "37-0wrong", "50-50wrong", "1-0wrong", "64-5wrong"])
def test_accuracy_values(student, n, wrong, rng):
    logits, targets, expected = _accuracy_case(rng, n, wrong)
    # The type is checked by its own test; here any number will do.
    problem = _accuracy_feedback(_accuracy(student, logits, targets), n, wrong, expected)
    if problem:
        raise Feedback(problem)


def test_accuracy_returns_python_float(student, rng):
    logits, targets, expected = _accuracy_case(rng, 20, 4)
    got = _accuracy(student, logits, targets)
    if type(got) is not float:
        extra = " (use .item() to turn a one-element tensor into a Python number)" \
            if isinstance(got, torch.Tensor) else ""
        raise Feedback(f"accuracy(logits, targets) returned {describe(got)}, expected a Python float{extra}")
    if _accuracy_feedback(got, 20, 4, expected):
        raise Feedback("accuracy(logits, targets) gives wrong values (see its values check), so returning a float "
                       "earns nothing here")
