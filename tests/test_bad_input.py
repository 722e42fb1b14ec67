"""Broken, not malicious (threat 15): files that are not what they claim, graded all the way through grade().

Each gets a clear one-line reason and a score (GradeResult.error, or notes when the file loads), never a
traceback of the grader; and a property test feeds random notebook-shaped JSON to the loader, which may only
return a Submission or raise SubmissionError.
"""

from __future__ import annotations

import ast
import json
import tempfile
from pathlib import Path

import nbformat
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from grader.errors import SubmissionError
from grader.load.submission import MAX_SUBMISSION_BYTES, Submission, load_submission
from grader.pipeline import GradeOptions, grade

OPTIONS = GradeOptions(threads=1, gpu="off")
GOOD = "import torch\n\ndef mean(x):\n    return x.mean()\n\ndef clip(x, lo, hi):\n    return x.clamp(lo, hi)\n"


def notebook(*cells: str, major: int = 4) -> str:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(c) for c in cells]
    data = json.loads(nbformat.writes(nb))
    data["nbformat"] = major
    return json.dumps(data)


def _no_traceback(result) -> None:
    text = "\n".join([result.error or "", *result.notes, *(f for i in result.items for f in i.feedback)])
    assert "Traceback" not in text and 'File "' not in text, text


# -- unreadable: a score of 0 and the reason, before any sandbox starts ---------------------------------

UNREADABLE = {
    "invalid JSON": ("bad.ipynb", b'{"cells": [', "not valid JSON"),
    "JSON but no cells": ("bad.ipynb", b'{"metadata": {}}', "not a Jupyter notebook"),
    "nbformat 3": ("old.ipynb", notebook("x = 1", major=3).encode(), "format 3 is not supported"),
    "nbformat 5": ("new.ipynb", notebook("x = 1", major=5).encode(), "format 5 is not supported"),
    "nbformat as a string": ("str.ipynb", notebook("x = 1").replace('"nbformat": 4', '"nbformat": "4"').encode(),
                             "format '4' is not supported"),
    "empty notebook file": ("empty.ipynb", b"", "the file is empty"),
    "empty .py file": ("empty.py", b"", "the file is empty"),
    "non-UTF-8 .py": ("latin1.py", "def f():\n    return 'caf\xe9'\n".encode("latin-1"), "not UTF-8"),
    "non-UTF-8 notebook": ("latin1.ipynb", b'{"cells": [], "x": "\xe9"}', "not UTF-8"),
    "UTF-16 notebook": ("utf16.ipynb", notebook("x = 1").encode("utf-16"), "not UTF-8"),
    "cells not a list": ("cells.ipynb", b'{"cells": 7, "nbformat": 4, "nbformat_minor": 5, "metadata": {}}',
                         "not a valid Jupyter notebook"),
    "JSON nested 100,000 deep": ("deep.ipynb", b'{"cells": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
                                 "not a usable notebook"),
    "a 5,000-digit number": ("digits.ipynb", b'{"cells": [], "nbformat": 4' + b"0" * 5000 + b"}",
                             "not a usable notebook"),
    "a megabyte of statements": ("big.py", b"x = 1\n" * 200_000, "over the limit"),
    "a text file": ("notes.txt", b"def mean(x): pass\n", "expected a .ipynb"),
}


@pytest.mark.parametrize("name", list(UNREADABLE))
def test_unreadable_submission_is_a_zero_with_its_reason(name, write, tiny_rubric):
    filename, content, fragment = UNREADABLE[name]
    result = grade(write(filename, content), tiny_rubric, OPTIONS)
    assert result.score == 0 and result.max_score == 5
    assert result.error and fragment in result.error and "\n" not in result.error, result.error
    assert all(i.feedback == ("not graded: the submission could not be read",) for i in result.items)
    _no_traceback(result)


