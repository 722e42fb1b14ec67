# Correct variant written from the spec alone: compact idioms (eye-indexing one_hot, sigmoid through
# the student's own tanh, advanced-indexing loss), Nesterov SGD, a tqdm trange over the epochs.
import math

import torch
from torch import nn
from tqdm import trange


def to_tensor(values):
    return torch.tensor(values).to(torch.float32)


def normalize(images):
    return images.double().div(127.5).sub(1).float()


def flatten(images):
    return torch.stack([torch.cat(list(image)) for image in images])


def one_hot(labels, num_classes=10):
    return torch.eye(num_classes, device=labels.device)[labels]


def tanh(x):
    e = torch.exp(-2 * x.abs())
    return torch.sign(x) * (1 - e) / (1 + e)


def sigmoid(x):
    return 0.5 * (1 + tanh(x / 2))


def relu(x):
    return x.clamp_min(0)


def leaky_relu(x):
    return torch.where(x > 0, x, x * 0.1)


def linear(x, W, b):
    return x @ W + b


class MLP(nn.Module):
    def __init__(self, sizes=(784, 128, 64, 10), activation="relu"):
        super().__init__()
        self.activation = activation
        self.weights, self.biases = nn.ParameterList(), nn.ParameterList()
        for d_in, d_out in zip(sizes, sizes[1:]):
            bound = math.sqrt(6 / (d_in + d_out))
            self.weights.append(nn.Parameter(torch.empty(d_in, d_out).uniform_(-bound, bound)))
            self.biases.append(nn.Parameter(torch.zeros(d_out)))

    def forward(self, x):
        act = {"sigmoid": sigmoid, "tanh": tanh, "relu": relu, "leaky_relu": leaky_relu}[self.activation]
        for i in range(len(self.weights)):
            x = linear(x, self.weights[i], self.biases[i])
            if i + 1 < len(self.weights):
                x = act(x)
        return x


def softmax(logits):
    z = logits - logits.amax(dim=-1, keepdim=True)
    e = z.exp()
    return e / e.sum(dim=-1, keepdim=True)


def mle_loss(logits, targets):
    rows = torch.arange(len(targets), device=logits.device)
    return (torch.logsumexp(logits, dim=-1) - logits[rows, targets]).mean()


def predict(logits):
    return logits.argmax(-1)


def accuracy(logits, targets):
    return (predict(logits) == targets).sum().item() / len(targets)


def train(model, images, labels, *, epochs=3, lr=1e-3, batch_size=128, seed=0):
    g = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9, nesterov=True)
    n = len(images)
    for _ in trange(epochs, leave=False):
        order = torch.randperm(n, generator=g).to(images.device)
        for i in range(0, n, batch_size):
            batch = order[i:i + batch_size]
            loss = mle_loss(model(images[batch]), labels[batch])
            opt.zero_grad()
            loss.backward()
            opt.step()
    return model
