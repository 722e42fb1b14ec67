"""The fast layer: scoring, the suites, results.json, the terminal report, grades.csv and the class report,
tested without a sandbox. Submissions run in the real worker code, served in-process by tests/fakes.py;
everything here takes milliseconds to a second."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import jsonschema
import pytest
from fakes import InProcessLauncher
from rich.console import Console

from conftest import PROJECT
from grader.classrun import BatchRun, ClassSource, Graded, Person, StudentSubmission
from grader.pipeline import GradeOptions, grade
from grader.report.gradebook import write_grades_csv
from grader.report.gradescope import to_results_json
from grader.report.html import failure_reasons, render_html
from grader.report.terminal import render
from grader.results import Isolation, Outcome
from grader.rubric import score_items
from grader.serialize import from_plain, to_plain

SCHEMA = json.loads((PROJECT / "tests" / "fixtures" / "gradescope_results.schema.json").read_text())
OPTIONS = GradeOptions(threads=1, gpu="off")
GOOD = "import torch\ndef mean(x):\n    return x.mean()\ndef clip(x, lo, hi):\n    return x.clamp(lo, hi)\n"


def _grade(write, tiny_rubric, source: str, name: str = "sub.py"):
    launcher = InProcessLauncher()
    result = grade(write(name, source), tiny_rubric, OPTIONS, zygote=launcher)
    assert launcher.spawned >= 1  # graded in-process, not in a sandbox
    return result


# -- scoring -------------------------------------------------------------------------------------------

def test_scoring_partial_credit_curves_and_optional_items_from_outcomes_alone(tiny_rubric):
    outcomes = (Outcome("test_tiny.py::test_mean[1]", "passed"), Outcome("test_tiny.py::test_mean[5]", "failed", "wrong"),
                Outcome("test_tiny.py::test_mean[100]", "passed"), Outcome("test_tiny.py::test_clip", "error", "bug"))
    mean, clip = score_items(tiny_rubric, outcomes)
    assert (mean.score, mean.max_score, mean.status) == (2.0, 3, "partial")
    assert mean.feedback == ("2 of 3 cases passed", "wrong")
    assert (clip.score, clip.status) == (0.0, "failed")


def test_hints_are_typed_so_student_text_saying_hint_is_never_a_recognised_mistake(tiny_rubric):
    outcomes = (Outcome("test_tiny.py::test_mean[1]", "failed", "mean(x) raised ValueError: hint: copy me"),
                Outcome("test_tiny.py::test_clip", "failed", "clip: wrong — hint: that is x", hint="that is x"))
    mean, clip = score_items(tiny_rubric, outcomes)
    assert mean.hints == () and clip.hints == ("that is x",)


# -- the whole path, in-process ------------------------------------------------------------------------

def test_correct_submission_full_marks_in_process(write, tiny_rubric):
    result = _grade(write, tiny_rubric, GOOD)
    assert (result.score, result.max_score) == (5, 5)
    jsonschema.validate(to_results_json(result), SCHEMA)
    assert from_plain(json.loads(json.dumps(to_plain(result)))) == result


def test_a_mistake_costs_its_item_with_a_typed_hint(write, tiny_rubric):
    result = _grade(write, tiny_rubric, GOOD.replace("x.mean()", "x.sum()"))
    mean, clip = result.items
    assert (mean.score, clip.score) == (1, 2)  # for one value the sum is the mean
    assert mean.hints == ("that is the sum, not the mean",)


def test_student_exception_text_is_feedback_not_a_hint(write, tiny_rubric):
    result = _grade(write, tiny_rubric, GOOD.replace("return x.mean()", "raise ValueError('hint: free points')"))
    mean = result.items[0]
    assert mean.score == 0 and mean.hints == ()
    assert any("free points" in f for f in mean.feedback)


# -- reporters ------------------------------------------------------------------------------------------

def _run(write, tiny_rubric) -> BatchRun:
    graded = []
    for key, source in {"ada": GOOD, "cy": GOOD.replace("x.mean()", "x.sum()"),
                        "eve": GOOD.replace("return x.mean()", "raise ValueError('hint: free points')")}.items():
        sub = StudentSubmission(key, Path(f"{key}.py"), (Person(key, key.title()),), f"{key}.py")
        graded.append(Graded(sub, "graded", _grade(write, tiny_rubric, source, f"{key}.py")))
    absent = StudentSubmission("gus", Path("gus.ipynb"), (Person("gus"),), "gus.ipynb")
    graded.append(Graded(absent, "needs regrade", None, 2, "the grader could not run"))
    source = ClassSource("folder", tuple(g.submission for g in graded))
    return BatchRun(source, tiny_rubric, tuple(graded), 1.0, 3)


def test_grades_csv_and_class_report_from_a_run(write, tiny_rubric, tmp_path):
    run = _run(write, tiny_rubric)
    write_grades_csv(run, tmp_path / "grades.csv")
    rows = {r["student_id"]: r for r in csv.DictReader(io.StringIO((tmp_path / "grades.csv").read_text("utf-8-sig")))}
    assert (rows["ada"]["score"], rows["cy"]["score"], rows["gus"]["status"]) == ("5", "3", "needs regrade")
    _, known = failure_reasons(run)
    assert known == [("1.1 mean", "that is the sum, not the mean", ["cy"])]  # not eve: her "hint:" is her text
    page = render_html(run)
    assert "that is the sum, not the mean" in page and "<script" not in page


def test_terminal_report_says_total_and_hides_hidden_items(write, tiny_rubric):
    result = _grade(write, tiny_rubric, GOOD)
    out = io.StringIO()
    render(result, Console(file=out, width=80, color_system=None), show_hidden=False)
    text = out.getvalue()
    assert "5" in text and "mean" in text
    assert result.isolation_level in (Isolation.FULL, Isolation.REDUCED, Isolation.AS_ROOT)


# -- student.<name> reaches the student's <name>, whatever it is called -------------------------------------

COLLIDING = ("fit", "seed", "trace", "call", "names", "mnist", "vjp", "counting", "close", "request",
             "connection", "known_good", "params", "_private")


def test_every_name_reaches_the_students_function_even_the_grader_operations(tmp_path):
    from grader.rubric import load_rubric

    source = "".join(f"def {n}(x, *, steps=1):\n    return x * steps + {i}\n" for i, n in enumerate(COLLIDING))
    # and an object whose methods are named like what the grader's handle to it once had
    source += "class Box:\n    def method(self, x):\n        return x + 100\n    def type_name(self, x):\n        return x + 200\n"
    (tmp_path / "reference.py").write_text(source)
    rubric = tmp_path / "rubrics" / "names"
    rubric.mkdir(parents=True)
    tests = "import torch\nfrom grader.suites.compare import expect_close\n\n"
    for n in COLLIDING:
        tests += (f"def test_{n.strip('_')}(student, reference, sandbox):\n    sandbox.seed(0)\n"
                  f"    expect_close(student.{n}(torch.ones(2), steps=3), reference.{n}(torch.ones(2), steps=3), "
                  f"what='{n}')\n\n")
    tests += ("def test_Box(student, reference):\n    box, ref = student.Box(), reference.Box()\n"
              "    expect_close(box.method(torch.ones(2)), ref.method(torch.ones(2)), what='Box.method')\n"
              "    expect_close(box.type_name(torch.ones(2)), ref.type_name(torch.ones(2)), what='Box.type_name')\n")
    (rubric / "test_names.py").write_text(tests)
    names = (*COLLIDING, "Box")
    items = "".join(f'[[items]]\nname = "{n}"\nsection = "Names"\npoints = 1\ntests = ["test_names.py::test_{n.strip("_")}"]\n\n'
                    for n in names)
    (rubric / "rubric.toml").write_text(f'[assignment]\nname = "names"\ntitle = "Names"\nreference = "{tmp_path / "reference.py"}"\n'
                                        f'required_names = {list(names)!r}\n\n{items}')
    result = grade(tmp_path / "reference.py", load_rubric(rubric), OPTIONS, zygote=InProcessLauncher())
    assert result.score == result.max_score == len(names), [i.feedback for i in result.items if i.score < 1]


def test_the_grader_operations_are_out_of_the_students_reach():
    from grader.suites.student import Student, StudentNames, sandbox_of

    fake = object.__new__(Student)
    names = StudentNames(fake)
    assert sandbox_of(names) is fake and sandbox_of(fake) is fake
    assert not hasattr(StudentNames, "seed") and not hasattr(StudentNames, "fit")
    assert vars(StudentNames).keys() <= {"__module__", "__doc__", "__slots__", "__weakref__", "__init__",
                                         "__getattr__", "__repr__"}


def test_a_new_instructor_mutant_regrades_no_class(tmp_path):
    import shutil

    from conftest import TINY
    from grader.batch.engine import rubric_sha256
    from grader.rubric import load_rubric

    course = tmp_path / "course"
    shutil.copytree(TINY.parent.parent, course)
    rubric = load_rubric(course / "rubrics" / "tiny")
    before = rubric_sha256(rubric)
    (course / "rubrics" / "tiny" / "mutants" / "another.py").write_text("def mean(x):\n    return x\n")
    assert rubric_sha256(rubric) == before
    (course / "rubrics" / "tiny" / "test_tiny.py").write_text("# changed\n")
    assert rubric_sha256(rubric) != before


def test_training_hints_are_read_off_the_run():
    import math

    import torch

    from grader.suites.training import measured_hints

    w = {"weights.0": torch.ones(2, 2), "biases.0": torch.zeros(2)}
    moved = {k: v + 0.1 for k, v in w.items()}
    assert "left every weight" in measured_hints(w, dict(w), 2.3, 2.3)[0]
    assert "went up" in measured_hints(w, moved, 2.0, 2.5)[0]
    assert "ln(10)" in measured_hints(w, moved, 2.5, math.log(10))[0]
    assert measured_hints(w, moved, 2.3, 0.4) == []  # a run that trained: nothing to say
    assert measured_hints(w, moved, 2.3, 0.4, held_gradient=2.0) == []  # the last step's gradient, kept
    assert "optimizer.zero_grad()" in measured_hints(w, moved, 2.3, 2.2, held_gradient=40.0)[0]


def test_the_held_gradient_is_measured_against_one_minibatch_computed_here():
    import torch

    from grader.suites.training import held_gradient_ratio
    from grader.suites.weights import relu_logits

    g = torch.Generator().manual_seed(0)
    w = {"weights.0": torch.randn(6, 4, generator=g), "biases.0": torch.randn(4, generator=g),
         "weights.1": torch.randn(4, 3, generator=g), "biases.1": torch.randn(3, generator=g)}
    x, y = torch.randn(8, 6, generator=g), torch.randint(0, 3, (8,), generator=g)
    leaf = {k: t.double().requires_grad_() for k, t in w.items()}
    torch.nn.functional.cross_entropy(relu_logits(leaf, x), y).backward()
    one = {k: float(t.grad.norm()) for k, t in leaf.items()}
    assert abs(held_gradient_ratio(one, w, x, y) - 1) < 1e-9
    assert abs(held_gradient_ratio({k: 30 * v for k, v in one.items()}, w, x, y) - 30) < 1e-6
    assert held_gradient_ratio({**one, "biases.1": None}, w, x, y) is None  # no gradient held: nothing to say
    assert held_gradient_ratio({**one, "weights.0": float("nan")}, w, x, y) is None


def test_two_rubrics_with_the_same_test_file_name_each_run_their_own_tests(write, tmp_path):
    # pytest's importlib mode reuses sys.modules by the file's name under the rootdir: a second rubric's
    # test_public.py in the same process once ran the first one's tests.
    import shutil

    from conftest import TINY
    from grader.rubric import load_rubric

    rubrics = []
    for name, expect in (("a", "2.0"), ("b", "99.0")):
        shutil.copytree(TINY.parent.parent, tmp_path / name)
        folder = tmp_path / name / "rubrics" / "tiny"
        (folder / "rubric.toml").write_text((folder / "rubric.toml").read_text().replace("test_tiny.py", "test_public.py"))
        (folder / "test_tiny.py").unlink()
        (folder / "test_public.py").write_text(
            "import torch\n\ndef test_mean(student):\n"
            f"    assert float(student.mean(torch.tensor([1.0, 3.0]))) == {expect}\n\n"
            "def test_clip(student):\n    assert float(student.clip(torch.tensor(5.0), 0.0, 1.0)) == 1.0\n")
        rubrics.append(load_rubric(folder))
    path = write("sub.py", GOOD)
    first, second = (grade(path, rubric, OPTIONS, zygote=InProcessLauncher()) for rubric in rubrics)
    assert first.score == 5 and second.score == 2  # b's mean check expects 99


# -- the batch loop, no process started ----------------------------------------------------------------

def _class_of(tmp_path, sources: dict[str, str]):
    from grader.batch.source import open_source

    folder = tmp_path / "class"
    folder.mkdir()
    for name, text in sources.items():
        (folder / f"{name}.py").write_text(text)
    return open_source(folder, tmp_path / "work")


def test_batch_loop_records_journal_files_and_grades_in_process(tmp_path, tiny_rubric):
    from fakes import in_process_child_launcher

    from grader.batch.engine import grade_class
    from grader.classrun import BatchOptions

    source = _class_of(tmp_path, {"ada": GOOD, "ben": GOOD.replace("x.mean()", "x.sum()"), "cy": GOOD + "# same\n"})
    out = tmp_path / "out"
    options = BatchOptions(jobs=2)
    launcher = in_process_child_launcher(out / ".work" / "children", tiny_rubric, options)
    log = io.StringIO()
    run = grade_class(source, out, tiny_rubric, options, console=Console(file=log), launcher=launcher)
    by = {g.submission.key: g for g in run.graded}
    assert {k: (g.status, g.result.score) for k, g in by.items()} == {
        "ada": ("graded", 5), "ben": ("graded", 3), "cy": ("graded", 5)}
    assert not run.interrupted and run.graded_now == 3
    journal = [json.loads(line) for line in (out / "journal.jsonl").read_text().splitlines()]
    assert sorted(e["submission"] for e in journal) == ["ada", "ben", "cy"]
    assert json.loads((out / "ben" / "results.json").read_text())["score"] == 3
    assert "that is the sum, not the mean" in (out / "ben" / "feedback.txt").read_text()
    assert not list((out / ".work" / "children").iterdir())  # each child's files go once it is recorded
    assert "✓ ben  3/5 (60%)" in log.getvalue()
    again = grade_class(source, out, tiny_rubric, options, console=Console(file=io.StringIO()),
                        launcher=in_process_child_launcher(out / ".work" / "children", tiny_rubric, options))
    assert again.graded_now == 0 and all(g.from_journal for g in again.graded)  # the journal is the commit point


@pytest.mark.parametrize("when, kept", [("start", 2), ("record", 1)])
def test_a_signal_stops_the_batch_between_two_records_never_inside_one(when, kept, tmp_path, tiny_rubric):
    """SIGTERM (Ctrl-C alike) while the second child starts, or while the first result is being recorded:
    the run stops after the record in hand, says it was interrupted, and kept exactly what it journaled."""
    import os
    import signal

    from fakes import in_process_child_launcher

    from grader.batch.engine import grade_class
    from grader.classrun import NEEDS_REGRADE, BatchOptions

    source = _class_of(tmp_path, {f"s{n}": GOOD + f"# {n}\n" for n in range(5)})
    out = tmp_path / "out"
    options = BatchOptions(jobs=1)
    started = []

    def on_start(key, sub, attempt):
        started.append(sub.key)
        if when == "start" and len(started) == 2:
            os.kill(os.getpid(), signal.SIGTERM)

    def on_result(run):
        if when == "record" and run.graded_now == 1:  # inside the first record: nothing may raise here
            os.kill(os.getpid(), signal.SIGTERM)

    launcher = in_process_child_launcher(out / ".work" / "children", tiny_rubric, options, on_start=on_start)
    previous = signal.getsignal(signal.SIGTERM)
    run = grade_class(source, out, tiny_rubric, options, console=Console(file=io.StringIO()),
                      launcher=launcher, on_result=on_result)
    assert signal.getsignal(signal.SIGTERM) is previous  # the batch's handlers are gone
    assert run.interrupted
    journal = (out / "journal.jsonl").read_text().splitlines()
    assert len(journal) == len(started) == kept
    assert [g.status for g in run.graded].count(NEEDS_REGRADE) == 5 - kept
    assert all((out / g.submission.key / "results.json").exists() for g in run.graded if g.status != NEEDS_REGRADE)