def test_a_200_mb_notebook_is_refused_by_its_size(tmp_path, tiny_rubric):
    # A real notebook, its size in one output: refused before it is read or parsed.
    path = tmp_path / "huge.ipynb"
    nb = json.loads(notebook(GOOD))
    nb["cells"][0]["outputs"] = [{"output_type": "stream", "name": "stdout", "text": ["PLACEHOLDER"]}]
    head, tail = json.dumps(nb).split("PLACEHOLDER")
    with open(path, "w") as f:
        f.write(head)
        chunk = "x" * (1 << 20)
        for _ in range(200):
            f.write(chunk)
        f.write(tail)
    assert path.stat().st_size > 200 * 2**20 > MAX_SUBMISSION_BYTES
    result = grade(path, tiny_rubric, OPTIONS)
    assert result.score == 0 and "over the 50 MB limit" in result.error and "Restart & Clear Output" in result.error
    _no_traceback(result)


def test_folders_without_one_clear_notebook(write, tmp_path, tiny_rubric):
    write("none/readme.md", "no code here")
    write("two/a.ipynb", notebook(GOOD))
    write("two/b.ipynb", notebook(GOOD))
    for folder, fragment in (("none", "no .ipynb or .py file"), ("two", "several candidate files")):
        result = grade(tmp_path / folder, tiny_rubric, OPTIONS)
        assert result.score == 0 and fragment in result.error
        _no_traceback(result)


# -- readable but odd: graded normally, with notes ------------------------------------------------------

def test_cells_that_are_only_magics_are_skipped_with_a_note(write, tiny_rubric):
    nb = notebook("%%time\nfor i in range(3):\n    print(i)", "%matplotlib inline\n!pip install torch\n%load_ext autoreload",
                  "%%bash\necho hello", "x = !ls\n%timeit sum(range(10))")
    result = grade(write("magics.ipynb", nb), tiny_rubric, OPTIONS)
    assert result.error is None and result.score == 0 and result.max_score == 5
    assert any("cell magic, skipped" in n for n in result.notes)
    assert all("is not defined in your submission" in " ".join(i.feedback) for i in result.items)
    _no_traceback(result)


def test_windows_line_endings_in_a_notebook_grade_normally(write, tiny_rubric):
    nb = json.loads(notebook(GOOD))
    nb["cells"][0]["source"] = GOOD.replace("\n", "\r\n")
    result = grade(write("crlf.ipynb", json.dumps(nb).replace("\n", "\r\n")), tiny_rubric, OPTIONS)
    assert result.error is None and result.score == 5


def test_a_py_file_with_a_bom_and_crlf_grades_normally(write, tiny_rubric):
    result = grade(write("bom.py", b"\xef\xbb\xbf" + GOOD.replace("\n", "\r\n").encode()), tiny_rubric, OPTIONS)
    assert result.error is None and result.score == 5


def test_null_bytes_and_runaway_nesting_cost_only_their_cell(write, tiny_rubric):
    nb = notebook(GOOD, "def broken():\n    return '\x00'", "x = " + "(" * 300 + ")" * 300,
                  "y = " + "-" * 50_000 + "1", "if True:\n" + "".join(" " * i + "if True:\n" for i in range(1, 120)))
    result = grade(write("odd.ipynb", nb), tiny_rubric, OPTIONS)
    assert result.error is None and result.score == 5
    _no_traceback(result)


# -- property: random notebook-shaped JSON only ever loads or fails cleanly ------------------------------

SNIPPETS = [
    "def f(x):\n    return x", "def f(:", "%%time\nx = 1", "%matplotlib inline", "!pip install x", "x = !ls",
    "class A:\n  pass", "import torch", "from torch import nn as n", "\x00", "if True:\n" * 30, "(" * 300,
    "-" * 3000 + "1", "@decorator\ndef g(): pass", "def h():\n\treturn 1\n        return 2", "async def a(): await b",
    "lambda: (yield)", "from __future__ import braces", "try:\n    x = 1\nexcept Exception:\n    pass",
    "x: int = 5", "del x", "print('hi')", "\ufeffdef bom(): pass", "def f():\r\n    return 1\r\n", "def \u00e9(): pass",
    "'''unterminated", "import os; os.system('true')", "A = {'k': f}", "x = [1,\n 2,", "\udcff = 1", "\u2028", "if x:",
    "    indented = 1", "return 5", "yield 3", "global g", "nonlocal n", "*a, b = c", "match x:\n    case 1:\n        pass",
]

