"""Backward passes by hand: each gradient against autograd's, then that autograd did not compute it."""

import ast

import pytest
import torch
import torch.nn.functional as F

from grader.sandbox.faults import StudentError
from grader.suites.compare import Feedback, expect_close

TOL = {torch.float32: dict(rtol=1e-4, atol=1e-6), torch.float64: dict(rtol=1e-7, atol=1e-10)}
FORWARD = {
    "sigmoid": torch.sigmoid,
    "tanh": torch.tanh,
    "relu": torch.relu,
    "leaky_relu": lambda x: F.leaky_relu(x, 0.01),
}


def autograd_vjp(fn, inputs, cotangent):
    """What autograd says: the vector-Jacobian products of fn at inputs, in the grader process."""
    inputs = [t.detach().clone().requires_grad_(True) for t in inputs]
    return torch.autograd.grad(fn(*inputs), inputs, cotangent)


def _linear_case(rng, shape, dtype):
    n, d_in, d_out = shape
    x = torch.randn(n, d_in, generator=rng, dtype=dtype)
    W = torch.randn(d_in, d_out, generator=rng, dtype=dtype)
    b = torch.randn(d_out, generator=rng, dtype=dtype)
    g = torch.randn(n, d_out, generator=rng, dtype=dtype)
    return x, W, b, g


def _three(got, what):
    if not (isinstance(got, (tuple, list)) and len(got) == 3):
        raise Feedback(f"{what} should return three tensors (grad_x, grad_W, grad_b), got {type(got).__name__}")
    return got


SHAPES = [(4, 3, 2), (1, 5, 1), (16, 784, 32)]


@pytest.mark.parametrize("part", ["grad_x", "grad_W", "grad_b"])
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
def test_linear_backward(student, rng, part, shape):
    x, W, b, g = _linear_case(rng, shape, torch.float32)
    expected = dict(zip(("grad_x", "grad_W", "grad_b"), autograd_vjp(lambda x, W, b: x @ W + b, [x, W, b], g)))
    what = f"linear_backward for x {tuple(x.shape)}, W {tuple(W.shape)}: {part}"
    got = dict(zip(("grad_x", "grad_W", "grad_b"), _three(student.linear_backward(x, W, b, g), what)))[part]
    hints = {"grad_x": {},
             "grad_W": {"that is grad_out.T @ x, shaped (d_out, d_in): W is (d_in, d_out), so x.T @ grad_out":
                        lambda: g.T @ x,
                        "that is divided by N: the gradient of a sum over the batch is a sum":
                        lambda: x.T @ g / x.shape[0]},
             "grad_b": {"that is the mean over the batch; the bias gradient is the sum": lambda: g.mean(dim=0)}}[part]
    expect_close(got, expected[part], what=what, hints=hints, **TOL[torch.float32])


def _activation_input(rng, dtype, case):
    if case == "random":
        x = torch.randn(6, 7, generator=rng, dtype=dtype) * 3
        x[0, :3] = 0.0  # autograd's convention at the kink: 0 for relu, the slope for leaky relu
        return x
    return torch.tensor([-1e4, -100.0, -30.0, 30.0, 100.0, 1e4], dtype=dtype)


def _activation_hints(name, x, g):
    s, t = torch.sigmoid(x), torch.tanh(x)
    return {
        "sigmoid": {"that is grad_out * sigmoid(x): the derivative is sigmoid(x) * (1 - sigmoid(x))": lambda: g * s,
                    "that applies the derivative to sigmoid(x) instead of x":
                    lambda: g * torch.sigmoid(s) * (1 - torch.sigmoid(s))},
        "tanh": {"that is grad_out * (1 - tanh(x)): the derivative squares tanh": lambda: g * (1 - t),
                 "that is grad_out * tanh(x)^2: the derivative is 1 - tanh(x)^2": lambda: g * t * t},
        "relu": {"that is relu(x) * grad_out: the derivative is 0 or 1, not x": lambda: g * torch.relu(x),
                 "at x = 0 autograd's gradient is 0 (x > 0, not x >= 0)": lambda: torch.where(x >= 0, g, 0 * g)},
        "leaky_relu": {"that uses slope 0 for x <= 0 (relu's derivative)": lambda: torch.where(x > 0, g, 0 * g),
                       "at x = 0 autograd's gradient is negative_slope * grad_out (x > 0, not x >= 0)":
                       lambda: torch.where(x >= 0, g, 0.01 * g)},
    }[name]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("name", list(FORWARD))
def test_activation_backward(student, rng, name, dtype):
    x = _activation_input(rng, dtype, "random")
    g = torch.randn(x.shape, generator=rng, dtype=dtype)
    (expected,) = autograd_vjp(FORWARD[name], [x], g)
    expect_close(getattr(student, f"{name}_backward")(x, g), expected, what=f"{name}_backward on a {tuple(x.shape)} "
                 f"{str(dtype).replace('torch.', '')} tensor", hints=_activation_hints(name, x, g), **TOL[dtype])


