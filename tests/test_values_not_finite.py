"""NaN and inf never pass a value check: not a measured curve (an accuracy of inf or NaN), not a
compared tensor, not accuracy's Python float (`abs(nan - x) > tol` is False, so a plain comparison
would let NaN through)."""

from __future__ import annotations

import importlib.util
import math

import pytest
import torch

from conftest import PROJECT
from grader.results import Outcome
from grader.rubric import find_rubric, score_items
from grader.suites.compare import Feedback, close, expect_close


@pytest.fixture(scope="module")
def rubric():
    return find_rubric("mnist_mlp")


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_a_curve_item_measuring_nan_or_inf_scores_zero(rubric, value):
    item = next(i for i in rubric.items if i.curve)
    test = item.tests[0]
    outcome = Outcome(nodeid=test, status="passed", properties=(("accuracy", value),))
    (scored,) = [r for r in score_items(rubric, (outcome,)) if r.name == item.name]
    assert scored.score == 0 and scored.status == "failed"


@pytest.mark.parametrize("bad", [math.nan, math.inf])
def test_compared_tensors_with_nan_or_inf_never_match(bad):
    expected = torch.tensor([0.5, 1.0])
    got = torch.tensor([0.5, bad])
    assert not close(got, expected, rtol=1.0, atol=1e9)
    with pytest.raises(Feedback):
        expect_close(got, expected, what="x", rtol=1.0, atol=1e9)


def _part4():
    path = PROJECT / "rubrics" / "mnist_mlp" / "test_part4_probability.py"
    spec = importlib.util.spec_from_file_location("rubric_part4_for_values", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("got", [math.nan, math.inf, torch.tensor(math.nan)])
def test_an_accuracy_of_nan_or_inf_is_wrong(got):
    problem = _part4()._accuracy_feedback(got, 10, 3, 0.7)
    assert problem and "expected 0.7" in problem
    assert _part4()._accuracy_feedback(0.7, 10, 3, 0.7) is None
