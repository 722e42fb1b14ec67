"""Suite helper: hand a student's MLP known weights in whatever layout it stores them, and map back.

A model that keeps W_l as (d_out, d_in), the nn.Linear habit, breaks the parameter contract and loses
that item; its forward pass and gradients are still judged on their own, with the same weights
transposed into its layout, so that one mistake costs its own points and no others.
"""

from __future__ import annotations

import math

import torch

from grader.sandbox.faults import StudentError


def mlp_weights(rng: torch.Generator, sizes) -> dict[str, torch.Tensor]:
    """Contract-shaped random weights: weights.l (sizes[l], sizes[l+1]) and biases.l (sizes[l+1],)."""
    weights = {}
    for l, (d_in, d_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        weights[f"weights.{l}"] = torch.randn(d_in, d_out, generator=rng) / math.sqrt(d_in)
        weights[f"biases.{l}"] = torch.randn(d_out, generator=rng) * 0.1
    return weights


def transposed_keys(model, weights: dict[str, torch.Tensor]) -> frozenset[str]:
    """The 2-D, non-square keys the model stores with their two dimensions swapped."""
    try:
        state = model.state_dict()
    except StudentError:
        return frozenset()  # the load that follows fails with the student's own error
    if not isinstance(state, dict):
        return frozenset()
    return frozenset(
        key for key, w in weights.items()
        if w.dim() == 2 and w.shape[0] != w.shape[1] and isinstance(state.get(key), torch.Tensor)
        and tuple(state[key].shape) == (w.shape[1], w.shape[0]))


def load_weights(model, weights: dict[str, torch.Tensor]) -> frozenset[str]:
    """model.load_state_dict(weights) in the model's own layout; returns the keys loaded transposed."""
    swapped = transposed_keys(model, weights)
    model.load_state_dict({k: w.T.contiguous() if k in swapped else w for k, w in weights.items()})
    return swapped


def mlp_from_grader_weights(student, sizes, seed: int):
    """student.MLP(sizes) after student.seed(seed), started from the grader's weights for that seed."""
    student.seed(seed)
    model = student.MLP(tuple(sizes))
    start_from_grader_weights(model, sizes, seed)
    return model


def start_from_grader_weights(model, sizes, seed: int) -> None:
    """Load seeded contract weights (mlp_weights) into the model, in its layout, before a training check.

    The spec leaves the initialisation to the student, and plain SGD from a tiny init (randn * 0.01)
    learns far more slowly than Adam from it: starting every training check from the same weights
    makes the init cost nothing. A model whose parameters cannot be loaded keeps its own init (the
    parameter items already say why)."""
    try:
        load_weights(model, mlp_weights(torch.Generator().manual_seed(int(seed)), sizes))
    except StudentError:
        pass


def in_contract_layout(grads: dict, swapped: frozenset[str]) -> dict:
    """Gradients keyed like the weights, transposed back where the model stores a key transposed."""
    if not isinstance(grads, dict):
        return grads
    return {k: g.T if k in swapped and isinstance(g, torch.Tensor) and g.dim() == 2 else g
            for k, g in grads.items()}
