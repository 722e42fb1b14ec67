# Mutant for `grade check`: train computes the loss and its gradients but never calls optimizer.step().
# Its exact score is recorded in tests/corpus/mnist_mlp/mutants.toml.
import math
import torch
import torch.nn as nn
def to_tensor(values):
    """Return a float32 tensor built from a (nested) Python list of numbers."""
    # BEGIN SOLUTION
    # Fix the dtype: without it, a list of ints would become an int64 tensor.
    return torch.tensor(values, dtype=torch.float32)
def normalize(images):
    """uint8 (N, 28, 28) in [0, 255] -> float32 in [-1, 1] via images / 127.5 - 1."""
    # BEGIN SOLUTION
    # Convert first: arithmetic on uint8 would wrap around or truncate.
    return images.to(torch.float32) / 127.5 - 1
def flatten(images):
    """(N, 28, 28) -> (N, 784): stack the rows in order, out[i, 28*r + c] == images[i, r, c]."""
    # BEGIN SOLUTION
    # A contiguous tensor is stored row-major, so reshape stacks the rows exactly as required;
    # keeping images.shape[0] preserves the batch dimension (even when N == 1).
    return images.reshape(images.shape[0], -1)
def one_hot(labels, num_classes=10):
    """int64 (N,) -> float32 (N, num_classes) with a single 1 in column labels[i] of row i."""
    # BEGIN SOLUTION
    # Create the zeros on the labels' device so this also works for CUDA tensors.
    out = torch.zeros(labels.shape[0], num_classes, dtype=torch.float32, device=labels.device)
    # scatter_ writes 1.0 into row i, column labels[i].
    out.scatter_(1, labels.reshape(-1, 1).long(), 1.0)
    return out
def sigmoid(x):
    """Sigmoid 1 / (1 + exp(-x)), elementwise; stable for large |x|."""
    # BEGIN SOLUTION
    # |x| written with torch.where so that its gradient at 0 is 1 (torch.abs has gradient 0
    # there), which keeps sigmoid'(0) = 1/4 exact.
    abs_x = torch.where(x >= 0, x, -x)
    e = torch.exp(-abs_x)  # in (0, 1]: can never overflow
    return torch.where(x >= 0, 1 / (1 + e), e / (1 + e))
def tanh(x):
    """Tanh (e^x - e^-x) / (e^x + e^-x), elementwise; stable for large |x|."""
    # BEGIN SOLUTION
    abs_x = torch.where(x >= 0, x, -x)  # |x| with gradient 1 at 0, so tanh'(0) = 1
    t = torch.exp(-2 * abs_x)           # in (0, 1]: can never overflow
    magnitude = (1 - t) / (1 + t)       # tanh(|x|)
    # tanh is odd: tanh(-x) = -tanh(x).
    return torch.where(x >= 0, magnitude, -magnitude)
def relu(x):
    """ReLU: max(x, 0), elementwise."""
    # BEGIN SOLUTION
    # clamp keeps the dtype and device of x and needs no extra zero tensor.
    return torch.clamp(x, min=0)
def leaky_relu(x):
    """LeakyReLU: max(0.1 * x, x), elementwise (slope 0.1 for negative inputs)."""
    # BEGIN SOLUTION
    # For x >= 0 the max is x, for x < 0 it is 0.1 * x.
    return torch.where(x >= 0, x, 0.1 * x)
ACTIVATIONS = {"sigmoid": sigmoid, "tanh": tanh, "relu": relu, "leaky_relu": leaky_relu}
def linear(x, W, b):
    """Affine layer: x (N, d_in) @ W (d_in, d_out) + b (d_out,) -> (N, d_out), i.e. W^T x_i + b."""
    # BEGIN SOLUTION
    # Row i of x @ W is (W^T x_i)^T; b broadcasts over the N rows.
    return x @ W + b
