"""Feedback a student can act on: the function that really failed, a syntax error costing only its
function, the 80-column report, the student's own output, the command line's basics."""

from __future__ import annotations

import json

import nbformat
import pytest
import torch

from conftest import PROJECT
from grader.load.submission import load_submission
from grader.sandbox.faults import StudentError, place
from test_load import notebook

REFERENCE = PROJECT / "reference_solution" / "mnist_mlp" / "mnist_mlp.ipynb"
RELEASE = PROJECT / "assignments" / "mnist_mlp" / "mnist_mlp.ipynb"
HALF_DONE = PROJECT / "tests" / "fixtures" / "half_done.ipynb"

NESTED = """\
import torch

def leaky_relu(x):
    raise NotImplementedError

ACTIVATIONS = {"leaky_relu": leaky_relu}

class MLP(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.act = ACTIVATIONS["leaky_relu"]

    def forward(self, x):
        return self.act(x) + 1

def shapes(x):
    return [linear(r) for r in x]

def linear(r):
    return r @ torch.ones(3)
"""


# -- 1. the culprit: the innermost function of the submission that failed -----------------------------

def test_failure_names_the_innermost_student_function(sandboxed):
    s = sandboxed(NESTED)
    model = s.MLP()
    with pytest.raises(StudentError) as e:
        model.forward(torch.ones(2))
    assert str(e.value) == "MLP.forward() failed: leaky_relu() is not implemented yet (sub0.py, line 4)"
    assert e.value.culprit == ("leaky_relu", "sub0.py, line 4")
    with pytest.raises(StudentError) as e:  # a comprehension belongs to its function; torch is no culprit
        s.shapes(torch.ones(2, 4))
    assert str(e.value).startswith("shapes() failed: linear() raised RuntimeError:")
    assert str(e.value).endswith("(sub0.py, line 20)")
    with pytest.raises(StudentError) as e:  # the function called is the culprit: said once
        s.leaky_relu(torch.ones(2))
    assert str(e.value) == "leaky_relu() is not implemented yet (sub0.py, line 4)"


def test_a_forged_culprit_is_checked_and_redacted():
    forged = {"type": "ValueError", "message": "bad", "where": "cell 3, line 2",
              "culprit": {"function": "f(); import os", "where": "cell 3, line 2"}}
    assert str(StudentError("g()", forged)) == "g() raised ValueError: bad (cell 3, line 2)"
    leak = {"type": "ValueError", "message": "bad", "where": "cell 3, line 2",
            "culprit": {"function": "h", "where": "cell 0.4963 -0.7682 0.0885 0.1320, line 2"}}
    assert "4963" not in str(StudentError("g()", leak)) and "g() failed: h()" in str(StudentError("g()", leak))
    for junk in ("x" * 1000, 5, None, ["h"]):
        assert StudentError("g()", {**forged, "culprit": junk}).culprit is None


def test_a_cell_is_named_by_what_it_holds(write):
    p = write("nb.ipynb", notebook("#md intro", "import torch", "#md text",
                                   "def relu(x):\n    return x", "# the table\nACTIVATIONS = {'relu': relu}",
                                   "print(ACTIVATIONS['relu'](torch.ones(1)), 'a long line that goes on and on')"))
    guide = load_submission(p, keep="all").cell_guide()
    assert guide["cell 4"] == (("relu",), "def relu(x):")
    assert place("cell 5, line 2", guide) == "cell 5, line 2, the cell defining ACTIVATIONS"
    assert place("cell 4, line 2", guide, "relu") == "cell 4, line 2"  # the function already says which
    assert place("cell 6, line 1", guide) == "cell 6, line 1, the cell starting `print(ACTIVATIONS['relu'](torch.ones(...`"
    assert place("nb.py, line 3", guide) == "nb.py, line 3"


# -- 2. a syntax error costs only what it breaks ------------------------------------------------------

SYNTAX = """\
import torch

def relu(x):
    return torch.clamp(x, min=0)

def sigmoid(x):
    return 1 / (1 + torch.exp(-x)

ACTIVATIONS = {"sigmoid": sigmoid, "relu": relu}

class Net:
    def __init__(self, act)
        self.act = act

def act(name, x):
    return ACTIVATIONS[name](x)
"""


def test_a_broken_definition_is_a_stub_that_raises_when_called(sandboxed):
    s = sandboxed(SYNTAX)
    assert s.startup.notes == []  # ACTIVATIONS, which only mentions sigmoid, loaded
    assert torch.equal(s.act("relu", torch.tensor([-1.0, 2.0])), torch.tensor([0.0, 2.0]))
    with pytest.raises(StudentError) as e:
        s.act("sigmoid", torch.ones(1))
    assert str(e.value) == "act() failed: sigmoid() could not be compiled: '(' was never closed (sub0.py, line 7)"
    with pytest.raises(StudentError) as e:
        s.Net(1)
    assert "Net() could not be compiled: expected ':' (sub0.py, line 12)" == str(e.value)


def test_a_broken_redefinition_keeps_the_earlier_definition(write):
    # Jupyter does not run a cell that does not compile: the earlier sigmoid stays.
    p = write("nb.ipynb", notebook("def sigmoid(x):\n    return x", "def sigmoid(x):\n    return (x"))
    sub = load_submission(p)
    assert [c.filename for c in sub.chunks] == ["cell 1"]
    assert "SyntaxError" in sub.notes[0]


def _broken_sigmoid(tmp_path):
    nb = nbformat.read(REFERENCE, as_version=4)
    cell = next(c for c in nb.cells if c.cell_type == "code" and "def sigmoid" in c.source)
    assert "torch.exp(-abs_x)" in cell.source
    cell.source = cell.source.replace("torch.exp(-abs_x)", "torch.exp((-abs_x)")
    path = tmp_path / "broken_sigmoid.ipynb"
    nbformat.write(nb, path)
    return path


@pytest.mark.slow
def test_an_unclosed_parenthesis_in_sigmoid_costs_only_what_calls_sigmoid(tmp_path, data_dir):
    from grader.cli import main

    out = tmp_path / "r.json"
    assert main([str(_broken_sigmoid(tmp_path)), "--json", str(out), "--data-dir", data_dir,
                 "--threads", "1", "--gpu", "off"]) == 0
    tests = json.loads(out.read_text())["tests"]
    lost = {t["name"] for t in tests if t["score"] < t["max_score"]}
    sigmoid = {t["name"] for t in tests if t["name"].startswith("sigmoid")}
    # MLP(activation="sigmoid") really calls it: one case of the forward and one of the gradients.
    assert lost == sigmoid | {"MLP: forward logits with each activation", "MLP: gradients reach every parameter"}
    for t in tests:
        if t["name"] in lost:
            assert "sigmoid() could not be compiled: '(' was never closed (cell 14, line 7)" in t["output"]
