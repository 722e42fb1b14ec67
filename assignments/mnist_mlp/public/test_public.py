"""Public checks for mnist_mlp: properties any correct solution has. Run: grade mnist_mlp.ipynb --public"""

import math

import torch

from grader.suites.compare import Feedback, expect_close, expect_tensor


def test_part1_to_tensor(student):
    expect_close(student.to_tensor([[1, 2], [3, 4]]), torch.tensor([[1.0, 2.0], [3.0, 4.0]]), what="to_tensor")


def test_part1_normalize(student):
    images = torch.tensor([[[0, 255], [51, 204]]], dtype=torch.uint8)
    expect_close(student.normalize(images), torch.tensor([[[-1.0, 1.0], [-0.6, 0.6]]]), what="normalize")


def test_part1_flatten(student):
    images = torch.arange(2 * 28 * 28).reshape(2, 28, 28).float()
    got = expect_tensor(student.flatten(images), what="flatten", shape=(2, 784))
    if float(got[1, 28 * 3 + 5]) != float(images[1, 3, 5]):
        raise Feedback("flatten: out[i, 28*r + c] must equal images[i, r, c] (stack the rows in order)")


def test_part1_one_hot(student):
    expect_close(student.one_hot(torch.tensor([2, 0]), 3), torch.tensor([[0.0, 0, 1], [1, 0, 0]]), what="one_hot")


def test_part2_activations(student):
    x = torch.tensor([-2.0, 0.0, 3.0])
    expect_close(student.sigmoid(x), 1 / (1 + torch.exp(-x)), what="sigmoid")
    expect_close(student.tanh(x), (torch.exp(x) - torch.exp(-x)) / (torch.exp(x) + torch.exp(-x)), what="tanh")
    expect_close(student.relu(x), torch.tensor([0.0, 0.0, 3.0]), what="relu")
    expect_close(student.leaky_relu(x), torch.tensor([-0.2, 0.0, 3.0]), what="leaky_relu")


def test_part3_linear(student):
    x, W, b = torch.ones(4, 3), torch.ones(3, 2), torch.tensor([1.0, -1.0])
    expect_close(student.linear(x, W, b), torch.tensor([[4.0, 2.0]] * 4), what="linear")


def test_part3_mlp_parameters(student):
    model = student.MLP((784, 16, 10))
    shapes = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    want = {"weights.0": (784, 16), "biases.0": (16,), "weights.1": (16, 10), "biases.1": (10,)}
    if shapes != want:
        raise Feedback(f"MLP((784, 16, 10)).state_dict() shapes: expected {want}, got {shapes}")
    expect_tensor(model.forward(torch.zeros(5, 784)), what="MLP.forward", shape=(5, 10), dtype=torch.float32)


def test_part4_softmax(student):
    p = expect_tensor(student.softmax(torch.tensor([[1.0, 2.0, 3.0], [1000.0, 0.0, -1000.0]])), what="softmax",
                      shape=(2, 3))
    expect_close(p.sum(-1), torch.ones(2), what="softmax row sums")


def test_part4_mle_loss(student):
    loss = student.mle_loss(torch.zeros(4, 10), torch.tensor([0, 1, 2, 3]))
    expect_close(loss, torch.tensor(math.log(10.0)), what="mle_loss of uniform logits (log 10)")


def test_part4_predict_accuracy(student):
    logits = torch.tensor([[0.1, 0.9], [0.8, 0.2], [0.3, 0.7]])
    expect_close(student.predict(logits), torch.tensor([1, 0, 1]), what="predict")
    acc = student.accuracy(logits, torch.tensor([1, 1, 1]))
    if type(acc) is not float or abs(acc - 2 / 3) > 1e-6:
        raise Feedback(f"accuracy: expected the Python float 0.6667, got {acc!r}")


def test_part5_train(student, sandbox):
    g = torch.Generator().manual_seed(0)
    x = torch.rand(256, 784, generator=g) * 2 - 1
    y = (x @ torch.randn(784, 10, generator=g)).argmax(dim=1)  # learnable: a fixed linear rule
    sandbox.seed(0)  # student.seed would call the submission's own seed(), which the notebook need not have
    model = student.MLP((784, 32, 10))
    before = float(torch.nn.functional.cross_entropy(model.forward(x), y))
    got = student.train(model, x, y, epochs=3, lr=1e-2, batch_size=32, seed=0)
    if getattr(got, "type_name", None) is None:
        raise Feedback("train(model, x, y, epochs=3, lr=1e-2, batch_size=32, seed=0) must return the trained model")
    after = float(torch.nn.functional.cross_entropy(got.forward(x), y))
    if not after < before - 0.01:
        raise Feedback(f"train(model, x, y, epochs=3, lr=1e-2, batch_size=32, seed=0) on 256 easy samples: the "
                       f"training loss went from {before:.4f} to {after:.4f}; it should fall")
