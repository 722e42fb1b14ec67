"""Threat 19: banned built-ins through private kernels that are on no deny-list: leaky_relu is
torch._prelu_kernel with slope 0.1, softmax is torch._masked_softmax with an empty mask, mle_loss is
torch._C._nn.cross_entropy_loss. Each gives the right values and is not from the formula. Honest: the
three functions' value, stability and gradient items, none of their formula items; nothing else is
implemented."""
import torch


def leaky_relu(x):
    return torch._prelu_kernel(x, torch.full((1,), 0.1, dtype=x.dtype, device=x.device))


def softmax(logits):
    return torch._masked_softmax(logits, torch.zeros_like(logits, dtype=torch.bool), -1, None)


def mle_loss(logits, targets):
    return torch._C._nn.cross_entropy_loss(logits, targets, None, 1, -100, 0.0)
