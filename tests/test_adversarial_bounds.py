"""The second round of the adversarial corpus (threat-model rows 17, 20, 21, 22; invariant 5): the grader's
own memory and time stay bounded whatever the worker sends or the file holds, what staff open is inert,
and a stopped grading process takes its worker with it.

- amplification cases (manifest.toml `measure = true`): each graded in a process of its own; the test
  reports that process's peak memory and time and holds them under 1.5 GiB and the rubric's total limit;
- inert cases (`inert = true`): no control character in results.json, feedback.txt or the terminal, and no
  host path in what the student sees;
- bulky inputs ([[bulky]]): refused in about the time and memory a normal notebook takes to load;
- hostile names ([[names]]): `grade batch` finishes; grades.csv, the report and the terminal stay inert;
- a batch child stopped at its timeout while its worker spins: no process of the worker is left, forked
  (template sandbox) or not, counted right when the batch records the timeout.

Slow (a few dozen sandboxes); CI runs it, `-m 'not slow'` skips it. The amplification cases also run in
tests/test_adversarial.py with the four invariants of the first round.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
import zipfile
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

import pytest

from conftest import PROJECT, TINY

pytestmark = pytest.mark.slow

CORPUS = PROJECT / "tests" / "corpus" / "adversarial"
MANIFEST = tomllib.loads((CORPUS / "manifest.toml").read_text())
CASES = MANIFEST["case"]
PEAK_LIMIT_MB = 1536
GOOD = "import torch\ndef mean(x):\n    return x.mean()\ndef clip(x, lo, hi):\n    return x.clamp(lo, hi)\n"
# Everything grader.inert replaces: C0 but newline and tab, DEL, C1, bidirectional controls, surrogates.
CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")
FORMULA = ("=", "+", "-", "@", "\t", "\r")

# This process's own high-water mark (VmHWM): ru_maxrss would carry the test process's over exec.
PEAK = """
def peak_mb():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
"""

DRIVER = PEAK + """
import json, sys, time
start = time.monotonic()
from grader.pipeline import GradeOptions, grade
from grader.rubric import load_rubric
result = grade(sys.argv[1], load_rubric(sys.argv[2]), GradeOptions(threads=1, gpu="off"))
print(json.dumps({"score": result.score, "error": result.error, "seconds": time.monotonic() - start,
                  "peak_mb": peak_mb(), "feedback": [f for i in result.items for f in i.feedback]}))
"""

LOAD_DRIVER = PEAK + """
import json, sys, time
from grader.errors import SubmissionError
from grader.load.submission import load_submission
start = time.monotonic()
try:
    load_submission(sys.argv[1]); error = None
except SubmissionError as exc:
    error = str(exc)