class MLP(nn.Module):
    """Multi-layer perceptron: h_l = act(W_l^T h_{l-1} + b_l), logits = W_out^T h_L + b_out."""

    def __init__(self, sizes=(784, 128, 64, 10), activation="relu"):
        """Create weights[l] (sizes[l], sizes[l+1]) and biases[l] (sizes[l+1],) for every layer."""
        # BEGIN SOLUTION
        super().__init__()  # must run before any parameter is assigned to the module
        if activation not in ACTIVATIONS:
            raise ValueError(
                f"unknown activation {activation!r}; expected one of {sorted(ACTIVATIONS)}"
            )
        sizes = tuple(int(s) for s in sizes)
        if len(sizes) < 2:
            raise ValueError("sizes needs at least an input and an output size")
        self.sizes = sizes
        self.activation = activation
        self.act = ACTIVATIONS[activation]

        # ParameterList registers each tensor, so parameters() and state_dict() see them
        # under the keys weights.0, weights.1, ... and biases.0, biases.1, ...
        self.weights = nn.ParameterList()
        self.biases = nn.ParameterList()
        for d_in, d_out in zip(sizes[:-1], sizes[1:]):
            bound = 1 / math.sqrt(d_in)
            # uniform_ draws from torch's global RNG, so torch.manual_seed makes this repeatable.
            W = torch.empty(d_in, d_out).uniform_(-bound, bound)
            b = torch.empty(d_out).uniform_(-bound, bound)
            self.weights.append(nn.Parameter(W))
            self.biases.append(nn.Parameter(b))
        # END SOLUTION

    def forward(self, x):
        """x (N, sizes[0]) -> logits (N, sizes[-1]); activation after every layer but the last."""
        # BEGIN SOLUTION
        h = x
        last = len(self.weights) - 1
        for l, (W, b) in enumerate(zip(self.weights, self.biases)):
            h = linear(h, W, b)
            if l < last:  # the output layer stays linear: logits may be any real number
                h = self.act(h)
        return h
def softmax(logits):
    """Softmax along the last dim: positive entries, each row sums to 1; stable for large logits."""
    # BEGIN SOLUTION
    # Subtracting the row max leaves softmax unchanged and keeps every exponent <= 0.
    shifted = logits - logits.max(dim=-1, keepdim=True).values
    e = torch.exp(shifted)
    return e / e.sum(dim=-1, keepdim=True)
def predict(logits):
    """int64 argmax over the last dim: the most probable class of each row."""
    # BEGIN SOLUTION
    return logits.argmax(dim=-1)
def accuracy(logits, targets):
    """Python float: fraction of rows where predict(logits) equals the target."""
    # BEGIN SOLUTION
    correct = predict(logits) == targets
    # .item() turns the 0-d tensor into a plain Python float.
    return correct.float().mean().item()
def mle_loss(logits, targets):
    """Mean negative log-likelihood: mean_i -log softmax(logits)[i, targets[i]], via log-sum-exp."""
    # BEGIN SOLUTION
    # log softmax(t)_c = t_c - logsumexp(t); torch.logsumexp subtracts the max internally.
    log_probs = logits - torch.logsumexp(logits, dim=-1, keepdim=True)
    # gather picks, in each row i, the log-probability of the true class targets[i].
    picked = log_probs.gather(-1, targets.long().unsqueeze(-1)).squeeze(-1)
    return -picked.mean()
def train(model, images, labels, *, epochs=3, lr=1e-3, batch_size=128, seed=0):
    """Minibatch training of model on (images (N, 784), labels (N,)) with mle_loss; returns model."""
    # BEGIN SOLUTION
    torch.manual_seed(seed)                       # anything drawn from the global RNG repeats
    g = torch.Generator().manual_seed(seed)       # our own generator for the shuffling order
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    n = images.shape[0]
    model.train()
    for _ in range(epochs):
        # A fresh random order every epoch; drawn on the CPU, then moved to the data's device.
        perm = torch.randperm(n, generator=g).to(images.device)
        for start in range(0, n, batch_size):
            idx = perm[start:start + batch_size]
            xb, yb = images[idx], labels[idx]
            loss = mle_loss(model(xb), yb)
            optimizer.zero_grad()   # gradients accumulate, so clear the last step's first
            loss.backward()         # autograd: d loss / d parameter for every parameter
    return model
