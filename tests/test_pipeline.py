"""End to end on the tiny fixture assignment: the CLI, results.json, exit codes, determinism."""

from __future__ import annotations

import json
import subprocess
import sys

import jsonschema
import pytest

from conftest import PROJECT, TINY
from grader.cli import main
from grader.pipeline import GradeOptions, grade
from grader.report.gradescope import error_results_json

SCHEMA = json.loads((PROJECT / "tests" / "fixtures" / "gradescope_results.schema.json").read_text())
OPTIONS = GradeOptions(threads=1)
GOOD = "import torch\ndef mean(x):\n    return x.mean()\ndef clip(x, lo, hi):\n    return x.clamp(lo, hi)\n"


def scores(result):
    return {i.name: i.score for i in result.items}


def test_correct_submission_full_marks_and_valid_results_json(write, tiny_rubric, tmp_path):
    sub = write("good.py", GOOD + "print('training...')\n")
    out = tmp_path / "r.json"
    assert main([str(sub), "--rubric", str(TINY), "--json", str(out), "--threads", "1"]) == 0
    data = json.loads(out.read_text())
    jsonschema.validate(data, SCHEMA)
    assert data["score"] == 5 and {t["name"]: t["score"] for t in data["tests"]} == {"mean": 3, "clip": 2}
    assert [t["visibility"] for t in data["tests"]] == ["visible", "hidden"]
    assert "hidden until later" in data["output"]


def test_mistake_loses_exactly_its_points_with_a_hint(write, tiny_rubric):
    sub = write("sum.py", GOOD.replace("x.mean()", "x.sum()"))
    result = grade(sub, tiny_rubric, OPTIONS)
    assert scores(result) == {"mean": 1.0, "clip": 2.0}  # n=1 still passes: sum == mean
    assert any("that is the sum, not the mean" in f for f in result.items[0].feedback)


def test_regrade_gives_the_same_score(write, tiny_rubric):
    sub = write("half.py", GOOD.replace("x.clamp(lo, hi)", "x.clamp(lo, hi * 0.9)"))
    a, b = grade(sub, tiny_rubric, OPTIONS), grade(sub, tiny_rubric, OPTIONS)
    assert scores(a) == scores(b) and a.score == 3


def test_unreadable_submission_is_a_result_not_a_crash(write, tiny_rubric, tmp_path):
    sub = write("broken.ipynb", "{ this is not json")
    out = tmp_path / "r.json"
    assert main([str(sub), "--rubric", str(TINY), "--json", str(out)]) == 0
    data = json.loads(out.read_text())
    jsonschema.validate(data, SCHEMA)
    assert data["score"] == 0 and "not valid JSON" in data["output"]
    assert sum(t["max_score"] for t in data["tests"]) == 5


def test_usage_errors_exit_non_zero(tmp_path, capsys):
    assert main([str(tmp_path / "missing.ipynb"), "--rubric", str(TINY)]) == 2
    assert "no such file" in capsys.readouterr().err
    assert main([str(tmp_path), "--assignment", "nope"]) == 3


def test_missing_data_is_a_clear_infrastructure_error(write, tmp_path, capsys):
    sub = write("good.py", GOOD)
    code = main([str(sub), "--data-dir", str(tmp_path / "empty")])
    assert code == 4
    err = capsys.readouterr().err
    assert "MNIST was not found" in err and "--data-dir" in err


def test_grader_error_results_json_is_valid():
    data = error_results_json("sandbox could not start", RuntimeError("boom"))
    jsonschema.validate(data, SCHEMA)
    assert data["score"] == 0 and data["tests"][0]["name"] == "grader error"


def test_console_script_runs(write, tmp_path):
    """The console script ends with os._exit: output to a pipe, the JSON file and the exit code survive it."""
    sub = write("good.py", GOOD)
    cmd = [sys.executable, "-m", "grader.cli", "--rubric", str(TINY), "--threads", "1"]
    r = subprocess.run(cmd + [str(sub), "--json", str(tmp_path / "r.json")], capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0 and "Total: 5 / 5" in r.stdout
    assert json.loads((tmp_path / "r.json").read_text())["score"] == 5
    missing = subprocess.run(cmd + [str(tmp_path / "missing.ipynb")], capture_output=True, text=True, timeout=60)
    assert missing.returncode == 2 and "no such file" in missing.stderr


def test_second_assignment_release_and_reference(tmp_path, tiny_rubric):
    """The tiny fixture assignment goes through the same harness: assign, then grade both ends."""
    from grader.authoring.assign import make_release

    assert tiny_rubric.release.read_text() == make_release(tiny_rubric.reference)
    assert grade(tiny_rubric.reference, tiny_rubric, OPTIONS).score == 5
    blank = grade(tiny_rubric.release, tiny_rubric, OPTIONS)
    assert blank.score == 0 and all("not implemented yet" in " ".join(i.feedback) for i in blank.items)


def _tiny_copy(tmp_path, extra_toml: str = "", files: dict | None = None):
    import shutil

    from grader.rubric import load_rubric

    root = tmp_path / "course"
    shutil.copytree(TINY.parent.parent, root)
    folder = root / "rubrics" / "tiny"
    with open(folder / "rubric.toml", "a") as f:
        f.write(extra_toml)
    for name, text in (files or {}).items():
        (folder / name).write_text(text)
    return load_rubric(folder)


def test_broken_hidden_test_file_is_zero_not_missing(write, tmp_path):
    rubric = _tiny_copy(tmp_path, '\n[[items]]\nname = "broken"\nsection = "Extra"\npoints = 4\n'
                        'tests = ["test_broken.py::test_*"]\n', {"test_broken.py": "def test_x(:\n"})
    result = grade(write("good.py", GOOD), rubric, OPTIONS)
    broken = [i for i in result.items if i.name == "broken"][0]
    assert (broken.score, broken.max_score, broken.status) == (0, 4, "failed")
    assert result.score == 5 and result.max_score == 9


def test_per_test_time_limit_covers_all_calls_of_a_test(write, tmp_path):
    rubric = _tiny_copy(tmp_path, '\n[[items]]\nname = "many calls"\nsection = "Extra"\npoints = 1\n'
                        'tests = ["test_slow.py::test_*"]\n',
                        {"test_slow.py": "def test_many(student):\n    for _ in range(20):\n"
                                         "        student.slow()\n"})
    rubric = type(rubric)(**{**rubric.__dict__, "test_timeout_s": 3.0})
    sub = write("slow.py", GOOD + "import time\ndef slow():\n    time.sleep(0.5)\n")
    result = grade(sub, rubric, OPTIONS)
    item = [i for i in result.items if i.name == "many calls"][0]
    assert item.score == 0 and "time limit" in item.feedback[0]
    assert result.score == 5  # the other tests were not starved


def test_sandbox_that_cannot_start_is_an_infrastructure_error_not_a_zero(write, tiny_rubric, monkeypatch):
    from grader.errors import InfrastructureError
    from grader.sandbox import process

    monkeypatch.setattr(process, "worker_command", lambda spec, level: ["/bin/sh", "-c", "echo broken >&2; exit 127"])
    with pytest.raises(InfrastructureError, match="could not start"):
        grade(write("good.py", GOOD), tiny_rubric, OPTIONS)
