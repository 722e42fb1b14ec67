"""GPU (optional): every function on inputs that live on the GPU; results must stay there.

Inputs are made on the CPU from the seeded generator and moved with .to(gpu_device); the expected
values are the reference's on the CPU. Skipped where there is no CUDA device.
"""

import math

import pytest
import torch

from grader.suites.compare import Feedback, describe, expect_close, expect_finite, expect_tensor
from grader.suites.student import Remote
from grader.suites.weights import TRAIN_HELPERS, load_weights, mlp_weights

T = 60  # the first CUDA call in the sandbox also starts CUDA (a few seconds)
TOL = dict(rtol=1e-4, atol=1e-5)
LOOSE = dict(rtol=1e-4, atol=1e-4)
ACTIVATIONS = ("sigmoid", "tanh", "relu", "leaky_relu")


@pytest.mark.parametrize("name", ACTIVATIONS)
def test_gpu_activation(student, reference, rng, gpu_device, name):
    x = torch.randn(16, 32, generator=rng) * 3
    got = getattr(student, name)(x.to(gpu_device), timeout=T)
    expect_close(got, getattr(reference, name)(x), what=f"{name}(x) for x on {gpu_device}", device=gpu_device,
                 **TOL)


def test_gpu_softmax(student, reference, rng, gpu_device):
    logits = torch.randn(16, 10, generator=rng) * 3
    expect_close(student.softmax(logits.to(gpu_device), timeout=T), reference.softmax(logits),
                 what=f"softmax(logits) for logits on {gpu_device}", device=gpu_device, **TOL)


def test_gpu_mle_loss(student, sandbox, reference, rng, gpu_device):
    logits = torch.randn(32, 10, generator=rng) * 2
    targets = torch.randint(0, 10, (32,), generator=rng)
    out, (grad,), _ = sandbox.vjp("mle_loss", [logits.to(gpu_device), targets.to(gpu_device)], wrt=[0], timeout=T)
    leaf = logits.clone().requires_grad_(True)
    loss = reference.mle_loss(leaf, targets)
    (expected,) = torch.autograd.grad(loss, leaf)
    expect_close(out, loss.detach(), what=f"mle_loss(logits, targets) on {gpu_device}", device=gpu_device, **LOOSE)
    expect_close(grad, expected, what=f"the gradient of mle_loss on {gpu_device}", device=gpu_device, **TOL)


def test_gpu_linear(student, reference, rng, gpu_device):
    x = torch.randn(8, 20, generator=rng)
    W = torch.randn(20, 5, generator=rng) / math.sqrt(20)
    b = torch.randn(5, generator=rng)
    got = student.linear(x.to(gpu_device), W.to(gpu_device), b.to(gpu_device), timeout=T)
    expect_close(got, reference.linear(x, W, b), what=f"linear(x, W, b) on {gpu_device}", device=gpu_device,
                 **LOOSE)


def test_gpu_data(student, reference, rng, gpu_device):
    images = torch.randint(0, 256, (4, 28, 28), generator=rng, dtype=torch.uint8)
    expect_close(student.normalize(images.to(gpu_device), timeout=T), reference.normalize(images),
                 what=f"normalize(images) on {gpu_device}", device=gpu_device, **TOL)
    floats = torch.randn(4, 28, 28, generator=rng)
    expect_close(student.flatten(floats.to(gpu_device), timeout=T), reference.flatten(floats),
                 what=f"flatten(images) on {gpu_device}", device=gpu_device, rtol=0, atol=0)
    labels = torch.randint(0, 10, (12,), generator=rng)
    expect_close(student.one_hot(labels.to(gpu_device), timeout=T), reference.one_hot(labels),
                 what=f"one_hot(labels) on {gpu_device} (create the zeros with device=labels.device)",
                 device=gpu_device, rtol=0, atol=0)


def test_gpu_predict_accuracy(student, reference, rng, gpu_device):
    logits = torch.randn(30, 10, generator=rng)
    targets = torch.randint(0, 10, (30,), generator=rng)
    expect_close(student.predict(logits.to(gpu_device), timeout=T), reference.predict(logits),
                 what=f"predict(logits) on {gpu_device}", device=gpu_device, rtol=0, atol=0)
    got = student.accuracy(logits.to(gpu_device), targets.to(gpu_device), timeout=T)
    expected = reference.accuracy(logits, targets)
    if type(got) is not float or not abs(got - expected) <= 1e-6:  # NaN never passes
        raise Feedback(f"accuracy(logits, targets) on {gpu_device}: expected the Python float {expected:.6g}, "
                       f"got {describe(got) if type(got) is not float else f'{got:.6g}'}")


def test_gpu_mlp_forward(student, reference, rng, gpu_device):
    sizes = (784, 32, 16, 10)
    weights = mlp_weights(rng, sizes)
    model = student.MLP(sizes, activation="tanh")
    load_weights(model, weights)
    moved = model.to(gpu_device, timeout=T)
    if not isinstance(moved, Remote):
        raise Feedback(f"model.to({gpu_device!r}) returned {describe(moved)}, expected the model")
    with torch.random.fork_rng(devices=[]):
        ref = reference.MLP(sizes, activation="tanh")
    ref.load_state_dict(weights)
    x = torch.rand(10, 784, generator=rng) * 2 - 1
    with torch.no_grad():
        expected = ref(x)
    expect_close(moved.forward(x.to(gpu_device), timeout=T), expected,
                 what=f"MLP.forward(x) after model.to({gpu_device!r}), x on {gpu_device}", device=gpu_device,
                 **LOOSE)


def test_gpu_train(student, sandbox, rng, gpu_device):
    x = torch.rand(2000, 784, generator=rng) * 2 - 1
    y = (x @ torch.randn(784, 10, generator=rng)).argmax(dim=1)
    # The grader's MLP from the grader's weights, and known-good helpers: this item grades train() on
    # the GPU (the student's MLP on the GPU is the item before; a broken mle_loss is Part 4's).
    weights = mlp_weights(torch.Generator().manual_seed(0), (784, 64, 10))
    model = sandbox.grader_mlp(weights).to(gpu_device, timeout=T)
    xd, yd = x.to(gpu_device), y.to(gpu_device)
    before = model.forward(xd, timeout=T)
    expect_tensor(before, what=f"MLP.forward(x) on {gpu_device}", shape=(2000, 10), device=gpu_device)
    call = f"train(model, x, y, epochs=1, lr=1e-2, batch_size=128, seed=0) with model, x and y on {gpu_device}"
    with sandbox.known_good(*TRAIN_HELPERS):
        trained = student.train(model, xd, yd, epochs=1, lr=1e-2, batch_size=128, seed=0, timeout=120)
    if not isinstance(trained, Remote):
        raise Feedback(f"{call} returned {describe(trained)}; it must return the trained model")
    after = trained.forward(xd, timeout=T)
    expect_tensor(after, what=f"after {call}: model.forward(x)", shape=(2000, 10), device=gpu_device)
    expect_finite(after, what=f"after {call}: model.forward(x)")
    ce = torch.nn.functional.cross_entropy
    l0, l1 = float(ce(before.double().cpu(), y)), float(ce(after.double().cpu(), y))
    if not l1 < l0 - 0.005:
        raise Feedback(f"{call} barely changed the training loss ({l0:.4f} before, {l1:.4f} after)")
