"""The worker operations that let a check grade one thing: known-good helpers swapped in for a call
(and restored after it), tensors written and read at model.weights[l] / model.biases[l] whatever holds
them, and the grader's own MLP for train()."""

from __future__ import annotations

import torch

SOURCE = '''
import torch
from torch import nn


def relu(x):
    return x * 0 - 1  # wrong on purpose


class Acts:
    def leaky_relu(self, x):
        return x * 0 + 7  # wrong on purpose, a bound method exported under the contract name


leaky_relu = Acts().leaky_relu
ACT = {"relu": relu, "leaky_relu": leaky_relu}


def mle_loss(logits, targets):
    return logits.sum() * 0  # wrong on purpose


def apply(name, x):
    return ACT[name](x)  # reaches the functions through a dict made at import


def loss_of(logits, targets):
    return mle_loss(logits, targets)


class MLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.weights = nn.ParameterList([nn.Parameter(torch.zeros(3, 2))])
        self.biases = [torch.zeros(2, requires_grad=True)]  # a plain list: not in state_dict()

    def forward(self, x):
        return x @ self.weights[0] + self.biases[0]


def train(model, x, y, *, epochs=1, lr=0.1, batch_size=2, seed=0):
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    for _ in range(epochs):
        for s in range(0, len(x), batch_size):
            loss = mle_loss(model(x[s:s + batch_size]), y[s:s + batch_size])
            opt.zero_grad()
            loss.backward()
            opt.step()
    return model
'''


def test_known_good_helpers_are_swapped_in_for_one_call_and_restored(sandboxed):
    s = sandboxed(SOURCE)
    x = torch.tensor([-2.0, 3.0])
    with s.known_good("relu", "leaky_relu"):
        assert torch.equal(s.apply("relu", x), torch.tensor([0.0, 3.0]))
        assert torch.allclose(s.apply("leaky_relu", x), torch.tensor([-0.2, 3.0]))
    assert torch.equal(s.apply("relu", x), torch.tensor([-1.0, -1.0]))
    assert torch.equal(s.apply("leaky_relu", x), torch.tensor([7.0, 7.0]))


def test_the_known_good_loss_can_score_permuted_labels_and_logs_batch_sizes(sandboxed):
    s = sandboxed(SOURCE)
    logits = torch.tensor([[5.0, 0.0, 0.0], [0.0, 5.0, 0.0]])
    targets = torch.tensor([0, 1])
    s.loss_log()
    with s.known_good("mle_loss"):
        right = float(s.loss_of(logits, targets))
    with s.known_good("mle_loss", label_map=[1, 2, 0]):
        shifted = float(s.loss_of(logits, targets))
    assert abs(right - float(torch.nn.functional.cross_entropy(logits, targets))) < 1e-6
    assert abs(shifted - float(torch.nn.functional.cross_entropy(logits, torch.tensor([1, 2])))) < 1e-6
    assert s.loss_log() == [2, 2] and s.loss_log() == []
    assert float(s.loss_of(logits, targets)) == 0.0  # the student's own again


def test_tensors_at_weights_and_biases_whatever_holds_them(sandboxed):
    s = sandboxed(SOURCE)
    model = s.MLP()
    new = {"weights.0": torch.arange(6.0).reshape(3, 2), "biases.0": torch.tensor([1.0, -1.0])}
    tensors, swapped = s.params(model, 1, new)
    assert not swapped and torch.equal(tensors["biases.0"], new["biases.0"])
    assert torch.equal(model.forward(torch.ones(1, 3)), torch.tensor([[7.0, 8.0]]))
    # gradients reach the plain-tensor bias too
    out, _, grads = s.vjp((model, "forward"), [torch.ones(1, 3)], wrt=[], params=1)
    assert set(grads) == {"weights.0", "biases.0"} and torch.equal(grads["biases.0"], torch.ones(2))


def test_train_on_the_grader_mlp_returns_it_and_its_parameters_come_back(sandboxed):
    s = sandboxed(SOURCE)
    weights = {"weights.0": torch.zeros(3, 2), "weights.1": torch.zeros(2, 2),
               "biases.0": torch.zeros(2), "biases.1": torch.zeros(2)}
    model = s.grader_mlp(weights)
    x, y = torch.randn(4, 3), torch.tensor([0, 0, 0, 0])
    with s.known_good("mle_loss"):
        got = s.train(model, x, y)
    assert s.same(got, model) and not s.same(got, s.grader_mlp(weights))
    after, _ = s.params(model, 2)
    assert not torch.equal(after["biases.1"], weights["biases.1"])  # the known-good loss trained it
