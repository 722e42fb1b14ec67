"""From the formula: the graded functions must be built from tensor arithmetic, not ready-made ops.

Each test first checks that the function works (so a blank release earns nothing here), then reads
the function's source (its last top-level definition) for references to the forbidden built-ins,
then runs it while recording the torch functions it calls.
"""

import ast

import pytest
import torch

from grader.sandbox.faults import StudentError
from grader.suites.compare import Feedback, expect_close

# Last component of a name: torch.sigmoid, x.sigmoid(), F.sigmoid, torch.special.expit, nn.Sigmoid ...
ACTIVATION_OPS = {
    "sigmoid", "sigmoid_", "expit", "tanh", "tanh_", "relu", "relu_", "relu6", "leaky_relu", "leaky_relu_",
    "threshold", "threshold_", "hardtanh", "hardtanh_", "softplus", "logsigmoid", "silu", "elu", "elu_",
    "selu", "selu_", "gelu", "celu", "celu_", "prelu", "rrelu", "rrelu_", "hardsigmoid", "hardswish", "mish",
    "softsign", "tanhshrink",
}
ACTIVATION_MODULES = {
    "Sigmoid", "Tanh", "ReLU", "LeakyReLU", "ReLU6", "Hardtanh", "Softplus", "SiLU", "ELU", "SELU", "GELU",
    "CELU", "PReLU", "RReLU", "Hardsigmoid", "Hardswish", "Mish", "Softsign", "LogSigmoid", "Threshold",
    "Tanhshrink",
}
PROBABILITY_OPS = {"softmax", "_softmax", "log_softmax", "_log_softmax", "softmin", "gumbel_softmax",
                   "cross_entropy", "nll_loss"}
PROBABILITY_MODULES = {"Softmax", "LogSoftmax", "Softmin", "CrossEntropyLoss", "NLLLoss"}
LINEAR_OPS = {"linear", "bilinear"}
LINEAR_MODULES = {"Linear", "Bilinear", "LazyLinear"}

TOL = dict(rtol=1e-4, atol=1e-5)


def _activation_case(rng):
    return (torch.randn(4, 5, generator=rng) * 3,)


def _softmax_case(rng):
    return (torch.randn(4, 6, generator=rng) * 3,)


def _mle_case(rng):
    return torch.randn(8, 10, generator=rng) * 2, torch.randint(0, 10, (8,), generator=rng)


def _linear_case(rng):
    return (torch.randn(4, 3, generator=rng), torch.randn(3, 2, generator=rng), torch.randn(2, generator=rng))


# name -> (inputs, banned op names, banned class names, tolerance, also ban all of torch.nn.functional)
CASES = {
    "sigmoid": (_activation_case, ACTIVATION_OPS, ACTIVATION_MODULES, TOL, True),
    "tanh": (_activation_case, ACTIVATION_OPS, ACTIVATION_MODULES, TOL, True),
    "relu": (_activation_case, ACTIVATION_OPS, ACTIVATION_MODULES, TOL, True),
    "leaky_relu": (_activation_case, ACTIVATION_OPS, ACTIVATION_MODULES, TOL, True),
    "softmax": (_softmax_case, PROBABILITY_OPS, PROBABILITY_MODULES, TOL, False),
    "mle_loss": (_mle_case, PROBABILITY_OPS, PROBABILITY_MODULES, dict(rtol=1e-4, atol=1e-4), False),
    "linear": (_linear_case, LINEAR_OPS, LINEAR_MODULES, dict(rtol=1e-4, atol=1e-4), False),
}


def _works(student, reference, name, args, tol):
    """Run the function once under the recorder; it must give the right value before anything else."""
    try:
        got, used = student.trace(name, *args)
    except StudentError as exc:
        raise Feedback(f"implement {name} correctly first ({exc})") from None
    try:
        expect_close(got, getattr(reference, name)(*args), what=f"{name} on a small input", **tol)
    except Feedback as fb:
        raise Feedback(f"implement {name} correctly first ({fb})") from None
    return used


def _torch_imports(submission, banned):
    """Top-level names bound to banned torch built-ins (`from torch import sigmoid as sg`) and not rebound."""
    bound: dict[str, str | None] = {}
    for chunk in submission.chunks:
        for node in ast.parse(chunk.code).body:
            if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "torch":
                for alias in node.names:
                    full = f"{node.module}.{alias.name}"
                    bound[alias.asname or alias.name] = full if alias.name in banned else None
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                bound[node.name] = None
            elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                for t in targets:
                    for sub in ast.walk(t):
                        if isinstance(sub, ast.Name):
                            bound[sub.id] = None
    return {k: v for k, v in bound.items() if v}


def _static_check(submission, name, banned):
    definitions = submission.definitions(name)
    if not definitions:
        return
    node = definitions[-1]
    imported = _torch_imports(submission, banned)
    for sub in ast.walk(node):
        found = None
        if isinstance(sub, ast.Attribute) and sub.attr in banned:
            found = ast.unparse(sub)
        elif isinstance(sub, ast.Name) and isinstance(sub.ctx, ast.Load) and sub.id in imported:
            found = imported[sub.id]
        if found:
            raise Feedback(f"{name} uses {found} (line {sub.lineno}); the assignment asks you to implement it "
                           "from its formula")


def _runtime_check(name, used, banned, no_functional):
    for op in used:
        last = op.rsplit(".", 1)[-1]
        if last in banned or (no_functional and op.startswith("torch.nn.functional.")):
            raise Feedback(f"{name} uses {op}; the assignment asks you to implement it from its formula")


@pytest.mark.parametrize("name", list(CASES))
def test_from_the_formula(student, reference, submission, rng, name):
    make, ops, modules, tol, no_functional = CASES[name]
    args = make(rng)
    used = _works(student, reference, name, args, tol)
    _static_check(submission, name, ops | modules)
    _runtime_check(name, used, ops | modules, no_functional)
