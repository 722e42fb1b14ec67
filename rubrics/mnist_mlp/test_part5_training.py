"""Part 5: training. The grader holds the ground truth: train() trains the grader's own MLP (so the
student's MLP is judged by Part 3 alone), with known-good versions swapped in for the student's other
functions (a broken mle_loss costs the loss items, not these); the parameters come back, and every
accuracy and loss is computed here. The test labels never leave this process."""

import math

import torch

from grader.suites.compare import Feedback, describe, expect_tensor
from grader.suites.student import Remote, sandbox_of
from grader.suites.training import held_gradient_ratio, measured_hints
from grader.suites.weights import TRAIN_HELPERS, mlp_weights, read_weights, relu_logits

SMALL = (784, 32, 10)


def _recipe(settings, lr_key="mnist_lr"):
    return dict(epochs=int(settings["mnist_epochs"]), lr=float(settings[lr_key]),
                batch_size=int(settings["mnist_batch_size"]), seed=int(settings["mnist_seed"]))


def _weights(seed, sizes=SMALL):
    return mlp_weights(torch.Generator().manual_seed(int(seed)), sizes)


def _train(student, weights, x, y, *, label_map=None, timeout=None, **recipe):
    """The student's train() on the grader's MLP holding `weights`: (train's return value, the model it
    was given, the parameters of the model it trained: the one returned, else the one given)."""
    model = sandbox_of(student).grader_mlp(weights)
    with sandbox_of(student).known_good(*TRAIN_HELPERS, label_map=label_map):
        got = student.train(model, x, y, timeout=timeout, **recipe)
    trained = got if isinstance(got, Remote) else model
    return got, model, read_weights(trained)


def _ce(weights, x, y) -> float:
    """Cross-entropy of the relu MLP with these weights on (x, y), computed here; NaN when the
    parameters do not fit the data (a model of other sizes)."""
    try:
        return float(torch.nn.functional.cross_entropy(relu_logits(weights, x), y))
    except (RuntimeError, KeyError):
        return math.nan


def _changed(before: dict, after: dict) -> bool:
    return any(k not in after or after[k].shape != w.shape or not torch.equal(after[k].cpu(), w)
               for k, w in before.items())


def _synthetic(rng, n=1024, classes=10):
    """A learnable problem: the label is the argmax of a fixed random linear map of the input."""
    x = torch.rand(n, 784, generator=rng) * 2 - 1
    w = torch.randn(784, classes, generator=rng)
    return x, (x @ w).argmax(dim=1)


def _expect_trains(student, rng, call, n=256, seed=5):
    """train() on a small problem from the grader's weights must lower the loss of the model it trained
    (the one it returned, else the one it was given): the properties below (in place, same model, lr,
    determinism) earn nothing on a train() that does not train. Returns (train's return value, the
    given model, the start weights, x, y)."""
    x, y = _synthetic(rng, n=n)
    start = _weights(seed)
    got, model, after = _train(student, start, x, y, epochs=1, lr=1e-2, batch_size=64, seed=seed)
    l0, l1 = _ce(start, x, y), _ce(after, x, y)
    if not l1 < l0:
        raise Feedback(f"{call}: train(model, x, y, epochs=1, lr=1e-2, batch_size=64, seed={seed}) did not lower the "
                       f"loss ({l0:.4f} before, {l1:.4f} after), so this check earns nothing (see 'train: lowers the "
                       "training loss')")
    return got, model, start, x, y


# -- MNIST ----------------------------------------------------------------------------------------

def _test_accuracy(mnist, weights, record_property, what):
    images = mnist.flat_images("test")
    logits = relu_logits(weights, images, torch.float32)
    if logits.shape != (10000, 10) or not bool(torch.isfinite(logits).all()):
        raise Feedback(f"{what}: the trained parameters give non-finite or misshapen test logits")
    acc = float((logits.argmax(dim=1) == mnist.test_labels()).double().mean())
    record_property("accuracy", acc)