leaf = st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70), st.floats(allow_nan=False, allow_infinity=False),
                 st.text(max_size=30))
any_json = st.recursive(leaf, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                      st.dictionaries(st.text(max_size=10), inner, max_size=4)),
                        max_leaves=12)
code = st.one_of(st.sampled_from(SNIPPETS), st.lists(st.sampled_from(SNIPPETS), max_size=5).map("\n".join),
                 st.text(max_size=200))
source = st.one_of(code, st.lists(code, max_size=4), any_json)
cell = st.fixed_dictionaries(
    {"cell_type": st.one_of(st.sampled_from(["code", "code", "markdown", "raw"]), any_json)},
    optional={"source": source, "metadata": st.one_of(st.just({}), any_json),
              "outputs": st.one_of(st.just([]), any_json), "execution_count": st.one_of(st.none(), leaf),
              "id": st.one_of(st.text(max_size=12), leaf), "attachments": any_json})
notebook_json = st.fixed_dictionaries(
    {}, optional={"cells": st.one_of(st.lists(cell, max_size=6), any_json),
                  "nbformat": st.one_of(st.sampled_from([4, 4, 4, 3, 5, "4", 4.0, None, True]), leaf),
                  "nbformat_minor": st.one_of(st.integers(0, 10), leaf),
                  "metadata": st.one_of(st.just({}), any_json)})
document = st.one_of(notebook_json, notebook_json, any_json)
ENCODINGS = ["plain", "plain", "bom", "crlf", "truncated", "utf16", "ascii-escaped", "garbage-prefix"]


def _encode(doc, how: str, cut: int) -> bytes:
    text = json.dumps(doc, ensure_ascii=how == "ascii-escaped")
    if how == "crlf":
        text = json.dumps(doc, indent=1).replace("\n", "\r\n")
    raw = text.encode("utf-8", "surrogatepass")
    if how == "bom":
        raw = b"\xef\xbb\xbf" + raw
    elif how == "truncated":
        raw = raw[: cut % (len(raw) + 1)]
    elif how == "utf16":
        raw = text.encode("utf-16", "surrogatepass")
    elif how == "garbage-prefix":
        raw = bytes([cut % 256]) + raw
    return raw


EXAMPLES = 200


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(doc=document, how=st.sampled_from(ENCODINGS), cut=st.integers(0, 10_000),
       keep=st.sampled_from(["definitions", "all"]), suffix=st.sampled_from([".ipynb", ".ipynb", ".py"]))
def test_random_notebook_json_loads_or_fails_cleanly(doc, how, cut, keep, suffix):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"submission{suffix}"
        path.write_bytes(_encode(doc, how, cut))
        try:
            sub = load_submission(path, keep=keep, required=("mean", "f"))
        except SubmissionError as exc:
            message = str(exc)
            assert message and "\n" not in message and len(message) < 1000, message
            return
        assert isinstance(sub, Submission)
        for chunk in sub.chunks:
            ast.parse(chunk.code)  # what the sandbox runs, and what the formula checks read, parses
        sub.definitions("f")


def test_a_missing_module_is_named_with_what_graded_code_may_use(write, tiny_rubric):
    # tqdm is installed where graded code runs (the spec allows a progress bar); any other module that is
    # not there is named, with the list of what is.
    code = "from tqdm import tqdm\nimport not_a_course_module\n" + GOOD.replace(
        "return x.mean()", "import another_missing_module\n    return x.mean()") + (
        "\ndef progress(xs):\n    return tqdm(not_a_course_module.wrap(xs))\n")
    result = grade(write("imports.py", code), tiny_rubric, OPTIONS)
    assert result.error is None
    note = next(n for n in result.notes if "not_a_course_module" in n)
    assert "'not_a_course_module' is not available" in note and "torch, numpy, math" in note and "tqdm" in note
    assert not any("'tqdm' is not available" in n for n in result.notes)
    feedback = " ".join(f for i in result.items for f in i.feedback)
    assert "'another_missing_module' is not available" in feedback and "tqdm" in feedback
    _no_traceback(result)
