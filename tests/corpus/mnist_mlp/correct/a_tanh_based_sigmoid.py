"""PyTorch Tutorial I: MNIST MLP -- my solution as a plain script.

Correct variant (a) of the corpus: sigmoid from my own tanh, softmax as exp(x - logsumexp(x)),
mle_loss as a gather of log-probabilities, flatten with view, a DataLoader over index batches.
Everything keeps the input's dtype (float64 in, float64 out).
"""
import math

import torch
from torch import nn
from torch.utils.data import BatchSampler, DataLoader, RandomSampler, TensorDataset


# ---- Part 1 -------------------------------------------------------------------------------------

def to_tensor(values):
    return torch.as_tensor(values, dtype=torch.float32)


def normalize(images):
    # [0, 255] -> [0, 2] -> [-1, 1]
    return images.float().div(255.0).mul(2.0).sub(1.0)


def flatten(images):
    n = images.size(0)
    return images.contiguous().view(n, -1)


def one_hot(labels, num_classes=10):
    classes = torch.arange(num_classes, device=labels.device)
    return (labels.unsqueeze(1) == classes).to(torch.float32)


# ---- Part 2 -------------------------------------------------------------------------------------

def tanh(x):
    # tanh(x) = sign(x) * (1 - e^{-2|x|}) / (1 + e^{-2|x|}): the exponent is never positive
    e = torch.exp(-2 * x.abs())
    return torch.sign(x) * (1 - e) / (1 + e)


def sigmoid(x):
    # sigmoid(x) = (1 + tanh(x / 2)) / 2
    return 0.5 * (1 + tanh(x / 2))


def relu(x):
    return torch.where(x > 0, x, torch.zeros_like(x))


def leaky_relu(x):
    return torch.where(x > 0, x, x * 0.1)


# ---- Part 3 -------------------------------------------------------------------------------------

def linear(x, W, b):
    return torch.addmm(b, x, W)


class MLP(nn.Module):
    def __init__(self, sizes=(784, 128, 64, 10), activation="relu"):
        super().__init__()
        acts = dict(sigmoid=sigmoid, tanh=tanh, relu=relu, leaky_relu=leaky_relu)
        self.act = acts[activation]
        self.weights = nn.ParameterList()
        self.biases = nn.ParameterList()
        for fan_in, fan_out in zip(sizes, sizes[1:]):
            # He initialisation for the weights, zero biases
            self.weights.append(nn.Parameter(torch.randn(fan_in, fan_out) * math.sqrt(2.0 / fan_in)))
            self.biases.append(nn.Parameter(torch.zeros(fan_out)))

    def forward(self, x):
        layers = list(zip(self.weights, self.biases))
        for W, b in layers[:-1]:
            x = self.act(linear(x, W, b))
        W, b = layers[-1]
        return linear(x, W, b)


# ---- Part 4 -------------------------------------------------------------------------------------

def softmax(logits):
    return torch.exp(logits - torch.logsumexp(logits, dim=-1, keepdim=True))


def mle_loss(logits, targets):
    log_probs = logits - logits.logsumexp(dim=1, keepdim=True)
    nll = -torch.gather(log_probs, 1, targets.view(-1, 1))
    return nll.mean()


def predict(logits):
    return torch.argmax(logits, dim=-1)


def accuracy(logits, targets):
    return (predict(logits) == targets).float().mean().item()


# ---- Part 5 -------------------------------------------------------------------------------------

def train(model, images, labels, *, epochs=3, lr=1e-3, batch_size=128, seed=0):
    g = torch.Generator()
    g.manual_seed(seed)
    # A sampler of whole index batches: one indexing per batch instead of one per sample.
    batches = BatchSampler(RandomSampler(range(len(images)), generator=g), batch_size, drop_last=False)
    loader = DataLoader(TensorDataset(images, labels), sampler=batches, batch_size=None)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr)
    for epoch in range(epochs):
        total = 0.0
        for xb, yb in loader:
            optimizer.zero_grad()
            loss = mle_loss(model(xb), yb)
            loss.backward()
            optimizer.step()
            total += loss.item()
    return model


if __name__ == "__main__":
    model = MLP()
    x = torch.rand(5, 784) * 2 - 1
    print(softmax(model(x)).sum(dim=1))