def test_mle_loss_trains_mnist(student, sandbox, mnist, settings, record_property, rng):
    """Your mle_loss drives the grader's own Adam loop on the grader's MLP, held here: the sandbox only
    computes the loss and its gradient for logits it is sent; both are verified on a few steps."""
    r = {**_recipe(settings, "fit_lr"), "batch_size": int(settings["fit_batch_size"])}
    n = int(settings["mnist_train_size"])
    x, y = mnist.flat_images("train", n), mnist.labels("train")[:n]
    weights = {k: w.requires_grad_(True) for k, w in _weights(r["seed"], settings["mnist_sizes"]).items()}
    optimizer = _Adam(list(weights.values()), lr=r["lr"])
    order_rng = torch.Generator().manual_seed(r["seed"])
    steps = r["epochs"] * math.ceil(n / r["batch_size"])
    audit = set(torch.randperm(steps, generator=rng)[:3].tolist())  # steps the sandbox cannot foresee
    kept, step = [], 0
    for _ in range(r["epochs"]):
        order = torch.randperm(n, generator=order_rng)
        for start in range(0, n, r["batch_size"]):
            idx = order[start:start + r["batch_size"]]
            logits = relu_logits(weights, x[idx], torch.float32)
            z = logits.detach()
            loss, (grad,), _ = sandbox.vjp("mle_loss", [z, y[idx]], wrt=[0])
            expect_tensor(loss, what="mle_loss(logits, targets) on an MNIST minibatch", shape=())
            expect_tensor(grad, what="the gradient of mle_loss on an MNIST minibatch", shape=z.shape)
            if not (bool(torch.isfinite(loss)) and bool(torch.isfinite(grad).all())):
                raise Feedback(f"mle_loss gave a non-finite loss or gradient on MNIST minibatch {step}")
            if step in audit:
                kept.append((z, y[idx], float(loss), grad.double()))
            optimizer.zero_grad()
            logits.backward(grad.to(logits.dtype))
            optimizer.step()
            step += 1
    _audit(student, kept, rng)
    _test_accuracy(mnist, {k: w.detach() for k, w in weights.items()}, record_property,
                   "the grader's MLP trained with your mle_loss by the grader's loop")


def test_train_mnist_accuracy(student, sandbox, mnist, settings, record_property):
    """Your train() on the grader's MLP, from the grader's weights: test accuracy after the rubric's recipe."""
    r = _recipe(settings)
    sizes = tuple(settings["mnist_sizes"])
    n = int(settings["mnist_train_size"])
    images, labels = sandbox.mnist("train_images", n), sandbox.mnist("train_labels", n)
    call = f"train(the grader's MLP{sizes}, the first {n} MNIST training images and labels, epochs={r['epochs']}, " \
           f"lr={r['lr']}, batch_size={r['batch_size']}, seed={r['seed']})"
    sandbox.seed(r["seed"])  # re-grades give the same score even where train() does not seed itself
    start = _weights(r["seed"], sizes)
    got, model, trained = _train(student, start, images, labels, timeout=float(settings["train_timeout_s"]), **r)
    x, y = mnist.flat_images("train", n), mnist.labels("train")[:n]
    l0, l1 = _ce(start, x, y), _ce(trained, x, y)
    try:  # feedback only: whatever the sandbox says here never costs a point
        held = held_gradient_ratio(sandbox.grad_norms(got if isinstance(got, Remote) else model),
                                   trained, x[:r["batch_size"]], y[:r["batch_size"]])
    except Exception:  # noqa: BLE001
        held = None
    record_property("feedback", [f"how it was called: {call}",
                                 f"training loss (mean NLL on those {n} images): {l0:.4f} before, {l1:.4f} after",
                                 *measured_hints(start, trained, l0, l1, held)])
    _test_accuracy(mnist, trained, record_property, call)


