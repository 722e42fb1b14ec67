"""`grade check`: the reference earns every item, the release is the baseline, every mutant loses points."""

from __future__ import annotations

import shutil

import pytest

from conftest import PROJECT, TINY
from grader.cli import main

COURSE = TINY.parent.parent

IMPOSSIBLE = '''
import torch
from grader.suites.compare import expect_close


def test_mean_of_ones_is_two(student):
    expect_close(student.mean(torch.ones(3)), torch.tensor(2.0), what="mean of three ones")


def test_free(student):
    pass


def test_fit(student):
    # A test that calls a function the reference does not define (here `fit`) fails on the reference
    # too, and the check says so before any student sees it.
    student.fit(torch.ones(3), steps=3)
'''


@pytest.fixture
def broken_course(tmp_path):
    """The tiny course plus an item no submission can earn, an item anything earns, and a mutant
    that is the solution itself (so it loses nothing)."""
    course = tmp_path / "course"
    shutil.copytree(COURSE, course)
    rubric = course / "rubrics" / "tiny"
    for m in (rubric / "mutants").iterdir():
        m.unlink()
    (rubric / "mutants" / "not_a_mistake.py").write_text(
        "import torch\ndef mean(x):\n    return x.mean()\ndef clip(x, lo, hi):\n    return x.clamp(lo, hi)\n")
    (rubric / "test_extra.py").write_text(IMPOSSIBLE)
    with open(rubric / "rubric.toml", "a") as f:
        f.write('\n[[items]]\nname = "impossible"\nsection = "Extra"\npoints = 1\n'
                'tests = ["test_extra.py::test_mean_of_ones*"]\n'
                '\n[[items]]\nname = "free"\nsection = "Extra"\npoints = 1\ntests = ["test_extra.py::test_free"]\n'
                '\n[[items]]\nname = "fit"\nsection = "Extra"\npoints = 1\ntests = ["test_extra.py::test_fit"]\n')
    return course


@pytest.mark.slow
def test_check_passes_on_the_tiny_course(capsys):
    assert main(["check", "--rubric", str(TINY)]) == 0
    out = capsys.readouterr().out
    assert "ok   reference tiny.ipynb: 5/5" in out and "ok   release   tiny.ipynb: 0/5" in out
    # Each mutant is reported with the items that caught it.
    assert "mean_is_sum.py: 3/5" in out and "caught by: 1.1 mean (1/3)" in out
    assert "clip_no_upper_bound.ipynb: 3/5" in out and "caught by: 1.2 clip (0/2)" in out
    assert "check passed: 0 error(s), 0 warning(s)" in out


@pytest.mark.slow
def test_check_fails_on_an_unreachable_item_and_on_a_mutant_that_loses_nothing(broken_course, capsys):
    code = main(["check", "--course", str(broken_course), "--assignment", "tiny"])
    out = capsys.readouterr().out
    assert code == 1, out
    # The item the reference cannot earn is named, with what the check said.
    assert "the reference earns 0/1 on item 2.1 impossible: " in out
    assert "mean of three ones" in out
    assert "mutant not_a_mistake.py loses nothing" in out
    assert "the reference earns 0/1 on item 2.3 fit: " in out
    # An item the blank release earns is a warning, not an error.
    assert "warning: the blank release earns 1/1 on item 2.2 free" in out
    assert "check FAILED: 3 error(s), 1 warning(s)" in out


@pytest.mark.slow
def test_gradescope_and_assign_refuse_to_build_when_the_check_fails(broken_course, tmp_path, capsys):
    out = tmp_path / "a.zip"
    release = broken_course / "assignments" / "tiny" / "tiny.ipynb"
    before = release.read_text()
    release.write_text("stale")
    assert main(["gradescope", "--course", str(broken_course), "-o", str(out)]) == 1
    assert not out.exists()
    assert main(["assign", "--course", str(broken_course)]) == 1
    assert release.read_text() == "stale"  # not replaced: the check failed
    assert "not written" in capsys.readouterr().out
    assert main(["assign", "--course", str(broken_course), "--no-check"]) == 0
    assert release.read_text() == before


@pytest.mark.slow
def test_the_bundled_backprop_assignment_passes_its_check(data_dir, capsys):
    # The second assignment, written through the instructor guide alone: reference, release, public
    # checks and four mutants, each caught.
    assert main(["check", "--assignment", "backprop", "--data-dir", data_dir]) == 0, capsys.readouterr().out
    out = capsys.readouterr().out
    assert "ok   reference backprop.ipynb: 50/50" in out and "ok   public    backprop.ipynb: 4/4" in out
    assert out.count("caught by:") == 4


def test_the_mnist_mlp_reference_earns_every_public_point(data_dir):
    # What `grade check` asserts as "public": a correct notebook passes every check students run.
    from grader.pipeline import GradeOptions, grade
    from grader.rubric import find_rubric

    rubric = find_rubric("mnist_mlp")
    result = grade(rubric.reference, find_rubric("mnist_mlp", public=True),
                   GradeOptions(data_dir=data_dir, threads=1, gpu="off"))
    assert result.score == result.max_score == 5, [(i.name, i.feedback) for i in result.items if i.score < i.max_score]


def test_check_needs_a_reference(capsys):
    public = PROJECT / "assignments" / "mnist_mlp" / "public"
    assert main(["check", "--rubric", str(public)]) == 1
    assert "cannot be checked" in capsys.readouterr().out


def test_mutants_are_the_notebooks_and_python_files_of_the_mutants_folder(tmp_path):
    from grader.authoring.check import mutants_of
    from grader.rubric import load_rubric

    course = tmp_path / "course"
    shutil.copytree(COURSE, course)
    (course / "rubrics" / "tiny" / "mutants" / "notes.md").write_text("why each mutant exists")
    rubric = load_rubric(course / "rubrics" / "tiny")
    assert [p.name for p in mutants_of(rubric)] == ["clip_no_upper_bound.ipynb", "mean_is_sum.py"]
