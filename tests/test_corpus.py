"""Mutation corpus of mnist_mlp: every mutant gets exactly its recorded score and loses exactly its
recorded items; every correct variant, however it is written, gets full marks.

The corpus lives in tests/corpus/mnist_mlp/: mutants.toml (one student mistake each, as text
replacements on the reference solution), generate.py (applies them), correct/ (real submissions) and
make_notebooks.py (writes the two notebooks of correct/). Each grade trains on MNIST twice (about 10 s
on an idle core). By default the mutants marked `extended` are skipped; GRADER_CORPUS=all grades them too.
"""

from __future__ import annotations

import ast
import importlib.util
import os
import sys

import pytest

from conftest import PROJECT

pytestmark = pytest.mark.slow

CORPUS = PROJECT / "tests" / "corpus" / "mnist_mlp"
ALL = os.environ.get("GRADER_CORPUS") == "all"


def _module(name: str):
    spec = importlib.util.spec_from_file_location(f"corpus_mnist_mlp_{name}", CORPUS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


generate = _module("generate")
make_notebooks = _module("make_notebooks")
MUTANTS = generate.load_mutants()
CORRECT = sorted(p for p in (CORPUS / "correct").iterdir() if p.suffix in (".py", ".ipynb"))


def _mutant_params():
    for m in MUTANTS:
        marks = []
        if m.extended and not ALL:
            marks.append(pytest.mark.skip(reason="extended corpus: set GRADER_CORPUS=all"))
        if m.xfail:
            marks.append(pytest.mark.xfail(strict=True, reason=m.xfail))
        yield pytest.param(m, id=m.name, marks=marks)


@pytest.fixture(scope="module")
def rubric():
    from grader.rubric import find_rubric

    return find_rubric("mnist_mlp")


@pytest.fixture(scope="module")
def reference_source():
    return generate.reference_source()


def _grade(path, rubric, data_dir, gpu="off", gpu_device=None):
    from grader.pipeline import GradeOptions, grade

    return grade(path, rubric, GradeOptions(data_dir=data_dir, threads=1, gpu=gpu, gpu_device=gpu_device))


def _summary(result) -> str:
    lines = [f"score {result.score} of {result.max_score}"]
    for item in result.items:
        if item.score < item.max_score:
            lines.append(f"  - {item.name}: {item.score}/{item.max_score}: {' | '.join(item.feedback)[:500]}")
    return "\n".join(lines)


# -- the corpus itself: cheap checks, no grading ----------------------------------------------------

def test_corpus_is_well_formed(rubric, reference_source):
    names = {i.name for i in rubric.items}
    assert len(MUTANTS) >= 20 and len(CORRECT) >= 4
    assert len([m for m in MUTANTS if not m.extended and not m.xfail]) >= 20
    for m in MUTANTS:
        assert bool(m.replace) != bool(m.file), f"{m.name}: replace or file, one of them"
        for old, _ in m.replace:
            assert reference_source.count(old) == 1, f"{m.name}: {old!r} must occur exactly once"
        source = generate.apply(reference_source, m)
        assert source != reference_source, m.name
        ast.parse(source)  # a mutant is a mistake in behaviour, never a syntax error
        assert 0 < m.score < 100, m.name
        assert m.loses and set(m.loses) <= names, f"{m.name}: unknown items {set(m.loses) - names}"
        max_lost = sum(i.points for i in rubric.items if i.name in m.loses)
        assert 100 - max_lost <= m.score + m.tolerance, f"{m.name}: loses more than its items are worth"
    # Every mutant `grade check` runs has its exact score recorded here.
    shipped = {p.relative_to(PROJECT).as_posix() for p in (PROJECT / "rubrics" / "mnist_mlp" / "mutants").iterdir()}
    assert shipped and shipped == {m.file for m in MUTANTS if m.file}


@pytest.mark.parametrize("name", sorted(make_notebooks.NOTEBOOKS))
def test_corpus_notebooks_are_up_to_date(name):
    assert (CORPUS / "correct" / name).read_text() == make_notebooks.render(name), \
        f"run .venv/bin/python {CORPUS.relative_to(PROJECT)}/make_notebooks.py"


# -- grading -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("mutant", list(_mutant_params()))
def test_mutant_gets_its_exact_score(mutant, tmp_path, data_dir, rubric, reference_source):
    path = tmp_path / f"{mutant.name}.py"
    path.write_text(f"# mutant {mutant.name}: {mutant.mistake}\n" + generate.apply(reference_source, mutant))
    result = _grade(path, rubric, data_dir)
    summary = _summary(result)
    assert result.error is None and result.max_score == 100, summary
    lost = [i for i in result.items if i.score < i.max_score]
    assert {i.name for i in lost} == set(mutant.loses), summary
    assert abs(result.score - mutant.score) <= mutant.tolerance + 1e-9, summary
    assert 0 < result.score < 100, summary
    if mutant.hint:
        feedback = [f for i in lost for f in i.feedback]
        assert any(mutant.hint in f for f in feedback), f"hint {mutant.hint!r} not in the feedback\n{summary}"


@pytest.mark.parametrize("path", CORRECT, ids=[p.name for p in CORRECT])
def test_correct_variant_gets_full_marks(path, data_dir, rubric):
    # The GPU section too, run on the CPU: its checks must not depend on how a correct answer is written.
    result = _grade(path, rubric, data_dir, gpu="on", gpu_device="cpu")
    assert result.error is None, result.error
    assert result.score == result.max_score == 105, _summary(result)
    assert all(i.status == "passed" for i in result.items if i.max_score > 0), _summary(result)