class _Adam:
    """Adam's textbook update (betas 0.9, 0.999, eps 1e-8). Not torch.optim.Adam: its first use imports
    torch._dynamo, about 2 s of every single grade in the grader process."""

    def __init__(self, params, lr):
        self.params, self.lr, self.t = params, lr, 0
        self.m = [torch.zeros_like(p) for p in params]
        self.v = [torch.zeros_like(p) for p in params]

    def zero_grad(self):
        for p in self.params:
            p.grad = None

    @torch.no_grad()
    def step(self):
        self.t += 1
        for p, m, v in zip(self.params, self.m, self.v):
            m.mul_(0.9).add_(p.grad, alpha=0.1)
            v.mul_(0.999).addcmul_(p.grad, p.grad, value=0.001)
            denom = (v / (1 - 0.999 ** self.t)).sqrt_().add_(1e-8)
            p.addcdiv_(m, denom, value=-self.lr / (1 - 0.9 ** self.t))


def _audit(student, kept, rng):
    """The loss and gradient the sandbox reported must be the student's mle_loss: its value again on the
    same logits (asked later, in an order of the grader's) and a finite difference along a random
    direction (in float64) that agrees with the reported gradient."""
    for i in torch.randperm(len(kept), generator=rng).tolist():
        z, targets, value, grad = kept[i]
        again = student.mle_loss(z, targets)
        if (type(again) is not torch.Tensor or again.numel() != 1
                or not abs(float(again) - value) <= 1e-5 * (1 + abs(value))):
            raise Feedback("during training mle_loss reported a loss that it does not give when called again with the "
                           f"same logits and targets (got {describe(again)})")
        d = torch.randn(z.shape, generator=rng, dtype=torch.float64)
        d /= d.norm()  # a unit step: third-order terms stay far below the tolerance, even in float32
        eps = 1e-2
        plus = student.mle_loss(z.double() + eps * d, targets)
        minus = student.mle_loss(z.double() - eps * d, targets)
        if not all(type(t) is torch.Tensor and t.numel() == 1 for t in (plus, minus)):
            raise Feedback("mle_loss of float64 logits did not return a one-element tensor")
        slope, want = (float(plus) - float(minus)) / (2 * eps), float((grad * d).sum())
        if not abs(slope - want) <= 1e-3 * (1 + abs(want)):
            raise Feedback("the gradient mle_loss gave during training does not match how its value changes "
                           f"(directional derivative {want:.6g} from the gradient, {slope:.6g} from the values)")


# -- small synthetic problems: fast, and they say what is wrong ------------------------------------

def test_train_reduces_loss(student, rng):
    x, y = _synthetic(rng)
    start = _weights(3)
    call = "train(the grader's MLP(784, 32, 10), x, y, epochs=3, lr=1e-2, batch_size=128, seed=3)"
    _, _, after = _train(student, start, x, y, epochs=3, lr=1e-2, batch_size=128, seed=3)
    l0, l1 = _ce(start, x, y), _ce(after, x, y)
    # From the grader's weights Adam gets from about 2.37 to 0.22 here, plain SGD to 2.33: both pass.
    if not l1 < l0 - 0.005:
        found = measured_hints(start, after, l0, l1)
        raise Feedback(f"{call} on 1024 easy synthetic samples barely changed the training loss "
                       f"({l0:.4f} before, {l1:.4f} after); " + ("; ".join(found) or "are the optimizer steps "
                       "taken on model.parameters() with the gradients of mle_loss?"))


def test_train_follows_mle_loss(student, rng):
    """The update must come from the student's mle_loss: while train() runs, the known-good mle_loss
    scores each target as another class (a permutation the sandbox cannot foresee), so a train() that
    uses it learns the permuted labels and one that uses a built-in loss learns the real ones."""
    x, y = _synthetic(rng, n=512)
    shift = int(torch.randint(1, 10, (1,), generator=rng))
    label_map = [(c + shift) % 10 for c in range(10)]
    start = _weights(9)
    _, _, after = _train(student, start, x, y, label_map=label_map, epochs=2, lr=1e-2, batch_size=64, seed=9)
    mapped = torch.tensor(label_map)[y]
    towards_mle, towards_labels = _ce(start, x, mapped) - _ce(after, x, mapped), _ce(start, x, y) - _ce(after, x, y)
    if not (towards_mle > 0 and towards_mle > towards_labels):
        raise Feedback("train(model, x, y, epochs=2, lr=1e-2, batch_size=64, seed=9): the parameters did not move "
                       "the way your mle_loss points; train must score each minibatch with your own mle_loss "
                       "(not F.cross_entropy or nn.CrossEntropyLoss) and step on its gradient")


