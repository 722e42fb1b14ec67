"""Similarity: a disguised copy of a real MNIST solution scores 100%; the corpus's independent correct
solutions (and the reference) stay far below the threshold."""

from __future__ import annotations

import re

from conftest import PROJECT
from grader.batch.similarity import (
    THRESHOLD,
    find_similar,
    fingerprints,
    graded_code,
    normalise,
)
from grader.rubric import find_rubric

CORRECT = PROJECT / "tests" / "corpus" / "mnist_mlp" / "correct"


def test_normalising_drops_names_comments_docstrings_and_layout():
    a = 'def f(x, y):\n    """Doc."""\n    total = x + y  # sum\n    return total.mean()\n'
    b = "def g(p,\n      q):\n    s = p + q\n\n    return s.mean()\n"
    assert normalise(a) == normalise(b)
    assert ".mean" not in " ".join(normalise(a)) and "mean" in normalise(a)  # attribute names stay
    assert normalise("def f(x):\n    return x.sum()\n") != normalise(a)
    assert normalise("def broken(:\n") is not None  # code that does not tokenize is no crash


def test_disguised_copy_flagged_independent_solutions_not():
    rubric = find_rubric("mnist_mlp")
    codes = {p.stem: graded_code(p, rubric) for p in sorted(CORRECT.iterdir())}
    codes["reference"] = graded_code(rubric.reference, rubric)
    assert all(codes.values()) and len(codes) >= 8
    b = codes["b_where_branches"]
    codes["copy_of_b"] = re.sub(r"#.*", "", b).replace("images", "imgs").replace("labels", "ys").replace("\n\n", "\n\n\n")
    release = graded_code(rubric.release, rubric)
    pairs = find_similar(codes, release)
    assert [(p.a, p.b, p.score) for p in pairs] == [("b_where_branches", "copy_of_b", 1.0)]
    closest = max(find_similar(codes, release, threshold=0, min_shared=0),
                  key=lambda p: p.score if "copy_of_b" not in (p.a, p.b) else 0)
    assert closest.score < THRESHOLD / 2, closest  # the nearest independent pair is far from the line


def test_release_code_and_code_everyone_has_are_not_evidence():
    release = "import torch\n\ndef mean(x):\n    " + "\n    ".join(f"v{i} = x * {i} + torch.ones(3)" for i in range(20))
    tails = ["return x.sum() / 3", "y = torch.mean(x)\n    return y", "for _ in range(1):\n        pass\n    return x.mean()"]
    codes = {f"s{n}": release + "\n    " + tail + "\n" for n, tail in enumerate(tails)}
    assert find_similar(codes, release, min_shared=1) == ()
    assert find_similar(codes, "", min_shared=1)  # the release is what kept them apart
    assert fingerprints([]) == set()