@pytest.mark.parametrize("name", ["sigmoid", "tanh"])
def test_activation_backward_large_inputs(student, rng, name):
    x = _activation_input(rng, torch.float32, "large")
    g = torch.ones_like(x)
    (expected,) = autograd_vjp(FORWARD[name], [x], g)
    expect_close(getattr(student, f"{name}_backward")(x, g), expected,
                 what=f"{name}_backward at x = {[float(v) for v in x]}", **TOL[torch.float32])


def _mle_hints(logits, expected):
    n = logits.shape[0]
    p = torch.softmax(logits, dim=1)
    return {"that is N times too large: the loss is the mean over the batch, so divide by N": lambda: expected * n,
            "that is softmax(logits) / N without subtracting the one-hot targets": lambda: p / n,
            "the sign is flipped: it is softmax minus the one-hot, not the other way": lambda: -expected}


@pytest.mark.parametrize("shape", [(1, 3), (8, 10), (64, 10)], ids=lambda s: "x".join(map(str, s)))
def test_softmax_mle_backward(student, rng, shape):
    logits = torch.randn(*shape, generator=rng) * 2
    targets = torch.randint(0, shape[1], (shape[0],), generator=rng)
    (expected,) = autograd_vjp(lambda z: F.cross_entropy(z, targets), [logits], torch.tensor(1.0))
    expect_close(student.softmax_mle_backward(logits, targets), expected,
                 what=f"softmax_mle_backward for logits of shape {shape}",
                 hints=_mle_hints(logits, expected), **TOL[torch.float32])


def test_softmax_mle_backward_large_logits(student, rng):
    logits = torch.randn(4, 10, generator=rng) * 1000
    targets = torch.randint(0, 10, (4,), generator=rng)
    (expected,) = autograd_vjp(lambda z: F.cross_entropy(z, targets), [logits], torch.tensor(1.0))
    expect_close(student.softmax_mle_backward(logits, targets), expected,
                 what="softmax_mle_backward for logits around +-1000 (subtract each row's max)", **TOL[torch.float32])


# -- by hand: autograd must not have computed them ------------------------------------------------

BANNED_ATTRIBUTES = {"backward", "grad", "autograd", "requires_grad", "requires_grad_", "func", "vjp", "jvp",
                     "jacrev", "jacfwd", "jacobian", "hessian", "enable_grad", "set_grad_enabled"}


def _by_hand_case(name, rng):
    if name == "linear_backward":
        x, W, b, g = _linear_case(rng, (3, 4, 2), torch.float32)
        return (x, W, b, g), autograd_vjp(lambda x, W, b: x @ W + b, [x, W, b], g)
    if name == "softmax_mle_backward":
        logits, targets = torch.randn(5, 4, generator=rng), torch.randint(0, 4, (5,), generator=rng)
        return (logits, targets), autograd_vjp(lambda z: F.cross_entropy(z, targets), [logits], torch.tensor(1.0))[0]
    x, g = torch.randn(3, 4, generator=rng), torch.randn(3, 4, generator=rng)
    return (x, g), autograd_vjp(FORWARD[name.removesuffix("_backward")], [x], g)[0]


def _static_check(submission, name):
    definitions = submission.definitions(name)
    if not definitions:
        return
    for sub in ast.walk(definitions[-1]):
        attr = sub.attr if isinstance(sub, ast.Attribute) else None
        if attr and (attr in BANNED_ATTRIBUTES or attr.endswith("_backward")):
            raise Feedback(f"{name} uses {ast.unparse(sub)} (line {sub.lineno}); compute the gradient by hand, "
                           "from its formula")


BY_HAND = ["linear_backward", "sigmoid_backward", "tanh_backward", "relu_backward", "leaky_relu_backward",
           "softmax_mle_backward"]


@pytest.mark.parametrize("name", BY_HAND)
def test_by_hand(student, sandbox, submission, rng, name):
    args, expected = _by_hand_case(name, rng)
    try:  # a wrong gradient earns nothing here: it must be right first
        got, used = sandbox.trace(name, *args)
        if name == "linear_backward":
            for part, g, e in zip(("grad_x", "grad_W", "grad_b"), _three(got, name), expected):
                expect_close(g, e, what=f"{name}: {part}")
        else:
            expect_close(got, expected, what=name)
    except (StudentError, Feedback) as exc:
        raise Feedback(f"implement {name} correctly first ({exc})") from None
    _static_check(submission, name)
    if used.torch_function_off:
        raise Feedback(f"{name} switches torch functions off (DisableTorchFunction); compute the gradient by hand")
    for op in (*used.functions, *used.aten):
        if "backward" in op or op.startswith(("torch.autograd", "torch.func", "torch._functorch")) or op.endswith(
                ("requires_grad_", ".grad")):
            raise Feedback(f"{name} uses {op}; compute the gradient by hand, from its formula")
