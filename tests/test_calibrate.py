"""`grade calibrate`: a curve item measured over a setting's values, and the curve it suggests."""

from __future__ import annotations

import shutil

import pytest

from conftest import TINY
from grader.authoring.calibrate import Series, parse_vary, suggest
from grader.cli import main
from grader.errors import ConfigError, UsageError

LEVEL_TEST = '''import torch


def test_level(student, settings, record_property):
    record_property("accuracy", float(student.mean(torch.full((4,), 0.1 * settings["level_seed"]))))
'''
LEVEL_ITEM = '''
[settings]
level_seed = 1

[[items]]
name = "level"
section = "Measured"
points = 1
tests = ["test_level.py::*"]
curve = { zero = 0.2, full = 0.9 }
measure = "accuracy"
'''


def test_vary_takes_a_range_or_a_list_of_the_setting_type():
    settings = {"seed": 0, "lr": 5e-3}
    assert parse_vary("seed=0-3", settings) == ("seed", (0, 1, 2, 3))
    assert parse_vary("seed=4,9", settings) == ("seed", (4, 9))
    assert parse_vary("lr=1e-3,5e-3", settings) == ("lr", (1e-3, 5e-3))
    with pytest.raises(ConfigError, match="no 'epochs'"):
        parse_vary("epochs=1-2", settings)
    with pytest.raises(UsageError):
        parse_vary("seed", settings)


def test_the_suggested_curve_separates_correct_from_broken_runs():
    good = Series("correct", TINY, (0.82, 0.86))
    assert suggest([good, Series("broken", TINY, (0.11, 0.31, None))]) == (0.31, 0.77)
    assert suggest([good, Series("broken", TINY, (0.80,))]) is None  # no curve separates them
    assert suggest([Series("correct", TINY, (None,))]) is None


@pytest.mark.slow
def test_calibrate_measures_each_submission_for_each_value(tmp_path, capsys):
    course = tmp_path / "course"
    shutil.copytree(TINY.parent.parent, course)
    rubric = course / "rubrics" / "tiny"
    (rubric / "test_level.py").write_text(LEVEL_TEST)
    (rubric / "rubric.toml").write_text((rubric / "rubric.toml").read_text() + LEVEL_ITEM)
    broken = tmp_path / "flat.py"
    broken.write_text("def mean(x):\n    return x.sum() * 0\n")
    assert main(["calibrate", "level", "--vary", "level_seed=7-9", "--broken", str(broken),
                 "--course", str(course)]) == 0
    out = capsys.readouterr().out
    assert "level: accuracy for level_seed = 7, 8, 9" in out
    assert "correct tiny.ipynb: 0.7000 0.8000 0.9000  (min 0.7000 max 0.9000)" in out
    assert "broken  flat.py: 0.0000 0.0000 0.0000" in out
    assert "suggested: curve = { zero = 0.00, full = 0.65 }" in out
