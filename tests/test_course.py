"""A course folder outside this repository works like the bundled one: --course, $GRADER_COURSE or the
current folder, with the bundled mnist_mlp as the fallback."""

from __future__ import annotations

import shutil

import pytest

from conftest import PROJECT, TINY
from grader.cli import main
from grader.errors import ConfigError
from grader.rubric import COURSE_ENV, default_assignment, find_rubric

PUBLIC_TOML = '''[assignment]
name = "tiny"
title = "Tiny (public checks)"
required_names = ["mean"]

[[items]]
name = "mean of two values"
section = "Public checks"
points = 1
tests = ["test_public.py::*"]
'''
PUBLIC_TEST = '''import torch


def test_mean_of_two(student):
    assert float(student.mean(torch.tensor([1.0, 3.0]))) == 2.0, "mean([1, 3]) should be 2"
'''
GOOD = "import torch\ndef mean(x):\n    return x.mean()\ndef clip(x, lo, hi):\n    return x.clamp(lo, hi)\n"


@pytest.fixture
def course(tmp_path, monkeypatch):
    """The tiny course copied to a temporary folder, with public checks and no release yet."""
    monkeypatch.delenv(COURSE_ENV, raising=False)
    root = tmp_path / "my-course"
    shutil.copytree(TINY.parent.parent, root)
    (root / "assignments" / "tiny" / "tiny.ipynb").unlink()
    (root / "assignments" / "tiny" / "public").mkdir()
    (root / "assignments" / "tiny" / "public" / "rubric.toml").write_text(PUBLIC_TOML)
    (root / "assignments" / "tiny" / "public" / "test_public.py").write_text(PUBLIC_TEST)
    return root


def test_the_current_folder_is_the_course(course, monkeypatch):
    monkeypatch.chdir(course)
    assert find_rubric("tiny").folder == course.resolve() / "rubrics" / "tiny"
    assert find_rubric("tiny", public=True).folder == course.resolve() / "assignments" / "tiny" / "public"
    assert default_assignment() == "tiny"  # the course's only assignment
    assert find_rubric("mnist_mlp").folder == PROJECT / "rubrics" / "mnist_mlp"  # the bundled fallback


def test_course_from_the_option_or_the_environment(course, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    reference = find_rubric("tiny", course=course).reference
    assert reference == course.resolve() / "reference_solution" / "tiny" / "tiny.ipynb"
    monkeypatch.setenv(COURSE_ENV, str(course))
    assert find_rubric("tiny").folder == course.resolve() / "rubrics" / "tiny"
    assert default_assignment() == "tiny"


def test_outside_any_course_the_default_is_the_bundled_assignment(tmp_path, monkeypatch):
    monkeypatch.delenv(COURSE_ENV, raising=False)
    monkeypatch.chdir(tmp_path)
    assert default_assignment() == "mnist_mlp"


def test_errors_name_where_they_looked(course, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError) as err:
        find_rubric("tiny")
    assert str(tmp_path.resolve()) in str(err.value) and str(PROJECT) in str(err.value)
    assert "rubrics/tiny/rubric.toml" in str(err.value) and "--course" in str(err.value)
    with pytest.raises(ConfigError, match="does not exist"):
        find_rubric("tiny", course=tmp_path / "nowhere")
    shutil.copytree(course / "rubrics" / "tiny", course / "rubrics" / "other")
    with pytest.raises(ConfigError, match=r"several assignments \(other, tiny\)"):
        default_assignment(course)


@pytest.mark.slow
def test_a_course_in_a_temporary_folder_is_assigned_checked_and_graded(course, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(course)
    assert main(["assign", "--assignment", "tiny"]) == 0
    out = capsys.readouterr().out
    # `grade assign` ran the check: the reference on the hidden suites and on the public checks.
    assert "ok   reference tiny.ipynb: 5/5" in out and "ok   public    tiny.ipynb: 1/1" in out
    assert "check passed" in out and "wrote" in out
    assert "tiny.ipynb does not exist yet: `grade assign` writes the release graded here" in out
    assert (course / "assignments" / "tiny" / "tiny.ipynb").is_file()
    submission = tmp_path / "ada.py"
    submission.write_text(GOOD)
    monkeypatch.chdir(tmp_path)  # elsewhere: the course is named by the environment
    monkeypatch.setenv(COURSE_ENV, str(course))
    assert main([str(submission), "--gpu", "off", "--threads", "1"]) == 0
    assert "Total: 5 / 5" in capsys.readouterr().out
    assert main([str(submission), "--public", "--gpu", "off", "--threads", "1"]) == 0
    assert "Total: 1 / 1" in capsys.readouterr().out


def test_a_submission_folder_never_brings_its_own_rubric(course, monkeypatch, capsys):
    # A student folder laid out like a course (rubrics/ with a test file): graded from inside it, its
    # tests would run in the grader's process. The grader refuses before running anything.
    monkeypatch.chdir(course)
    assert main([".", "--gpu", "off"]) == 2
    assert "lies inside ., which is being graded" in capsys.readouterr().err
    assert main(["batch", ".", "--out", str(course.parent / "out")]) == 2
