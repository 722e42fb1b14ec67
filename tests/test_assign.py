"""`grade assign`: the student release is generated from the reference and kept up to date."""

from __future__ import annotations

import nbformat
import pytest

from grader.authoring.assign import make_release, strip_solutions
from grader.errors import ConfigError
from grader.rubric import find_rubric


@pytest.mark.parametrize("assignment", ["mnist_mlp", "backprop"])
def test_committed_release_is_up_to_date(assignment):
    rubric = find_rubric(assignment)
    assert rubric.release.read_text() == make_release(rubric.reference), (
        f"assignments/{assignment}/{assignment}.ipynb is out of date: run `grade assign --assignment {assignment}`")


def test_release_has_no_solutions_outputs_or_hidden_material():
    rubric = find_rubric("mnist_mlp")
    nb = nbformat.read(str(rubric.release), as_version=4)
    text = rubric.release.read_text()
    assert "BEGIN SOLUTION" not in text and "END SOLUTION" not in text
    # A few solution lines of the reference that must never reach students.
    for secret in ("torch.logsumexp(logits", "uniform_(-bound, bound)", "x @ W + b"):
        assert secret not in text
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(c.outputs == [] and c.execution_count is None for c in code)
    stubs = sum(c.source.count("raise NotImplementedError") for c in code)
    assert stubs >= 16  # every function of the spec, MLP.__init__ and MLP.forward


def test_strip_keeps_indentation_and_docstrings():
    src = 'def f(x):\n    """Doc."""\n    # BEGIN SOLUTION\n    y = x\n    return y\n    # END SOLUTION\n'
    assert strip_solutions(src, "t") == 'def f(x):\n    """Doc."""\n    raise NotImplementedError\n'


@pytest.mark.parametrize("src", ["# BEGIN SOLUTION\nx = 1\n", "x = 1\n# END SOLUTION\n",
                                 "# BEGIN SOLUTION\n# BEGIN SOLUTION\n# END SOLUTION\n"])
def test_unbalanced_markers_are_config_errors(src):
    with pytest.raises(ConfigError):
        strip_solutions(src, "cell 3")


def test_release_never_calls_itself_the_reference_solution(tmp_path):
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell("# MLP\n*CS 419, reference solution.*\n\nThis Reference  Solution is long."),
        nbformat.v4.new_code_cell("# BEGIN SOLUTION\nx = 1\n# END SOLUTION\ny = 'reference solution'  # code as is"),
    ])
    reference = tmp_path / "ref.ipynb"
    nbformat.write(nb, str(reference))
    release = nbformat.reads(make_release(reference), as_version=4)
    header, code = release.cells
    assert header.source == "# MLP\n*CS 419, assignment.*\n\nThis Assignment is long."
    assert code.source == "raise NotImplementedError\ny = 'reference solution'  # code as is"


@pytest.mark.parametrize("assignment", ["mnist_mlp", "backprop"])
def test_committed_release_does_not_say_reference_solution(assignment):
    release = find_rubric(assignment).release
    cells = nbformat.read(str(release), as_version=4).cells
    assert not [c for c in cells if c.cell_type == "markdown" and "reference solution" in c.source.lower()]
