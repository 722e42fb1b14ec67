"""mlp_step: one gradient-descent step of the two-layer MLP, against autograd's, and a few steps on MNIST."""

import pytest
import torch
import torch.nn.functional as F

from grader.sandbox.faults import StudentError, SubmissionFault
from grader.suites.compare import Feedback, close, expect_close, expect_tensor
from grader.suites.weights import mlp_weights

FORWARD = {
    "sigmoid": torch.sigmoid,
    "tanh": torch.tanh,
    "relu": torch.relu,
    "leaky_relu": lambda x: F.leaky_relu(x, 0.01),
}
TOL = dict(rtol=1e-4, atol=1e-6)
NAMES = ("W1", "b1", "W2", "b2")


def _params(rng, sizes):
    """[W1, b1, W2, b2]: the grader's initial weights, as mnist_mlp's (mlp_weights)."""
    return list(mlp_weights(rng, sizes).values())


def _loss(params, x, targets, activation):
    W1, b1, W2, b2 = params
    return F.cross_entropy(FORWARD[activation](x @ W1 + b1) @ W2 + b2, targets)


def autograd_step(params, x, targets, lr, activation):
    """The step autograd gives, and the loss before it."""
    leaves = [p.detach().clone().requires_grad_(True) for p in params]
    loss = _loss(leaves, x, targets, activation)
    grads = torch.autograd.grad(loss, leaves)
    return [p - lr * g for p, g in zip(params, grads)], loss.detach()


def _step(student, params, x, targets, lr, activation, what):
    got = student.mlp_step(params, x, targets, lr, activation)
    if not (isinstance(got, (tuple, list)) and len(got) == 2 and isinstance(got[0], (tuple, list))
            and len(got[0]) == 4):
        raise Feedback(f"{what} should return (a list of the four new parameters, the loss)")
    return list(got[0]), got[1]


def _composed_step(student, params, x, targets, lr, activation):
    """The step made of the student's own backward functions (None where they fail): the grader does the
    forward pass and the update, the sandbox only each backward call."""
    W1, b1, W2, b2 = params
    pre = x @ W1 + b1
    h = FORWARD[activation](pre)
    try:
        grad_logits = student.softmax_mle_backward(h @ W2 + b2, targets)
        grad_h, grad_W2, grad_b2 = student.linear_backward(h, W2, b2, grad_logits)
        grad_pre = getattr(student, f"{activation}_backward")(pre, grad_h)
        _, grad_W1, grad_b1 = student.linear_backward(x, W1, b1, grad_pre)
        grads = (grad_W1, grad_b1, grad_W2, grad_b2)
        if not all(type(g) is torch.Tensor and g.shape == p.shape for g, p in zip(grads, params)):
            return None
        return [p - lr * g for p, g in zip(params, grads)]
    except (SubmissionFault, TypeError, ValueError):
        return None


def _case(rng):
    x = torch.randn(32, 20, generator=rng)
    targets = torch.randint(0, 5, (32,), generator=rng)
    return _params(rng, (20, 8, 5)), x, targets


@pytest.mark.parametrize("activation", list(FORWARD))
def test_mlp_step_parameters(student, rng, activation):
    params, x, targets = _case(rng)
    lr = 0.5
    expected, _ = autograd_step(params, x, targets, lr, activation)
    what = f"mlp_step(params, x (32, 20), targets, lr={lr}, activation={activation!r})"
    new, _ = _step(student, params, x, targets, lr, activation, what)
    try:
        for name, got, want, p in zip(NAMES, new, expected, params):
            expect_close(got, want, what=f"{what}: new {name}", **TOL,
                         hints={"that is the parameter before the step: return the updated ones": p,
                                "that is gradient ascent: subtract lr * gradient": 2 * p - want,
                                f"that is a step of lr * N = {lr * x.shape[0]:g}: the loss is the mean over the batch":
                                p + x.shape[0] * (want - p)})
    except Feedback:
        # One mistake, its own items: a step that chains the student's own backward functions correctly
        # earns this item even when one of them is wrong (that function loses its own items).
        composed = _composed_step(student, params, x, targets, lr, activation)
        if composed is None or not all(close(g, c, **TOL) for g, c in zip(new, composed)):
            raise


def test_mlp_step_loss(student, rng):
    params, x, targets = _case(rng)
    _, expected = autograd_step(params, x, targets, 0.1, "relu")
    _, loss = _step(student, params, x, targets, 0.1, "relu", "mlp_step")
    expect_tensor(loss, what="mlp_step's loss")
    expect_close(loss.reshape(()) if loss.numel() == 1 else loss, expected, what="mlp_step's loss (before the step)",
                 **TOL)


def test_mlp_step_trains_on_mnist(student, sandbox, mnist, settings):
    """A few of your steps on MNIST images: the loss the grader measures must fall."""
    n, steps, lr = int(settings["mnist_images"]), int(settings["mnist_steps"]), float(settings["mnist_lr"])
    x = mnist.flat_images("train", n)
    y = mnist.labels("train")[:n]
    sizes = (784, int(settings["mnist_hidden"]), 10)
    params = _params(torch.Generator().manual_seed(int(settings["mnist_seed"])), sizes)
    shapes = [tuple(p.shape) for p in params]
    images, labels = sandbox.mnist("train_images", n), sandbox.mnist("train_labels", n)
    before = float(_loss(params, x, y, "relu"))
    for i in range(steps):
        try:
            params, _ = _step(student, params, images, labels, lr, "relu", "mlp_step")
        except StudentError as exc:
            raise Feedback(f"mlp_step failed at step {i + 1} on MNIST: {exc}") from None
        for name, p, shape in zip(NAMES, params, shapes):
            expect_tensor(p, what=f"mlp_step's new {name} at step {i + 1}", shape=shape, dtype=torch.float32)
    after = float(_loss(params, x, y, "relu"))
    if not after < float(settings["mnist_loss_ratio"]) * before:
        raise Feedback(f"{steps} steps of mlp_step with lr={lr} on {n} MNIST images took the loss from {before:.3f} "
                       f"to {after:.3f}; gradient descent should lower it below "
                       f"{float(settings['mnist_loss_ratio']) * before:.3f}")
