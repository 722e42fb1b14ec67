# Mutant for `grade check`: sigmoid_backward forgets the (1 - sigmoid(x)) factor.
import torch


def linear_backward(x, W, b, grad_out):
    """Gradients of out = x @ W + b: returns (grad_x, grad_W, grad_b), shaped like x, W and b."""
    return grad_out @ W.T, x.T @ grad_out, grad_out.sum(dim=0)


def sigmoid_backward(x, grad_out):
    """grad_out * sigmoid(x) * (1 - sigmoid(x)), stable for large |x|."""
    e = torch.exp(-x.abs())  # in (0, 1]: never overflows
    s = torch.where(x >= 0, 1 / (1 + e), e / (1 + e))
    return grad_out * s


def tanh_backward(x, grad_out):
    """grad_out * (1 - tanh(x)^2), stable for large |x|."""
    t = torch.exp(-2 * x.abs())  # in (0, 1]
    magnitude = (1 - t) / (1 + t)  # tanh(|x|)
    return grad_out * (1 - magnitude * magnitude)


def relu_backward(x, grad_out):
    """grad_out where x > 0, else 0."""
    return torch.where(x > 0, grad_out, torch.zeros_like(grad_out))


def leaky_relu_backward(x, grad_out, negative_slope=0.01):
    """grad_out where x > 0, else negative_slope * grad_out."""
    return torch.where(x > 0, grad_out, negative_slope * grad_out)


def softmax_mle_backward(logits, targets):
    """Gradient of the mean negative log-likelihood of softmax(logits) at targets, shaped like logits."""
    e = torch.exp(logits - logits.max(dim=-1, keepdim=True).values)
    p = e / e.sum(dim=-1, keepdim=True)
    one_hot = torch.zeros_like(p)
    one_hot[torch.arange(logits.shape[0]), targets] = 1
    return (p - one_hot) / logits.shape[0]


ACTIVATIONS = {
    "sigmoid": torch.sigmoid,
    "tanh": torch.tanh,
    "relu": torch.relu,
    "leaky_relu": lambda x: torch.where(x > 0, x, 0.01 * x),
}


BACKWARDS = {
    "sigmoid": sigmoid_backward,
    "tanh": tanh_backward,
    "relu": relu_backward,
    "leaky_relu": leaky_relu_backward,
}


def mlp_step(params, x, targets, lr, activation="relu"):
    """One gradient-descent step of the MLP on (x, targets): returns (new params as a list, loss before the step)."""
    W1, b1, W2, b2 = params
    pre = x @ W1 + b1
    h = ACTIVATIONS[activation](pre)
    logits = h @ W2 + b2
    loss = -torch.log_softmax(logits, dim=1)[torch.arange(x.shape[0]), targets].mean()
    grad_logits = softmax_mle_backward(logits, targets)
    grad_h, grad_W2, grad_b2 = linear_backward(h, W2, b2, grad_logits)
    grad_pre = BACKWARDS[activation](pre, grad_h)
    _, grad_W1, grad_b1 = linear_backward(x, W1, b1, grad_pre)
    grads = (grad_W1, grad_b1, grad_W2, grad_b2)
    return [p - lr * g for p, g in zip(params, grads)], loss


