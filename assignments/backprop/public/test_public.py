"""Public checks for backprop: your gradients against autograd's. Run: grade backprop.ipynb --public"""

import pytest
import torch
import torch.nn.functional as F

from grader.suites.compare import expect_close


def autograd_vjp(fn, inputs, cotangent):
    inputs = [t.detach().clone().requires_grad_(True) for t in inputs]
    return torch.autograd.grad(fn(*inputs), inputs, cotangent)


def test_linear_backward(student):
    x, W, b = torch.arange(6.0).reshape(2, 3), torch.ones(3, 2), torch.tensor([1.0, -1.0])
    g = torch.tensor([[1.0, 2.0], [3.0, -1.0]])
    got = student.linear_backward(x, W, b, g)
    for name, value, expected in zip(("grad_x", "grad_W", "grad_b"), got, autograd_vjp(lambda x, W, b: x @ W + b,
                                                                                         [x, W, b], g)):
        expect_close(value, expected, what=f"linear_backward: {name}")


@pytest.mark.parametrize("name, forward", [("sigmoid", torch.sigmoid), ("tanh", torch.tanh), ("relu", torch.relu),
                                           ("leaky_relu", lambda x: F.leaky_relu(x, 0.01))])
def test_activations(student, name, forward):
    x = torch.tensor([-3.0, -0.5, 0.0, 0.5, 3.0])
    g = torch.tensor([1.0, -2.0, 1.0, 0.5, 1.0])
    expect_close(getattr(student, f"{name}_backward")(x, g), autograd_vjp(forward, [x], g)[0], what=f"{name}_backward")


def test_softmax_mle_backward(student):
    logits, targets = torch.tensor([[1.0, 2.0, 0.5], [0.0, -1.0, 3.0]]), torch.tensor([1, 2])
    expected = autograd_vjp(lambda z: F.cross_entropy(z, targets), [logits], torch.tensor(1.0))[0]
    expect_close(student.softmax_mle_backward(logits, targets), expected, what="softmax_mle_backward")


def test_mlp_step(student):
    g = torch.Generator().manual_seed(0)
    params = [torch.randn(4, 3, generator=g), torch.zeros(3), torch.randn(3, 2, generator=g), torch.zeros(2)]
    x, targets = torch.randn(5, 4, generator=g), torch.tensor([0, 1, 1, 0, 1])
    leaves = [p.clone().requires_grad_(True) for p in params]
    W1, b1, W2, b2 = leaves
    loss = F.cross_entropy(torch.relu(x @ W1 + b1) @ W2 + b2, targets)
    grads = torch.autograd.grad(loss, leaves)
    new, got_loss = student.mlp_step(params, x, targets, 0.1, "relu")
    expect_close(got_loss, loss.detach(), what="mlp_step's loss")
    for name, value, p, grad in zip(("W1", "b1", "W2", "b2"), new, params, grads):
        expect_close(value, p - 0.1 * grad, what=f"mlp_step: new {name}")