print(json.dumps({"error": error, "seconds": time.monotonic() - start, "peak_mb": peak_mb()}))
"""


def _env() -> dict:
    return {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(PROJECT), os.environ.get("PYTHONPATH")])),
            "OMP_NUM_THREADS": "1"}


def _run(driver: str, *args: str, timeout: float) -> dict:
    proc = subprocess.run([sys.executable, "-c", driver, *args], capture_output=True, text=True, timeout=timeout,
                          env=_env(), cwd=PROJECT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


# -- amplification: the grader's own peak memory and time -------------------------------------------

@pytest.mark.parametrize("case", [c for c in CASES if c.get("measure")], ids=lambda c: c["name"])
def test_amplification_is_bounded_in_the_grader(case, tmp_path):
    target = tmp_path / case["path"]
    shutil.copy(CORPUS / case["path"], target)
    got = _run(DRIVER, str(target), str(TINY), timeout=400)
    print(f"{case['name']}: grader peak {got['peak_mb']:.0f} MB, {got['seconds']:.1f} s, score {got['score']}")
    assert got["error"] is None and got["score"] == case["honest"]
    assert got["peak_mb"] < PEAK_LIMIT_MB, got
    assert got["seconds"] < 60 + 60  # the tiny rubric's total limit, plus sandbox starts and the suites
    assert any("invalid reply from the sandbox" in f for f in got["feedback"]), got["feedback"]


# -- what staff and students open is inert -------------------------------------------------------------

def _host_paths() -> list[str]:
    paths = {str(PROJECT), os.path.realpath(PROJECT), sys.prefix, os.path.realpath(sys.prefix)}
    data = os.environ.get("GRADER_DATA_DIR")
    if data:
        paths |= {data, os.path.realpath(data)}
    return sorted(p for p in paths if p.count("/") >= 2)


def _terminal(result, show_hidden: bool) -> str:
    from rich.console import Console

    from grader.report.terminal import render

    buf = io.StringIO()
    render(result, Console(file=buf, width=120, color_system=None, force_terminal=False), show_hidden=show_hidden)
    return buf.getvalue()


@pytest.mark.parametrize("case", [c for c in CASES if c.get("inert")], ids=lambda c: c["name"])
def test_what_staff_and_students_open_is_inert(case, tmp_path):
    from grader.batch.student_files import feedback_text
    from grader.pipeline import GradeOptions, grade
    from grader.report.gradescope import to_results_json
    from grader.rubric import load_rubric

    target = tmp_path / case["path"]
    shutil.copy(CORPUS / case["path"], target)
    result = grade(target, load_rubric(TINY), GradeOptions(threads=1, gpu="off"))
    assert result.score == case["honest"]
    student = json.dumps(to_results_json(result), ensure_ascii=False) + feedback_text(result)
    staff = _terminal(result, True) + result.staff_output
    raw = [o.message for i in result.items for o in i.outcomes] + list(result.notes)
    for text in (student, staff, *raw):
        assert not CONTROL.findall(text), repr(CONTROL.findall(text)[:10])
    assert "raised ValueError" in student  # the message is still there, made inert
    shown = [p for p in _host_paths() if p in student]
    assert not shown, (shown, student[:2000])


# -- cheap inputs, expensive parsing ----------------------------------------------------------------

def test_bulky_notebooks_are_refused_in_the_time_and_memory_of_a_normal_one(tmp_path):
    sys.path.insert(0, str(CORPUS))
    try:
        import _make_bulky_cases as bulky
    finally:
        sys.path.remove(str(CORPUS))
    normal = _run(LOAD_DRIVER, str(PROJECT / "reference_solution" / "mnist_mlp" / "mnist_mlp.ipynb"), timeout=120)
    assert normal["error"] is None
    print(f"normal notebook: {normal['seconds']:.2f} s, peak {normal['peak_mb']:.0f} MB")
    for case in MANIFEST["bulky"]:
        path = tmp_path / f"{case['name']}.ipynb"
        path.write_bytes(bulky.make(case["name"]))
        got = _run(LOAD_DRIVER, str(path), timeout=300)
        print(f"{case['name']} ({path.stat().st_size / 1e6:.0f} MB): {got['seconds']:.2f} s, peak {got['peak_mb']:.0f} MB: "
              f"{got['error']}")
        assert got["error"], case["name"]
        # Reading the file itself is the floor (it can be 50 MB); parsing it must add little to that.
        assert got["seconds"] < normal["seconds"] + 3, (case["name"], got)
        assert got["peak_mb"] < normal["peak_mb"] + 4 * path.stat().st_size / 2**20 + 100, (case["name"], got)
        path.unlink()


# -- names are data -------------------------------------------------------------------------------------

def _batch(source: Path, out: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "grader.cli", "batch", str(source), "--out", str(out),
                           "--rubric", str(TINY), "--jobs", "2", *extra],
                          capture_output=True, timeout=600, env=_env(), cwd=PROJECT)


def _assert_inert_outputs(out: Path, terminal: bytes) -> None:
    text = terminal.decode("utf-8", "replace")
    assert not CONTROL.findall(text.replace("\r", "")), repr(CONTROL.findall(text)[:10])
    assert "MarkupError" not in text and "Traceback" not in text, text[-3000:]
    with open(out / "grades.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    for row in rows[1:]:
        for cell in row:
            assert not CONTROL.findall(cell), (row, cell)
            assert not cell.startswith(FORMULA) or re.fullmatch(r"[+-]?\d+(\.\d+)?", cell), (row, cell)
    html = (out / "report.html").read_text(encoding="utf-8")
    assert not CONTROL.findall(html.replace("\r", "")), repr(CONTROL.findall(html)[:10])
    for folder in out.iterdir():
        for name in ("results.json", "feedback.txt"):
            if (folder / name).is_file():
                assert not CONTROL.findall((folder / name).read_text(encoding="utf-8")), folder / name


def test_hostile_names_in_an_archive_are_data(tmp_path):
    case = next(c for c in MANIFEST["names"] if c["name"] == "markup_and_formulas")
    archive = tmp_path / "class.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for i, name in enumerate(case["entries"]):
            zf.writestr(name, _notebook(GOOD + f"# {i}\n") if name.endswith(".ipynb") else GOOD + f"# {i}\n")
        zf.writestr("inert.py", (CORPUS / "inert_escapes_and_paths.py").read_text())
    out = tmp_path / "out"
    proc = _batch(archive, out)
    terminal = (proc.stdout + proc.stderr).decode("utf-8", "replace")
    assert proc.returncode == 0, terminal[-3000:]
    _assert_inert_outputs(out, proc.stdout + proc.stderr)
    # The archive reader refuses names with control characters; the list is printed before grading and
    # again at the end, so count distinct lines.
    refused = len({line for line in terminal.splitlines() if "refused" in line})
    with open(out / "grades.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == len(case["entries"]) + 1 - refused and refused <= 1
    assert sum(1 for r in rows if r["score"] == "5") == len(rows) - 1  # every name graded, fully
    ids = [r["student_id"] for r in rows]
    assert any(k.startswith("'=HYPERLINK") for k in ids) and any(k.startswith("'-1+1+cmd") for k in ids), ids
    assert "[bold red]boom[" in ids and "[" in ids  # shown as the names they are, not as markup


def _notebook(code: str) -> str:
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(code)]
    return nbformat.writes(nb)


def test_names_that_are_not_utf8_in_a_folder_are_graded(tmp_path):
    case = next(c for c in MANIFEST["names"] if c["name"] == "not_utf8")
    folder = tmp_path / "class"
    folder.mkdir()
    for i, name in enumerate(case["raw_names"]):
        raw = name.encode().decode("unicode_escape").encode("latin-1")
        with open(os.path.join(os.fsencode(folder), raw), "w") as f:
            f.write(GOOD + f"# {i}\n")
    (folder / "plain.py").write_text(GOOD)
    out = tmp_path / "out"
    proc = _batch(folder, out)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:].decode("utf-8", "replace")
    _assert_inert_outputs(out, proc.stdout + proc.stderr)
    with open(out / "grades.csv", newline="", encoding="utf-8") as f:
        scores = [r["score"] for r in csv.DictReader(f)]
    assert scores == ["5"] * (len(case["raw_names"]) + 1)


# -- a stopped grading process takes its worker with it --------------------------------------------------

SPIN = "orphan7313spin"  # the comm orphan_busy_loop.py gives its worker


def _spinning() -> list[str]:
    out = subprocess.run(["ps", "-eo", "pid=,comm="], capture_output=True, text=True).stdout
    return [line.strip() for line in out.splitlines() if SPIN in line]


def _slow_rubric(tmp_path: Path) -> Path:
    """The tiny course with a call limit longer than the batch's timeout: the batch stops the child mid-call."""
    course = tmp_path / "course"
    shutil.copytree(TINY.parent.parent, course)
    toml = course / "rubrics" / "tiny" / "rubric.toml"
    toml.write_text(toml.read_text().replace("call_timeout_s = 5", "call_timeout_s = 120")
                    .replace("total_seconds = 60", "total_seconds = 300"))
    return course / "rubrics" / "tiny"


