# Wrong everywhere: every function returns the same constant whatever its input (finite, the right
# dtype, no gradient); train returns the model untouched. Its honest score is the blank release's plus
# the MLP parameter items.
import torch
import torch.nn as nn


def to_tensor(values):
    return torch.tensor(0.5)


def normalize(images):
    return torch.full((images.shape[0], 28, 28), 0.5)


def flatten(images):
    return torch.full((images.shape[0], 784), 0.5)


def one_hot(labels, num_classes=10):
    return torch.full((labels.shape[0], num_classes), 0.1)


def sigmoid(x):
    return torch.full_like(x, 0.5)


def tanh(x):
    return torch.full_like(x, 0.5)


def relu(x):
    return torch.full_like(x, 0.5)


def leaky_relu(x):
    return torch.full_like(x, 0.5)


def linear(x, W, b):
    return torch.full((x.shape[0], W.shape[1]), 0.5, dtype=x.dtype)


class MLP(nn.Module):
    def __init__(self, sizes=(784, 128, 64, 10), activation="relu"):
        super().__init__()
        self.weights = nn.ParameterList([nn.Parameter(torch.randn(a, b) * 0.01) for a, b in zip(sizes[:-1], sizes[1:])])
        self.biases = nn.ParameterList([nn.Parameter(torch.zeros(b)) for b in sizes[1:]])

    def forward(self, x):
        return torch.full((x.shape[0], self.biases[-1].shape[0]), 0.5)


def softmax(logits):
    return torch.full_like(logits, 1.0 / logits.shape[-1])


def mle_loss(logits, targets):
    return torch.tensor(2.3, dtype=logits.dtype)


def predict(logits):
    return torch.zeros(logits.shape[:-1], dtype=torch.int64)


def accuracy(logits, targets):
    return 0.5


def train(model, images, labels, *, epochs=3, lr=1e-3, batch_size=128, seed=0):
    return model
