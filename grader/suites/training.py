"""What a training check shows below full credit: the training loss and hints for recognisable mistakes, each measured from runs of the student's train(); the feedback's, never the score's."""

from __future__ import annotations

import math

import torch

from grader.sandbox.faults import SubmissionFault
from grader.suites.student import Remote

# Counted in the sandbox during a small diagnostic run of train() (grader.inside.worker._counting).
WATCH = ("torch.optim.Optimizer.zero_grad", "torch.nn.Module.zero_grad", "torch.optim.*.step")


def state(model) -> dict | None:
    """The model's tensors by name, or None where state_dict() fails."""
    try:
        got = model.state_dict()
    except SubmissionFault:
        return None
    return {k: v for k, v in got.items() if isinstance(v, torch.Tensor)} if isinstance(got, dict) else None


def same(a: dict | None, b: dict | None) -> bool:
    return bool(a) and bool(b) and a.keys() == b.keys() and all(
        a[k].shape == b[k].shape and torch.equal(a[k].cpu(), b[k].cpu()) for k in a)


def training_loss(model, images, labels: torch.Tensor) -> float | None:
    """Mean NLL of the model's logits on images (in the sandbox) against labels (here), or None."""
    try:
        logits = model.forward(images)
    except SubmissionFault:
        return None
    if not isinstance(logits, torch.Tensor) or logits.shape != (labels.shape[0], 10):
        return None
    return float(torch.nn.functional.cross_entropy(logits.double().cpu(), labels))


def loss_text(before: float | None, after: float | None, n: int) -> list[str]:
    if before is None or after is None:
        return []
    return [f"training loss (mean NLL on those {n} images): {before:.4f} before training, {after:.4f} after"]


def hints(student, start, end, before, after, *, fresh_model, data) -> list[str]:
    """Training mistakes, each measured: train() left the weights unchanged, the loss went up or ended at
    ln(10) (labels apart from their images), optimizer steps without zero_grad (counted on a small run),
    lr making no difference (two small runs from the same weights). fresh_model() gives a model from
    the grader's weights; data is a small (x, y) problem for the diagnostic runs."""
    if start is None or end is None:
        return []
    if same(start, end):
        return ["hint: train() left every weight exactly as it was: is optimizer.step() called, on an optimizer "
                "built over model.parameters()?"]
    found = []
    if before is not None and after is not None and after > before:
        found.append("hint: the training loss went up: is the loss minimised (loss.backward(), then a step), "
                     "and are images and labels shuffled with the same permutation?")
    elif after is not None and abs(after - math.log(10)) < 0.02:
        found.append(f"hint: the loss ended at {after:.4f}, about ln(10) = 2.3026: the model learned to give every "
                     "class the same probability, as when the labels say nothing about the images; are images "
                     "and labels indexed with the same permutation?")
    x, y = data
    recipe = dict(epochs=1, batch_size=32, seed=17)
    try:
        first = fresh_model()
        got, counts = student.counting("train", first, x, y, lr=1e-2, **recipe, watch=WATCH)
        first = got if isinstance(got, Remote) else first
        second = fresh_model()
        got = student.train(second, x, y, lr=1e-1, **recipe)
        lr_ignored = same(state(first), state(got if isinstance(got, Remote) else second))
    except SubmissionFault:
        return found
    steps = counts["torch.optim.*.step"]
    if steps and not counts["torch.optim.Optimizer.zero_grad"] + counts["torch.nn.Module.zero_grad"]:
        found.append(f"hint: train() took {steps} optimizer steps on {len(x)} samples in minibatches of 32 and "
                     "never called optimizer.zero_grad(): PyTorch adds each minibatch's gradients to the ones "
                     "before, so every step follows the sum of all gradients so far")
    if lr_ignored:
        found.append("hint: train(..., lr=0.01) and train(..., lr=0.1) from the same weights gave exactly the same "
                     "weights: the lr argument is not used (build the optimizer with lr=lr)")
    return found
