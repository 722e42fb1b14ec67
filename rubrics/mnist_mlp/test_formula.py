"""From the formula: the graded functions must be built from tensor arithmetic, not ready-made ops.

Each test first checks that the function gives the right values on two inputs (so a blank release, a
constant or a function that is wrong in general earns nothing here), then judges what it uses, by
grader.suites.formula's allow-list: its source with every name resolved (a helper of the student's own, named
like a built-in or not, is judged by what it uses), then what the sandbox recorded while it ran (torch
functions and the ATen ops under them).
"""

import pytest
import torch

from grader.sandbox.faults import StudentError
from grader.suites.compare import Feedback, expect_close
from grader.suites.formula import runtime_uses, static_uses

TOL = dict(rtol=1e-4, atol=1e-5)


def _activation_case(rng):
    return [(torch.randn(4, 5, generator=rng) * 3,), (torch.randn(2, 3, 4, generator=rng) * 3,)]


def _softmax_case(rng):
    return [(torch.randn(4, 6, generator=rng) * 3,), (torch.randn(2, 3, 5, generator=rng) * 3,)]


def _mle_case(rng):
    return [(torch.randn(8, 10, generator=rng) * 2, torch.randint(0, 10, (8,), generator=rng)),
            (torch.randn(5, 3, generator=rng) * 2, torch.randint(0, 3, (5,), generator=rng))]


def _linear_case(rng):
    return [(torch.randn(4, 3, generator=rng), torch.randn(3, 2, generator=rng), torch.randn(2, generator=rng)),
            (torch.randn(2, 5, generator=rng), torch.randn(5, 4, generator=rng), torch.randn(4, generator=rng))]


# name -> (inputs, tolerance)
CASES = {
    "sigmoid": (_activation_case, TOL),
    "tanh": (_activation_case, TOL),
    "relu": (_activation_case, TOL),
    "leaky_relu": (_activation_case, TOL),
    "softmax": (_softmax_case, TOL),
    "mle_loss": (_mle_case, dict(rtol=1e-4, atol=1e-4)),
    "linear": (_linear_case, dict(rtol=1e-4, atol=1e-4)),
}


def _works(student, reference, name, cases, tol):
    """Run the function under the recorder on every input; it must give the right values before anything else."""
    traces = []
    for args in cases:
        try:
            got, trace = student.trace(name, *args)
        except StudentError as exc:
            raise Feedback(f"implement {name} correctly first ({exc})") from None
        try:
            expect_close(got, getattr(reference, name)(*args), what=f"{name} on a small input", **tol)
        except Feedback as fb:
            raise Feedback(f"implement {name} correctly first ({fb})") from None
        traces.append(trace)
    return traces


def _static_check(submission, name):
    try:
        uses = static_uses(tuple(chunk.code for chunk in submission.chunks), name)
    except RecursionError:  # source nested past what the reader follows: the run-time half still judges
        return
    if uses:
        u = uses[0]
        detail = [f"that is {u.resolved}"] if u.name != u.resolved else []
        detail += [f"line {u.line}"] if u.line else []
        shown = f"{u.name} ({', '.join(detail)})" if detail else u.name
        raise Feedback(f"{name} uses {shown}: {u.why}; the assignment asks you to implement it from its formula")


def _runtime_check(name, traces):
    for trace in traces:
        found = runtime_uses(trace.functions, trace.aten, trace.torch_function_off)
        if found:
            raise Feedback(f"{name} uses {found[0]} (seen while it ran); the assignment asks you to implement "
                           "it from its formula")


@pytest.mark.parametrize("name", list(CASES))
def test_from_the_formula(student, reference, submission, rng, name):
    make, tol = CASES[name]
    traces = _works(student, reference, name, make(rng), tol)
    _static_check(submission, name)
    _runtime_check(name, traces)
