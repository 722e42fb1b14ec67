"""Part 2: activations (sigmoid, tanh, relu, leaky_relu): values, large inputs, gradients."""

import pytest
import torch

from grader.suites.compare import Feedback, checked_vjp, expect_close

DTYPES = {"float32": torch.float32, "float64": torch.float64}
# Loose enough for float32 rounding of any sound formula (0.5 * (1 + tanh(x / 2)) for sigmoid, say).
TOL = {torch.float32: dict(rtol=1e-4, atol=1e-5), torch.float64: dict(rtol=1e-9, atol=1e-10)}
SHAPES = {"7": (7,), "4x7": (4, 7), "2x3x5": (2, 3, 5), "1": (1,)}
ACTIVATIONS = ("sigmoid", "tanh", "relu", "leaky_relu")


def _fmt(shape, dtype):
    return f"x of shape {tuple(shape)} {str(dtype).replace('torch.', '')}"


def _hints(name, x):
    """Values of known mistakes, by activation."""
    common = {
        "sigmoid": {
            "that is sigmoid(-x): the exponent should be e^-x": lambda: 1 / (1 + torch.exp(x)),
            "that is tanh, not sigmoid": lambda: torch.tanh(x),
        },
        "tanh": {
            "that is sigmoid, not tanh": lambda: torch.sigmoid(x),
            "that is tanh(x / 2)": lambda: torch.tanh(x / 2),
            "that is -tanh(x): numerator (e^x - e^-x) has the wrong sign": lambda: -torch.tanh(x),
        },
        "relu": {
            "that is leaky_relu (slope 0.1), not relu": lambda: torch.where(x >= 0, x, 0.1 * x),
            "that is |x|, not max(x, 0)": lambda: x.abs(),
            "that is min(x, 0), not max(x, 0)": lambda: torch.clamp(x, max=0),
        },
        "leaky_relu": {
            "matches leaky slope 0.01; the assignment uses slope 0.1": lambda: torch.where(x >= 0, x, 0.01 * x),
            "that is relu (slope 0), not leaky_relu (slope 0.1)": lambda: torch.clamp(x, min=0),
            "the slope 0.1 is applied to the positive side": lambda: torch.where(x >= 0, 0.1 * x, x),
        },
    }
    return common[name]


# -- values --------------------------------------------------------------------------------------

@pytest.mark.parametrize("shape", list(SHAPES.values()), ids=list(SHAPES))
@pytest.mark.parametrize("dtype", list(DTYPES.values()), ids=list(DTYPES))
@pytest.mark.parametrize("name", ACTIVATIONS)
def test_activation_values(student, reference, rng, name, dtype, shape):
    x = torch.randn(shape, generator=rng, dtype=dtype) * 3
    got = getattr(student, name)(x)
    expect_close(got, getattr(reference, name)(x), what=f"{name}(x) for {_fmt(shape, dtype)}",
                 hints=_hints(name, x), **TOL[dtype])


@pytest.mark.parametrize("dtype", list(DTYPES.values()), ids=list(DTYPES))
def test_leaky_relu_slope(student, dtype):
    x = -torch.arange(1, 11, dtype=dtype) * 0.75  # negative inputs only: out must be exactly 0.1 * x
    got = student.leaky_relu(x)
    expect_close(got, 0.1 * x, what=f"leaky_relu(x) for negative x ({str(dtype).replace('torch.', '')})",
                 hints=_hints("leaky_relu", x), **TOL[dtype])


# -- large inputs: no NaN, no inf ------------------------------------------------------------------

def _large(rng, dtype):
    fixed = torch.tensor([-1e4, -1e3, -200.0, -100.0, -89.0, -50.0, -20.0, -1e-3, 0.0, 1e-3, 20.0, 50.0,
                          89.0, 100.0, 200.0, 1e3, 1e4], dtype=dtype)
    spread = (torch.rand(3, 17, generator=rng, dtype=dtype) * 2 - 1) * 1e4
    return torch.cat([fixed.reshape(1, -1), spread])


@pytest.mark.parametrize("dtype", list(DTYPES.values()), ids=list(DTYPES))
@pytest.mark.parametrize("name", ACTIVATIONS)
def test_activation_large_inputs(student, reference, rng, name, dtype):
    x = _large(rng, dtype)
    got = getattr(student, name)(x)
    what = f"{name}(x) for |x| up to 1e4 ({str(dtype).replace('torch.', '')})"
    try:
        expect_close(got, getattr(reference, name)(x), what=what, **TOL[dtype])
    except Feedback:
        if _right_on_moderate_inputs(student, reference, rng, name, dtype):
            raise  # right in general, wrong for large |x|: this check's mistake
        # A property earns nothing on a function that is wrong in general (a constant is finite too).
        raise Feedback(f"{name}(x) gives wrong values for ordinary inputs (see its values check), so staying "
                       "finite for large inputs earns nothing here") from None


# -- gradients -------------------------------------------------------------------------------------

def _reference_grad(fn, x, cotangent):
    x = x.detach().clone().requires_grad_(True)
    out = fn(x)
    (grad,) = torch.autograd.grad(out, x, cotangent)
    return out.detach(), grad


@pytest.mark.parametrize("dtype", list(DTYPES.values()), ids=list(DTYPES))
@pytest.mark.parametrize("name", ACTIVATIONS)
def test_activation_gradient(student, reference, rng, name, dtype):
    x = torch.randn(5, 6, generator=rng, dtype=dtype) * 2  # never exactly 0, where relu has a kink
    cotangent = torch.randn(5, 6, generator=rng, dtype=dtype)
    out, (grad,), _ = checked_vjp(student, name, [x], wrt=[0], cotangent=cotangent)
    value, expected = _reference_grad(getattr(reference, name), x, cotangent)
    what = f"the gradient of {name}(x) with respect to x, for {_fmt(x.shape, dtype)}"
    try:
        expect_close(grad, expected, what=what, **TOL[dtype])
    except Feedback:
        try:
            expect_close(out, value, what="", **TOL[dtype])
        except Feedback:
            raise Feedback(f"{name}(x) gives wrong values (see its values check), so its gradient earns nothing "
                           "here") from None
        raise


def _right_on_moderate_inputs(student, reference, rng, name, dtype):
    x = torch.randn(4, 6, generator=rng, dtype=dtype) * 3
    try:
        expect_close(getattr(student, name)(x), getattr(reference, name)(x), what="", **TOL[dtype])
    except Feedback:
        return False
    return True
