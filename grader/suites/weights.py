"""Suite helper: hand a student's MLP known weights in whatever layout it stores them, and map back.

A model that keeps W_l as (d_out, d_in), the nn.Linear habit, or its biases in a plain list, breaks the
parameter contract and loses that item; its forward pass and gradients are still judged on their own,
with the same weights written into the tensors it holds at weights[l] and biases[l] (transposed where
it stores them so), so that one mistake costs its own points and no others.
"""

from __future__ import annotations

import math

import torch

# The student's functions a train() may call: known-good while train() is graded (student.known_good),
# so that a broken mle_loss or relu costs its own items, not train()'s.
TRAIN_HELPERS = ("mle_loss", "softmax", "predict", "accuracy", "linear", "sigmoid", "tanh", "relu", "leaky_relu")


def mlp_weights(rng: torch.Generator, sizes) -> dict[str, torch.Tensor]:
    """Contract-shaped random weights: weights.l (sizes[l], sizes[l+1]) and biases.l (sizes[l+1],)."""
    weights = {}
    for l, (d_in, d_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        weights[f"weights.{l}"] = torch.randn(d_in, d_out, generator=rng) / math.sqrt(d_in)
        weights[f"biases.{l}"] = torch.randn(d_out, generator=rng) * 0.1
    return weights


def load_weights(model, weights: dict[str, torch.Tensor]) -> frozenset[str]:
    """Write contract weights into the tensors at model.weights[l] and model.biases[l], in the model's
    own layout (not through load_state_dict, whose keys a model with unregistered biases lacks);
    returns the keys the model stores transposed."""
    _, swapped = model._student.params(model, len(weights) // 2, weights)
    return swapped


def read_weights(model, layers: int | None = None) -> dict[str, torch.Tensor]:
    """The model's tensors at weights[l] and biases[l] (every layer it has by default), as it holds them
    (the sandbox reports which it stores transposed only when it writes them: load_weights)."""
    return model._student.params(model, layers)[0]


def relu_logits(weights: dict[str, torch.Tensor], x: torch.Tensor, dtype=torch.float64) -> torch.Tensor:
    """The logits of the contract's relu MLP with these weights, computed in the grader."""
    n = len(weights) // 2
    h = x.to(dtype)
    for l in range(n):
        h = h @ weights[f"weights.{l}"].to(dtype).cpu() + weights[f"biases.{l}"].to(dtype).cpu()
        if l < n - 1:
            h = h.clamp(min=0)
    return h


def in_contract_layout(grads: dict, swapped: frozenset[str]) -> dict:
    """Gradients keyed like the weights, transposed back where the model stores a key transposed."""
    if not isinstance(grads, dict):
        return grads
    return {k: g.T if k in swapped and isinstance(g, torch.Tensor) and g.dim() == 2 else g
            for k, g in grads.items()}
