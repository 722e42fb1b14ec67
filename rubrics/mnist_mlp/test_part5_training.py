"""Part 5: training on MNIST. The test labels stay in this process; the sandbox only sees images."""

import math

import torch

from grader.suites.compare import Feedback, describe, expect_finite, expect_tensor
from grader.suites.student import Remote
from grader.suites.training import hints, loss_text, state, training_loss
from grader.suites.weights import mlp_from_grader_weights

SMALL = (784, 32, 10)


def _recipe(settings, lr_key="mnist_lr"):
    return dict(epochs=int(settings["mnist_epochs"]), lr=float(settings[lr_key]),
                batch_size=int(settings["mnist_batch_size"]), seed=int(settings["mnist_seed"]))


def _train_set(student, settings):
    """The first mnist_train_size training images and labels, a fresh copy in the sandbox."""
    n = int(settings["mnist_train_size"])
    return student.mnist("train_images", n), student.mnist("train_labels", n), n


def _trained(got, model):
    """The model train() returned; a train() that returns something else (None, say) trained the model
    in place, which the other checks still measure: returning it has its own check."""
    return got if isinstance(got, Remote) else model


def _test_accuracy(student, mnist, model, settings, record_property, what):
    logits = model.forward(student.mnist("test_images"), timeout=float(settings["predict_timeout_s"]))
    expect_tensor(logits, what=f"{what}: model.forward(test images)", shape=(10000, 10))
    expect_finite(logits, what=f"{what}: the test logits")
    acc = float((logits.argmax(dim=1).cpu() == mnist.test_labels()).float().mean())
    record_property("accuracy", acc)
    return acc


def _explain(student, mnist, settings, record_property, how, trained, images, hint=False):
    """Below full credit: how the run went, from the grader's weights again (the same for the same seed)."""
    n, sizes, seed = int(settings["mnist_train_size"]), tuple(settings["mnist_sizes"]), int(settings["mnist_seed"])
    start, labels = mlp_from_grader_weights(student, sizes, seed), mnist.labels("train")[:n]
    before, after = training_loss(start, images, labels), training_loss(trained, images, labels)
    found = hints(student, state(start), state(trained), before, after,
                  data=_synthetic(torch.Generator().manual_seed(17), n=256),
                  fresh_model=lambda: mlp_from_grader_weights(student, SMALL, 17)) if hint else []
    record_property("feedback", [f"how it was {how.format(sizes=sizes, n=n)}; accuracy on the 10000 test images",
                                 *loss_text(before, after, n), *found])


def test_train_mnist_accuracy(student, mnist, settings, record_property, full_credit):
    """Your train() with your MLP from the grader's weights: test accuracy after the rubric's recipe."""
    r = _recipe(settings)
    sizes = tuple(settings["mnist_sizes"])
    model = mlp_from_grader_weights(student, sizes, r["seed"])
    images, labels, n = _train_set(student, settings)
    call = f"MLP({sizes}) from the grader's weights, trained by train(model, the first {n} MNIST training images " \
           f"and labels, epochs={r['epochs']}, lr={r['lr']}, batch_size={r['batch_size']}, seed={r['seed']})"
    trained = _trained(student.train(model, images, labels, **r, timeout=float(settings["train_timeout_s"])), model)
    if _test_accuracy(student, mnist, trained, settings, record_property, call) < (full_credit or 0.0):
        _explain(student, mnist, settings, record_property, trained=trained, images=images, hint=True,
                 how=f"called: model = MLP({{sizes}}) from the grader's weights, then train(model, the first {{n}} "
                     f"MNIST training images (x / 127.5 - 1, flattened to ({{n}}, 784)) and their labels, "
                     f"epochs={r['epochs']}, lr={r['lr']}, batch_size={r['batch_size']}, seed={r['seed']})")


def test_fit_mnist_accuracy(student, mnist, settings, record_property, full_credit):
    """Your MLP and mle_loss, trained by the grader's own Adam loop: checks the model and loss train well."""
    r = _recipe(settings, "fit_lr")
    model = mlp_from_grader_weights(student, settings["mnist_sizes"], r["seed"])
    images, labels, _ = _train_set(student, settings)
    trained = student.fit(model, loss="mle_loss", images=images, labels=labels, **r,
                          timeout=float(settings["train_timeout_s"]))
    trained = _trained(trained, model)
    if _test_accuracy(student, mnist, trained, settings, record_property,
                      "your MLP trained with your mle_loss by the grader's loop") < (full_credit or 0.0):
        _explain(student, mnist, settings, record_property, trained=trained, images=images,
                 how=f"trained: MLP({{sizes}}) from the grader's weights, by the grader's own loop "
                     f"(torch.optim.Adam, lr={r['lr']}, epochs={r['epochs']}, batch_size={r['batch_size']}, "
                     f"shuffled with seed {r['seed']}, loss = mle_loss(model(x), y)) on the first {{n}} MNIST "
                     "training images; your train() is not used")


# -- small synthetic problems: fast, and they say what is wrong ------------------------------------