@pytest.mark.parametrize("fork", [True, False], ids=["forked", "spawned"])
def test_a_stopped_child_takes_its_spinning_worker_with_it(fork, tmp_path, monkeypatch):
    from rich.console import Console

    from grader.batch import engine
    from grader.batch.engine import BatchOptions, grade_class
    from grader.batch.source import open_source
    from grader.rubric import load_rubric

    assert _spinning() == []
    folder = tmp_path / "class"
    folder.mkdir()
    shutil.copy(CORPUS / "orphan_busy_loop.py", folder / "spin.py")
    rubric = load_rubric(_slow_rubric(tmp_path))
    counted: list[tuple[str, int, int]] = []
    handle = engine.record

    def counting(runner, child, progress):
        # Counted when the batch records the stopped child, before anything else (the template's own
        # end, say) could clean up: nothing of the worker may be left a moment later.
        during = len(_spinning())
        deadline = time.monotonic() + 5
        while _spinning() and time.monotonic() < deadline:
            time.sleep(0.1)
        counted.append((child.sub.key, during, len(_spinning())))
        return handle(runner, child, progress)

    monkeypatch.setattr(engine, "record", counting)
    seen, done = [], threading.Event()

    def sample():  # proof that the worker did spin while the child ran
        while not done.wait(0.5):
            seen.append(len(_spinning()))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    start = time.monotonic()
    try:
        run = grade_class(open_source(folder, tmp_path / "work"), tmp_path / "out", rubric,
                          BatchOptions(jobs=1, timeout_s=25, fork=fork), console=Console(file=io.StringIO()))
    finally:
        done.set()
        sampler.join()
    took = time.monotonic() - start
    assert max(seen, default=0) >= 1, ("the submission never reached its loop", run.graded[0].message,
                                       run.graded[0].result.staff_output[-2000:])
    (g,) = run.graded
    print(f"{'forked' if fork else 'spawned'}: stopped after {took:.0f} s; processes spinning when recorded: {counted}")
    assert g.status == "timeout" and g.result.score == 0
    assert counted and counted[0][2] == 0, counted
    assert _spinning() == []
