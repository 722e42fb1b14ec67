"""What a training check shows below full credit: hints for recognisable training mistakes, each read off
the run that was graded (the weights before and after, the training loss); the feedback's, never the score's."""

from __future__ import annotations

import math

import torch

LN10 = math.log(10)  # the loss of a model that learned nothing about which image is which class


def measured_hints(start: dict[str, torch.Tensor], end: dict[str, torch.Tensor], before: float,
                   after: float) -> list[str]:
    """Mistakes the run shows: no weight moved (no optimizer.step(), or an optimizer over other
    parameters), the loss went up (a sign error, or lr far too large) or settled at ln(10) (the labels
    shuffled apart from their images). `start`/`end` are the parameters by name, `before`/`after` the
    training loss."""
    found = []
    moved = [k for k, w in start.items() if k in end and end[k].shape == w.shape and not torch.equal(end[k].cpu(), w)]
    if end and not moved:
        found.append("train() left every weight exactly as it was: is optimizer.step() called, on "
                     "model.parameters()?")
    elif math.isfinite(before) and math.isfinite(after) and after > before + 0.01:
        found.append("the training loss went up: is the gradient followed downhill (loss.backward(), then "
                     "optimizer.step()), with lr as given?")
    elif math.isfinite(after) and abs(after - LN10) < 0.05 and before > after:
        found.append(f"the training loss settled near ln(10) = {LN10:.3f}, what a model that cannot tell the "
                     "classes apart gets: are the labels kept with their images when the data is shuffled?")
    if math.isfinite(before) and not math.isfinite(after):
        found.append("the weights became NaN or inf: a loss that is not stable (subtract the max), or lr too large")
    return found
