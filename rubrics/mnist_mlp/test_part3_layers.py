"""Part 3: layers (linear and the MLP class)."""

import math

import pytest
import torch

from grader.sandbox.faults import SubmissionFault, redact
from grader.suites.compare import Feedback, checked_vjp, close, describe, expect_close
from grader.suites.student import sandbox_of
from grader.suites.weights import in_contract_layout, load_weights, mlp_weights

DTYPES = {"float32": torch.float32, "float64": torch.float64}
TOL = {torch.float32: dict(rtol=1e-4, atol=1e-4), torch.float64: dict(rtol=1e-9, atol=1e-10)}
# (N, d_in, d_out); 6x6x6 is square so that x @ W.T and a bias per row would go unnoticed by shapes alone.
DIMS = {"1x3x2": (1, 3, 2), "6x6x6": (6, 6, 6), "8x784x16": (8, 784, 16), "16x7x3": (16, 7, 3)}
ACTIVATIONS = ("sigmoid", "tanh", "relu", "leaky_relu")
LAYER_FUNCTIONS = ("linear",) + ACTIVATIONS
SIZES = (784, 32, 16, 10)


def _dt(dtype):
    return str(dtype).replace("torch.", "")


def _close(got, expected, *, rtol, atol):
    return isinstance(got, torch.Tensor) and got.dtype == expected.dtype and close(got, expected, rtol=rtol, atol=atol)


def _layer(rng, n, d_in, d_out, dtype):
    x = torch.randn(n, d_in, generator=rng, dtype=dtype)
    W = torch.randn(d_in, d_out, generator=rng, dtype=dtype) / math.sqrt(d_in)
    b = torch.randn(d_out, generator=rng, dtype=dtype)
    return x, W, b


# -- linear ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("dims", list(DIMS.values()), ids=list(DIMS))
@pytest.mark.parametrize("dtype", list(DTYPES.values()), ids=list(DTYPES))
def test_linear_values(student, reference, rng, dtype, dims):
    n, d_in, d_out = dims
    x, W, b = _layer(rng, n, d_in, d_out, dtype)
    expect_close(
        student.linear(x, W, b), reference.linear(x, W, b),
        what=f"linear(x, W, b) for x {tuple(x.shape)}, W {tuple(W.shape)}, b {tuple(b.shape)} {_dt(dtype)}",
        hints={
            "that is x @ W.T + b; W has shape (d_in, d_out), so use x @ W": lambda: x @ W.T + b,
            "the bias is missing": lambda: x @ W,
            "the bias is added per row instead of per column": lambda: x @ W + b[:, None],
        },
        **TOL[dtype])


@pytest.mark.parametrize("dtype", list(DTYPES.values()), ids=list(DTYPES))
def test_linear_gradient(student, reference, rng, dtype):
    x, W, b = _layer(rng, 5, 4, 3, dtype)
    cotangent = torch.randn(5, 3, generator=rng, dtype=dtype)
    out, grads, _ = checked_vjp(student, "linear", [x, W, b], wrt=[0, 1, 2], cotangent=cotangent)
    leaves = [t.detach().clone().requires_grad_(True) for t in (x, W, b)]
    value = reference.linear(*leaves)
    expected = torch.autograd.grad(value, leaves, cotangent)
    forward_right = _close(out, value.detach(), **TOL[dtype])
    for label, got, want in zip(("x", "W", "b"), grads, expected):
        what = f"the gradient of linear(x, W, b) with respect to {label} ({_dt(dtype)})"
        if not forward_right:
            raise Feedback(f"{what}: linear(x, W, b) gives wrong values (see the values check), so its gradient "
                           "earns nothing here")
        expect_close(got, want, what=what, **TOL[dtype])


# -- MLP: parameters -------------------------------------------------------------------------------

