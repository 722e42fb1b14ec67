"""What a training check shows below full credit: hints for recognisable training mistakes, each read off
the run that was graded (the weights before and after, the training loss); the feedback's, never the score's."""

from __future__ import annotations

import math

import torch

LN10 = math.log(10)  # the loss of a model that learned nothing about which image is which class


ACCUMULATED = 10.0  # a gradient held after train() this many times one minibatch's was summed over steps


def measured_hints(start: dict[str, torch.Tensor], end: dict[str, torch.Tensor], before: float,
                   after: float, held_gradient: float | None = None) -> list[str]:
    """Mistakes the run shows: no weight moved (no optimizer.step(), or an optimizer over other
    parameters), the loss went up (a sign error, or lr far too large) or settled at ln(10) (the labels
    shuffled apart from their images), the gradients summed over the steps (no zero_grad()).
    `start`/`end` are the parameters by name, `before`/`after` the training loss, `held_gradient` the
    gradient the model holds after train() over one minibatch's at the trained weights (held_gradient_ratio)."""
    found = []
    if held_gradient is not None and held_gradient > ACCUMULATED:
        found.append(f"after train() the model holds a gradient {held_gradient:.0f} times the size of one "
                     "minibatch's: gradients add up across steps unless they are cleared; is "
                     "optimizer.zero_grad() called before each loss.backward()?")
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


def held_gradient_ratio(held: dict[str, float | None], weights: dict[str, torch.Tensor], x: torch.Tensor,
                        y: torch.Tensor) -> float | None:
    """The norm of the gradient the model holds (the sandbox's report, `held`: norm per tensor) over the
    norm of the mean-NLL gradient of the minibatch (x, y) at `weights`, computed here; None when either
    is missing (a train() that clears gradients after its last step holds none)."""
    from grader.suites.weights import relu_logits

    norms = [v for k, v in held.items() if k in weights and v is not None]
    if not norms or len(norms) != len(weights) or not all(math.isfinite(v) for v in norms):
        return None
    w = {k: t.detach().double().requires_grad_() for k, t in weights.items()}
    try:
        torch.nn.functional.cross_entropy(relu_logits(w, x), y).backward()
    except (RuntimeError, KeyError):
        return None
    fresh = math.sqrt(sum(float(t.grad.norm()) ** 2 for t in w.values() if t.grad is not None))
    return math.sqrt(sum(v * v for v in norms)) / fresh if fresh > 0 and math.isfinite(fresh) else None
