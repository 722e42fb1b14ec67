# MNIST MLP assignment
# Correct variant (b) of the corpus: torch.where branches, rows stacked by hand, torch.eye one-hot,
# relu as x * (x > 0), leaky as torch.maximum, an MLP that keeps its activation by name, einsum
# layers, a loss through one_hot, and manual batching with a torch.Generator and plain SGD (the spec
# allows any torch.optim optimizer; the grader's lr must suit it too).

import torch
import torch.nn as nn

NUM_CLASSES = 10


def to_tensor(values):
    t = torch.tensor(values)
    return t.to(torch.float32)


def normalize(images):
    return (images.to(torch.float32) - 127.5) / 127.5


def flatten(images):
    # each image: its 28 rows one after the other; then the images stacked into a batch
    return torch.stack([torch.cat([row for row in image]) for image in images])


def one_hot(labels, num_classes=NUM_CLASSES):
    return torch.eye(num_classes, device=labels.device)[labels]


def sigmoid(x):
    pos = 1 / (1 + torch.exp(-x.clamp(min=0)))
    e = torch.exp(x.clamp(max=0))
    neg = e / (1 + e)
    return torch.where(x >= 0, pos, neg)


def tanh(x):
    return 2 * sigmoid(2 * x) - 1


def relu(x):
    return x * (x > 0)


def leaky_relu(x):
    return torch.maximum(0.1 * x, x)


def linear(x, W, b):
    return torch.einsum("ni,io->no", x, W) + b


class MLP(nn.Module):
    def __init__(self, sizes=(784, 128, 64, 10), activation="relu"):
        super(MLP, self).__init__()
        if activation not in ("sigmoid", "tanh", "relu", "leaky_relu"):
            raise ValueError(activation)
        self.activation = activation
        self.weights = nn.ParameterList(
            [nn.Parameter(nn.init.xavier_uniform_(torch.empty(sizes[i], sizes[i + 1])))
             for i in range(len(sizes) - 1)])
        self.biases = nn.ParameterList([nn.Parameter(torch.zeros(sizes[i + 1])) for i in range(len(sizes) - 1)])

    def _act(self, h):
        if self.activation == "sigmoid":
            return sigmoid(h)
        elif self.activation == "tanh":
            return tanh(h)
        elif self.activation == "leaky_relu":
            return leaky_relu(h)
        return relu(h)

    def forward(self, x):
        n_layers = len(self.weights)
        hidden = [x]
        for i in range(n_layers):
            z = linear(hidden[-1], self.weights[i], self.biases[i])
            hidden.append(z if i == n_layers - 1 else self._act(z))
        return hidden[-1]


def softmax(logits):
    e = torch.exp(logits - logits.amax(-1, keepdim=True))
    return e / e.sum(-1, keepdim=True)


def mle_loss(logits, targets):
    log_p = logits - torch.logsumexp(logits, -1, keepdim=True)
    mask = one_hot(targets, logits.shape[-1])
    return -(mask * log_p).sum(-1).mean()


def predict(logits):
    return torch.max(logits, dim=-1).indices


def accuracy(logits, targets):
    return float((predict(logits) == targets).sum()) / len(targets)


def train(model, images, labels, *, epochs=3, lr=1e-3, batch_size=128, seed=0):
    gen = torch.Generator(device="cpu")
    gen.manual_seed(seed)
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    history = []
    n = len(images)
    for epoch in range(epochs):
        order = torch.randperm(n, generator=gen).to(images.device)
        for idx in order.split(batch_size):
            opt.zero_grad(set_to_none=True)
            loss = mle_loss(model(images[idx]), labels[idx])
            loss.backward()
            opt.step()
            history.append(float(loss))
        print(f"epoch {epoch + 1}: last loss {history[-1]:.4f}")
    return model


# quick checks I ran while working
print(sigmoid(torch.tensor([-1e4, 0.0, 1e4])))
print(accuracy(torch.eye(3), torch.tensor([0, 1, 1])))
model = MLP()
print(sum(p.numel() for p in model.parameters()))
