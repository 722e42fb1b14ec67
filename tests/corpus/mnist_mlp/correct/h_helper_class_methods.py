"""Correct variant (h) of the corpus, written from the spec alone: the activations, softmax and the
loss are methods of the submission's own helper class, exported under the contract's names
(`sigmoid = _ops.sigmoid`); tanh calls the class's own sigmoid, leaky_relu its own relu, mle_loss its
own log_softmax. Methods named like torch's built-ins are the student's own: full marks."""
import torch
import torch.nn as nn


class Ops:
    """Every formula of the assignment in one place."""

    def sigmoid(self, x):
        e = torch.exp(-x.abs())  # never overflows
        return torch.where(x >= 0, 1 / (1 + e), e / (1 + e))

    def tanh(self, x):
        return 2 * self.sigmoid(2 * x) - 1

    def relu(self, x):
        return torch.maximum(x, torch.zeros_like(x))

    def leaky_relu(self, x):
        return self.relu(x) - 0.1 * self.relu(-x)

    def softmax(self, z):
        e = torch.exp(z - z.amax(dim=-1, keepdim=True))
        return e / e.sum(dim=-1, keepdim=True)

    def log_softmax(self, z):
        return z - torch.logsumexp(z, dim=-1, keepdim=True)

    @staticmethod
    def linear(x, W, b):
        return x.matmul(W) + b


_ops = Ops()
sigmoid = _ops.sigmoid
tanh = _ops.tanh
relu = _ops.relu
leaky_relu = _ops.leaky_relu
softmax = _ops.softmax
linear = Ops.linear


def to_tensor(values):
    return torch.tensor(values, dtype=torch.float32)


def normalize(images):
    return images.float() / 127.5 - 1.0


def flatten(images):
    return images.reshape(len(images), -1)


def one_hot(labels, num_classes=10):
    out = torch.zeros(labels.shape[0], num_classes, device=labels.device)
    out[torch.arange(labels.shape[0], device=labels.device), labels] = 1.0
    return out


class MLP(nn.Module):
    def __init__(self, sizes=(784, 128, 64, 10), activation="relu"):
        super().__init__()
        if activation not in ("sigmoid", "tanh", "relu", "leaky_relu"):
            raise ValueError(f"unknown activation {activation!r}")
        self.act = getattr(_ops, activation)
        self.weights = nn.ParameterList()
        self.biases = nn.ParameterList()
        for d_in, d_out in zip(sizes[:-1], sizes[1:]):
            self.weights.append(nn.Parameter(torch.randn(d_in, d_out) * (2 / d_in) ** 0.5))
            self.biases.append(nn.Parameter(torch.zeros(d_out)))

    def forward(self, x):
        n = len(self.weights)
        for i in range(n):
            x = linear(x, self.weights[i], self.biases[i])
            if i < n - 1:
                x = self.act(x)
        return x


def mle_loss(logits, targets):
    picked = _ops.log_softmax(logits).gather(1, targets.view(-1, 1))
    return -picked.mean()


def predict(logits):
    return logits.argmax(dim=-1)


def accuracy(logits, targets):
    return float((predict(logits) == targets).float().mean())


def train(model, images, labels, *, epochs=3, lr=1e-3, batch_size=128, seed=0):
    torch.manual_seed(seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    n = images.shape[0]
    for _ in range(epochs):
        perm = torch.randperm(n, device=images.device)
        for i in range(0, n, batch_size):
            idx = perm[i:i + batch_size]
            loss = mle_loss(model(images[idx]), labels[idx])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    return model
