"""The loader: notebooks, .py files and folders in; chunks with cell and line out; clear errors."""

from __future__ import annotations

import json

import nbformat
import pytest

from grader.errors import SubmissionError
from grader.load.submission import load_submission


def notebook(*cells: str, nbformat_major: int = 4) -> str:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(c) if not c.startswith("#md") else nbformat.v4.new_markdown_cell(c)
                for c in cells]
    data = json.loads(nbformat.writes(nb))
    data["nbformat"] = nbformat_major
    return json.dumps(data)


def names(sub):
    out = []
    for c in sub.chunks:
        first = c.code.strip().splitlines()[0]
        out.append(first.split("(")[0].split("=")[0].strip())
    return out


def test_definitions_kept_and_top_level_work_dropped(write):
    p = write("nb.ipynb", notebook(
        "import torch\nimport matplotlib.pyplot as plt\n%matplotlib inline\n!pip install foo",
        "#md some text",
        'device = torch.device("cuda" if torch.cuda.is_available() else "cpu")\n'
        "def relu(x):\n    return torch.clamp(x, min=0).to(device)",
        'ACTIVATIONS = {"relu": relu}\nclass MLP:\n    def act(self):\n        return ACTIVATIONS["relu"]',
        "model = MLP()\nfor epoch in range(100):\n    print(epoch)\nplt.plot([1, 2])",
        "sigmoid = lambda x: 1 / (1 + torch.exp(-x))",
    ))
    sub = load_submission(p, required=("sigmoid",))
    assert names(sub) == ["import torch", "device", "def relu", "ACTIVATIONS", "class MLP:", "sigmoid"]
    assert any("not definitions" in n for n in sub.notes)


def test_chunks_keep_cell_and_line(write):
    p = write("nb.ipynb", notebook("import torch", "\n\n# comment\ndef f(x):\n    return x"))
    sub = load_submission(p)
    f = [c for c in sub.chunks if "def f" in c.code][0]
    assert f.filename == "cell 2" and f.line == 4
    # Compiling the chunk puts `return x` on line 5 of cell 2, as the student sees it.
    code = compile(f.code, f.filename, "exec")
    assert code.co_consts[0].co_firstlineno == 4


def test_keep_all_runs_everything(write):
    p = write("s.py", "import torch\nx = 1\nprint(x)\n")
    assert len(load_submission(p, keep="all").chunks) == 3


def test_syntax_error_costs_only_its_block(write):
    p = write("s.py", "def good(x):\n    return x\n\ndef bad(x)\n    return x\n\ndef also_good():\n    pass\n")
    sub = load_submission(p)
    # `bad` stays as a stub that raises the SyntaxError when called (tests/test_feedback.py).
    assert names(sub) == ["def good", "def bad", "def also_good"]
    assert "raise SyntaxError" in sub.chunks[1].code and "return x" not in sub.chunks[1].code
    assert "SyntaxError" in sub.notes[0] and "line 4" in sub.notes[0]


def test_cell_magic_skipped(write):
    p = write("nb.ipynb", notebook("%%time\ndef f(): pass", "def g(): pass"))
    assert names(load_submission(p)) == ["def g"]


def test_magic_inside_block_keeps_block_valid(write):
    p = write("nb.ipynb", notebook("def f():\n    !ls\n    return 1"))
    sub = load_submission(p)
    ns = {}
    exec(compile(sub.chunks[0].code, "x", "exec"), ns)
    assert ns["f"]() == 1


def test_windows_line_endings_and_bom(write):
    p = write("s.py", b"\xef\xbb\xbfimport torch\r\ndef f(x):\r\n    return x\r\n")
    assert names(load_submission(p)) == ["def f"]


@pytest.mark.parametrize("content, fragment", [
    (b"", "empty"),
    (b"{not json", "not valid JSON"),
    (b'{"a": 1}', "not a Jupyter notebook"),
    (b"[1, 2]", "not a Jupyter notebook"),
    (b"\xff\xfe\x00garbage", "not UTF-8"),
])
def test_bad_notebooks_give_one_line_errors(write, content, fragment):
    p = write("bad.ipynb", content)
    with pytest.raises(SubmissionError) as e:
        load_submission(p)
    assert fragment in str(e.value) and "\n" not in str(e.value)


def test_wrong_nbformat(write):
    p = write("old.ipynb", notebook("x = 1", nbformat_major=3))
    with pytest.raises(SubmissionError, match="format 3 is not supported"):
        load_submission(p)


def test_unknown_extension(write):
    with pytest.raises(SubmissionError, match="expected a .ipynb"):
        load_submission(write("s.txt", "x"))


def test_folder_with_one_notebook(write, tmp_path):
    write("sub/work.ipynb", notebook("def f(): pass"))
    write("sub/conftest.py", "raise SystemExit")
    sub = load_submission(tmp_path / "sub")
    assert names(sub) == ["def f"] and sub.files_dir == str((tmp_path / "sub").resolve())


def test_folder_with_two_notebooks_is_ambiguous(write, tmp_path):
    write("sub/a.ipynb", notebook("x=1"))
    write("sub/b.ipynb", notebook("x=1"))
    with pytest.raises(SubmissionError, match="several candidate files"):
        load_submission(tmp_path / "sub")


def test_two_statements_on_one_line_run_once(write):
    p = write("s.py", "import torch; counter = [0]\ndef f():\n    return counter\n")
    sub = load_submission(p)
    ns = {}
    for c in sub.chunks:
        exec(compile(c.code, c.filename, "exec"), ns)
    assert ns["f"]() == [0]