def test_train_epochs_and_batch_size(student, sandbox, rng):
    x, y = _synthetic(rng, n=300)
    sandbox.loss_log()  # start a fresh log
    _train(student, _weights(4), x, y, epochs=2, lr=1e-3, batch_size=64, seed=4)
    log = sandbox.loss_log()
    call = "train(model, x, y, epochs=2, lr=1e-3, batch_size=64, seed=4) on 300 samples"
    if not log:
        raise Feedback(f"{call} never called your mle_loss; train must score each minibatch with your own mle_loss")
    if max(log) > 64:
        raise Feedback(f"{call} scored a minibatch of {max(log)} samples; minibatches hold at most batch_size")
    if sum(log) < 600 or len(log) < 10:
        raise Feedback(f"{call} scored {sum(log)} samples in {len(log)} minibatches; 2 epochs over 300 samples in "
                       "minibatches of 64 are 600 samples in 10 minibatches: are epochs and every sample used?")


def test_train_uses_lr(student, rng):
    call = "train(model, x, y, epochs=1, lr=0.0, batch_size=64, seed=5)"
    _, _, start, x, y = _expect_trains(student, rng, call)
    _, model, _ = _train(student, start, x, y, epochs=1, lr=0.0, batch_size=64, seed=5)
    after = read_weights(model, len(SMALL) - 1)
    if _changed(start, after):
        moved = max(float((after[k].cpu() - w).abs().max()) for k, w in start.items() if after[k].shape == w.shape)
        raise Feedback(f"{call} still changed the parameters (by up to {moved:.3g}); the optimizer's learning rate "
                       "must be lr, e.g. torch.optim.Adam(model.parameters(), lr=lr)")


def test_train_in_place(student, rng):
    _, model, start, x, y = _expect_trains(student, rng, "train must train the model it is given, in place")
    after = read_weights(model, len(SMALL) - 1)
    if not _ce(after, x, y) < _ce(start, x, y):
        raise Feedback("train(model, x, y, ...) left the model it was given untrained; train that model's own "
                       "parameters in place (not a new model) and return it")


def test_train_returns_same_model(student, sandbox, rng):
    got, model, *_ = _expect_trains(student, rng, "train must return the model it trained")
    if not isinstance(got, Remote) or not sandbox.same(got, model):
        raise Feedback(f"train(model, ...) returned {describe(got)}, not the model it was given; "
                       "end with `return model`")


def _deterministic(student, rng, seed):
    x, y = _synthetic(rng, n=512)
    _expect_trains(student, rng, f"train(..., seed={seed}) for determinism")
    states = []
    for disturb in (101, 202):
        sandbox_of(student).seed(disturb)  # a different global RNG state before each call: train must seed itself
        states.append(_train(student, _weights(11), x, y, epochs=2, lr=1e-3, batch_size=64, seed=seed)[2])
    for key, a in states[0].items():
        b = states[1].get(key)
        if not (isinstance(b, torch.Tensor) and a.shape == b.shape and torch.equal(a, b)):
            diff = float((a - b).abs().max()) if isinstance(b, torch.Tensor) and a.shape == b.shape else math.nan
            raise Feedback(f"two runs of train(..., seed={seed}) from the same weights gave different {key} (max "
                           f"difference {diff:.3g}); seed everything random inside train, for every seed "
                           "(torch.manual_seed(seed), or a torch.Generator for the shuffling)")


def test_train_deterministic(student, rng):
    _deterministic(student, rng, 11)


def test_train_deterministic_seed_0(student, rng):
    _deterministic(student, rng, 0)