def _expected_shapes(sizes):
    shapes = {}
    for l, (d_in, d_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        shapes[f"weights.{l}"] = (d_in, d_out)
        shapes[f"biases.{l}"] = (d_out,)
    return shapes


def _check_state_dict(model, sizes, what):
    state = model.state_dict()
    if not isinstance(state, dict):
        raise Feedback(f"{what}.state_dict() returned {describe(state)}, expected a dict of tensors")
    expected = _expected_shapes(sizes)
    missing = [k for k in expected if k not in state]
    extra = [redact(k, 60) for k in state if k not in expected][:8]  # the student's strings: no echo
    if missing or extra:
        parts = []
        if missing:
            parts.append(f"missing keys {missing}")
        if extra:
            parts.append(f"unexpected keys {extra}")
        raise Feedback(f"{what}.state_dict(): {'; '.join(parts)}. Register the weights in "
                       "self.weights = nn.ParameterList([...]) and the biases in self.biases, in layer order")
    for key, shape in expected.items():
        got = state[key]
        if not isinstance(got, torch.Tensor):
            raise Feedback(f"{what}.state_dict()[{key!r}] is {describe(got)}, expected a tensor")
        if tuple(got.shape) != shape:
            hint = " (transposed: W_l has shape (sizes[l], sizes[l+1]))" if tuple(got.shape) == shape[::-1] else ""
            raise Feedback(f"{what}.state_dict()[{key!r}] has shape {tuple(got.shape)}, expected {shape}{hint}")
        if got.dtype != torch.float32:
            raise Feedback(f"{what}.state_dict()[{key!r}] is {_dt(got.dtype)}, expected float32")


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_mlp_parameters(student, activation):
    model = student.MLP(SIZES, activation=activation)
    _check_state_dict(model, SIZES, f"MLP({SIZES}, activation={activation!r})")


def test_mlp_default_sizes(student):
    model = student.MLP()
    _check_state_dict(model, (784, 128, 64, 10), "MLP()")


# -- MLP: forward and backward with the same weights as the reference ------------------------------

def _models(student, reference, rng, activation, sizes=SIZES):
    """The student's and the reference's MLP with the same weights, written into the tensors at
    model.weights[l] and model.biases[l] in the model's own layout (a model storing W_l transposed, or
    its biases unregistered, loses the parameter check, not these). Also returns the keys it stores
    transposed."""
    weights = mlp_weights(rng, sizes)
    model = student.MLP(sizes) if activation is None else student.MLP(sizes, activation=activation)
    swapped = load_weights(model, weights)
    with torch.random.fork_rng(devices=[]):  # the reference's init must not disturb anything else
        ref = reference.MLP(sizes, activation=activation or "relu")
    ref.load_state_dict(weights)
    return model, ref, weights, swapped


def _forward(student, model, x):
    """model.forward(x) with known-good linear and activations swapped in for the student's: the MLP
    checks grade the MLP (a wrong relu costs relu's items, not these)."""
    with sandbox_of(student).known_good(*LAYER_FUNCTIONS):
        return model.forward(x)


def _manual_logits(weights, x, act, last_act=False, hidden_act=True):
    h = x
    n = len(weights) // 2
    for l in range(n):
        h = h @ weights[f"weights.{l}"] + weights[f"biases.{l}"]
        if (l < n - 1 and hidden_act) or (l == n - 1 and last_act):
            h = act(h)
    return h


@pytest.mark.parametrize("n", [1, 20], ids=["N1", "N20"])
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_mlp_forward(student, reference, rng, activation, n):
    model, ref, weights, _ = _models(student, reference, rng, activation)
    x = torch.rand(n, SIZES[0], generator=rng) * 2 - 1
    with torch.no_grad():
        expected = ref(x)
    act = getattr(reference, activation)
    got = _forward(student, model, x)
    expect_close(
        got, expected,
        what=f"MLP({SIZES}, activation={activation!r}).forward(x) logits for x of shape {tuple(x.shape)}, "
             "after load_state_dict",
        hints={
            "the last layer applies the activation too; the logits must stay linear":
                lambda: _manual_logits(weights, x, act, last_act=True),
            "no activation between the hidden layers":
                lambda: _manual_logits(weights, x, act, hidden_act=False),
            "the activation is relu whatever `activation` says":
                lambda: _manual_logits(weights, x, reference.relu),
        },
        rtol=1e-4, atol=1e-4)


def test_mlp_call_is_forward(student, sandbox, reference, rng):
    model, ref, _, _ = _models(student, reference, rng, "relu")
    x = torch.rand(3, SIZES[0], generator=rng) * 2 - 1
    with torch.no_grad():
        expected = ref(x)
    # Calling the model is compared with the right logits, not with forward's own answer (a model that
    # remembers its last output, or returns a constant, would agree with itself).
    if not _close(_forward(student, model, x), expected, rtol=1e-4, atol=1e-4):
        raise Feedback("model.forward(x) gives wrong logits (see the forward checks), so calling the model "
                       "like a function earns nothing here")
    with sandbox.known_good(*LAYER_FUNCTIONS):
        called = model(x)
    expect_close(called, expected, what="model(x) (calling the MLP like a function) compared with the right "
                 "logits; define forward, not __call__", rtol=1e-4, atol=1e-4)


def test_mlp_default_activation(student, reference, rng):
    model, ref, weights, _ = _models(student, reference, rng, None)
    x = torch.rand(5, SIZES[0], generator=rng) * 2 - 1
    with torch.no_grad():
        expected = ref(x)
    got = _forward(student, model, x)
    if _close(got, expected, rtol=1e-4, atol=1e-4) or _behaves_as_relu(student, weights, x, got):
        return
    expect_close(got, expected, what=f"MLP({SIZES}) (no activation given) forward logits: the default activation "
                 "is relu", rtol=1e-4, atol=1e-4)


def _behaves_as_relu(student, weights, x, got):
    """A forward pass that is wrong in itself (the forward checks count it) still has the right default
    when MLP() computes what MLP(activation="relu") computes and not what MLP(activation="tanh") does
    (a pass that ignores its activation, or returns a constant, matches both)."""
    own = {}
    try:
        for act in ("relu", "tanh"):
            model = student.MLP(SIZES, activation=act)
            load_weights(model, weights)
            own[act] = _forward(student, model, x)
    except SubmissionFault:
        return False
    return (_close(got, own["relu"], rtol=1e-6, atol=1e-6) and not _close(got, own["tanh"], rtol=1e-4, atol=1e-4)
            and not bool((got == got[:1]).all()))


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_mlp_gradients(student, sandbox, reference, rng, activation):
    model, ref, _, swapped = _models(student, reference, rng, activation)
    x = torch.rand(8, SIZES[0], generator=rng) * 2 - 1
    cotangent = torch.randn(8, SIZES[-1], generator=rng)
    with sandbox.known_good(*LAYER_FUNCTIONS):
        out, _, grads = checked_vjp(student, (model, "forward"), [x], wrt=[], cotangent=cotangent,
                                    params=len(SIZES) - 1)
    grads = in_contract_layout(grads, swapped)
    value = ref(x)
    expected = dict(zip((k for k, _ in ref.named_parameters()),
                        torch.autograd.grad(value, list(ref.parameters()), cotangent)))
    if not _close(out, value.detach(), rtol=1e-4, atol=1e-4):
        raise Feedback(f"MLP(activation={activation!r}).forward gives wrong logits (see the forward checks), so "
                       "its gradients earn nothing here")
    missing = [k for k in expected if k not in grads]
    if missing:
        raise Feedback(f"MLP.forward: no gradient reaches the parameters {missing}; register them with "
                       "nn.ParameterList of nn.Parameter so that autograd and optimizers see them")
    for key, want in expected.items():
        got = grads[key]
        if got is None:
            raise Feedback(f"MLP.forward: the output does not depend on the parameter {key!r} (no gradient)")
        what = f"the gradient of the logits of MLP(activation={activation!r}) with respect to {key}"
        expect_close(got, want, what=what, rtol=1e-4, atol=1e-4)
