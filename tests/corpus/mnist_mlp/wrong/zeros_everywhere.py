# Wrong everywhere: every function returns zeros of the right shape and dtype, tied to its inputs with
# weight 0 (so gradients exist and are finite); the MLP has the contract's parameters but its forward
# pass returns zeros; train returns the model untouched. Its honest score is the blank release's plus
# the MLP parameter items.
import torch
import torch.nn as nn


def to_tensor(values):
    return torch.tensor(values, dtype=torch.float32) * 0


def normalize(images):
    return images.to(torch.float32) * 0


def flatten(images):
    return images.reshape(images.shape[0], -1) * 0


def one_hot(labels, num_classes=10):
    return torch.zeros(labels.shape[0], num_classes, dtype=torch.float32, device=labels.device)


def sigmoid(x):
    return x * 0


def tanh(x):
    return x * 0


def relu(x):
    return x * 0


def leaky_relu(x):
    return x * 0


def linear(x, W, b):
    return (x @ W + b) * 0


class MLP(nn.Module):
    def __init__(self, sizes=(784, 128, 64, 10), activation="relu"):
        super().__init__()
        self.weights = nn.ParameterList([nn.Parameter(torch.randn(a, b) * 0.01) for a, b in zip(sizes[:-1], sizes[1:])])
        self.biases = nn.ParameterList([nn.Parameter(torch.zeros(b)) for b in sizes[1:]])

    def forward(self, x):
        h = x
        for W, b in zip(self.weights, self.biases):
            h = (h @ W + b) * 0
        return h


def softmax(logits):
    return logits * 0


def mle_loss(logits, targets):
    return (logits * 0).sum()


def predict(logits):
    return torch.zeros(logits.shape[:-1], dtype=torch.int64, device=logits.device)


def accuracy(logits, targets):
    return 0.0


def train(model, images, labels, *, epochs=3, lr=1e-3, batch_size=128, seed=0):
    torch.manual_seed(seed)
    return model