def _synthetic(rng, n=1024, classes=10):
    """A learnable problem: the label is the argmax of a fixed random linear map of the input."""
    x = torch.rand(n, 784, generator=rng) * 2 - 1
    w = torch.randn(784, classes, generator=rng)
    return x, (x @ w).argmax(dim=1)


def _loss(logits, labels):
    return float(torch.nn.functional.cross_entropy(logits.double().cpu(), labels))


def test_train_reduces_loss(student, rng):
    x, y = _synthetic(rng)
    model = mlp_from_grader_weights(student, SMALL, 3)
    before = model.forward(x)
    expect_tensor(before, what="MLP((784, 32, 10)).forward(x)", shape=(x.shape[0], 10))
    call = "train(model, x, y, epochs=3, lr=1e-2, batch_size=128, seed=3)"
    start = state(model)
    trained = _trained(student.train(model, x, y, epochs=3, lr=1e-2, batch_size=128, seed=3), model)
    after = trained.forward(x)
    expect_tensor(after, what=f"after {call}: model.forward(x)", shape=(x.shape[0], 10))
    expect_finite(after, what=f"after {call}: model.forward(x)")
    l0, l1 = _loss(before, y), _loss(after, y)
    # From the grader's weights Adam gets from about 2.37 to 0.22 here, plain SGD to 2.33: both pass
    # (plain SGD from the student's own randn * 0.01 init moved it by less than 0.005).
    if not l1 < l0 - 0.005:
        found = hints(student, start, state(trained), l0, l1, data=_synthetic(rng, n=256),
                      fresh_model=lambda: mlp_from_grader_weights(student, SMALL, 17))
        raise Feedback(f"{call} on 1024 easy synthetic samples barely changed the training loss "
                       f"from the grader's weights ({l0:.4f} before, {l1:.4f} after); " + ("; ".join(found) or
                       "are the optimizer steps taken on model.parameters() with the gradients of mle_loss?"))


def test_train_uses_mle_loss_per_minibatch(student, rng):
    """The spec: minibatch training with your own mle_loss, so one call of it per minibatch at least."""
    x, y = _synthetic(rng, n=512)
    model = mlp_from_grader_weights(student, SMALL, 9)
    call = "train(model, x, y, epochs=2, lr=1e-3, batch_size=64, seed=9) on 512 samples"
    _, counts = student.counting("train", model, x, y, epochs=2, lr=1e-3, batch_size=64, seed=9,
                                 watch=("mle_loss",))
    calls, batches = counts["mle_loss"], 2 * 512 // 64
    if calls == 0:
        raise Feedback(f"{call} never called your mle_loss; train must score each minibatch with your own "
                       "mle_loss (not F.cross_entropy or nn.CrossEntropyLoss)")
    if calls < batches:
        raise Feedback(f"{call} called your mle_loss {calls} times; 2 epochs of 512 samples in minibatches of "
                       f"64 are {batches} minibatches, one mle_loss and optimizer step each: is batch_size used?")


def test_train_returns_model(student, rng):
    x, y = _synthetic(rng, n=256)
    student.seed(5)
    model = student.MLP(SMALL)
    got = student.train(model, x, y, epochs=1, lr=1e-3, batch_size=128, seed=5)
    if not isinstance(got, Remote):
        raise Feedback(f"train(model, x, y, epochs=1, lr=1e-3, batch_size=128, seed=5) returned {describe(got)}; "
                       "it must return the trained model (end with `return model`)")
    expect_tensor(got.forward(x), what="the model returned by train(...): model.forward(x)", shape=(256, 10))


def test_train_deterministic(student, rng):
    x, y = _synthetic(rng, n=512)
    student.seed(7)
    first = student.MLP(SMALL)
    start = first.state_dict()
    # Compared on the contract's parameters, not on whatever keys the model lists: an empty
    # state_dict() would make "the same weights" vacuously true.
    keys = [f"{kind}.{l}" for l in range(len(SMALL) - 1) for kind in ("weights", "biases")]
    if not isinstance(start, dict) or not all(isinstance(start.get(k), torch.Tensor) for k in keys):
        raise Feedback(f"MLP({SMALL}).state_dict() lacks the parameters {keys} (see the MLP parameter checks), "
                       "so train() cannot be checked for determinism")
    second = student.MLP(SMALL)
    second.load_state_dict(start)  # both start from the same weights, whatever the init uses
    states = []
    for model, disturb in ((first, 101), (second, 202)):
        student.seed(disturb)  # a different global RNG state before each call: train must seed itself
        trained = _trained(student.train(model, x, y, epochs=2, lr=1e-3, batch_size=64, seed=11), model)
        state = trained.state_dict()
        states.append(state if isinstance(state, dict) else {})
    for key in keys:
        a, b = states[0].get(key), states[1].get(key)
        if not (isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor) and a.shape == b.shape
                and torch.equal(a, b)):
            diff = float((a - b).abs().max()) if isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor) \
                and a.shape == b.shape else math.nan
            raise Feedback(f"two runs of train(..., seed=11) from the same initial weights gave different "
                           f"{key} (max difference {diff:.3g}); seed everything random inside train "
                           "(torch.manual_seed(seed), or a torch.Generator for the shuffling)")
