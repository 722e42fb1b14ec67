"""grade batch on a class of a dozen tiny submissions: same scores as one at a time, resume after kill -9,
LMS archives and gradebooks, failures as results, and the HTML report in a real browser."""

from __future__ import annotations

import csv
import io
import json
import re
import shutil
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import jsonschema
import nbformat
import pytest
from test_archive import canvas_entries, gradescope_entries, make_zip, moodle_entries

from conftest import PROJECT, TINY
from grader.batch.engine import (
    BatchOptions,
    content_sha256,
    grade_class,
    journal_key,
    rubric_sha256,
)
from grader.batch.source import open_source
from grader.cli import main
from grader.report.common import number
from grader.report.gradebook import write_grades_csv

SCHEMA = json.loads((PROJECT / "tests" / "fixtures" / "gradescope_results.schema.json").read_text())
GOOD = "import torch\ndef mean(x):\n    return x.mean()\ndef clip(x, lo, hi):\n    return x.clamp(lo, hi)\n"
GOOD_CLIP = "def clip(x, lo, hi):\n    return x.clamp(lo, hi)\n"


def _notebook(*cells: str) -> str:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(c, id=f"cell-{n}") for n, c in enumerate(cells)]  # ids: same bytes every time
    return nbformat.writes(nb)


# A class: correct, buggy, broken and hostile work, as .py, notebooks and a folder.
CLASS: dict[str, str | dict[str, str]] = {
    "ada.py": GOOD,
    "ben.py": "import torch\ndef mean(x):\n    return x.sum() / len(x)\n"
              "def clip(x, lo, hi):\n    return torch.clamp(x, min=lo, max=hi)\n",
    "cy.py": GOOD.replace("x.mean()", "x.sum()"),  # a recognised mistake: the sum, not the mean
    "dee.py": GOOD.replace("x.clamp(lo, hi)", "x.clamp(lo, hi * 0.9)"),
    "eve.py": "def mean(x)\n    return x.mean(\n",  # syntax errors
    "fay.ipynb": _notebook("%matplotlib inline\nimport torch", "def mean(x):\n    return x.mean()", GOOD_CLIP),
    "gus.ipynb": "{ this is not json",
    "hal.py": "import os\ndef mean(x):\n    os._exit(0)\n" + GOOD_CLIP,  # kills its worker
    "ivy.py": "def mean(x):\n    return x.mean()\ndef clip(x, lo, hi):\n    while True:\n        pass\n",  # hangs
    "jo.py": "",  # empty
    "kim.py": "def mean(x):\n    print('spam ' * 200000)\n    return x.mean()\n" + GOOD_CLIP,  # floods stdout
    "lu": {"hw.py": GOOD.replace("x.clamp(lo, hi)", "x"), "notes.txt": "my notes"},  # a folder
}
UNREADABLE = {"gus", "jo"}
# Student number, full name and Canvas login of each, as an LMS would have them.
PEOPLE = {who: (str(2001 + n), f"{who.capitalize()} Student", f"student{who}")
          for n, who in enumerate(sorted(name.split(".")[0] for name in CLASS))}
# In each LMS archive two students are graded afresh from the unpacked files, the kinds rotating over
# the formats (correct, a folder of two files, buggy, hostile, broken, a notebook); the rest of the
# class comes from the journal of the folder run, matched by content, as when a TA downloads the
# export again after a few late submissions.
FRESH = {"gradescope": ("ada", "lu"), "canvas": ("cy", "kim"), "moodle": ("eve", "fay")}


def write_class(folder: Path) -> Path:
    for name, content in CLASS.items():
        if isinstance(content, dict):
            for inner, text in content.items():
                (folder / name).mkdir(parents=True, exist_ok=True)
                (folder / name / inner).write_text(text)
        else:
            folder.mkdir(parents=True, exist_ok=True)
            (folder / name).write_text(content)
    return folder


def _shared(tmp_path_factory, worker_id: str, name: str, make):
    """Computed once per test session, even when xdist runs this module's tests on several workers."""
    if worker_id == "master":
        return make(tmp_path_factory.mktemp(name))
    from filelock import FileLock

    root = tmp_path_factory.getbasetemp().parent
    done = root / f"{name}.json"
    with FileLock(str(done) + ".lock"):
        if not done.is_file():
            done.write_text(json.dumps(make(root / name)))
        return json.loads(done.read_text())


@pytest.fixture(scope="module")
def klass(tmp_path_factory) -> Path:
    return write_class(tmp_path_factory.mktemp("class") / "hw1")


@pytest.fixture(scope="module")
def alone(tmp_path_factory, worker_id) -> dict:
    """What `grade` gives each submission on its own: {student: [score, could be read]}."""
    def one(path: Path) -> list:
        out = path.with_name(path.name + ".results.json")
        r = subprocess.run([sys.executable, "-m", "grader.cli", str(path), "--rubric", str(TINY), "--threads", "1",
                            "--json", str(out)], capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, r.stdout + r.stderr
        data = json.loads(out.read_text())
        return [data["score"], not data["output"].startswith("Your submission could not be graded")]

    def make(folder: Path):
        paths = sorted(write_class(folder).iterdir())
        with ThreadPoolExecutor(2) as pool:  # two `grade` processes at a time, as --jobs 2 does
            return {p.name.split(".")[0]: score for p, score in zip(paths, pool.map(one, paths))}

    return _shared(tmp_path_factory, worker_id, "alone", make)


def _batch(*args: str) -> int:
    return main(["batch", *args, "--rubric", str(TINY), "--jobs", "2"])


@pytest.fixture(scope="module")
def folder_run(tmp_path_factory, worker_id) -> str:
    """An uninterrupted `grade batch` of the whole class (its output folder)."""
    def make(folder: Path):
        src = write_class(folder / "hw1")
        out = folder / "out"
        r = subprocess.run([sys.executable, "-m", "grader.cli", "batch", str(src), "--out", str(out), "--jobs", "2",
                            "--rubric", str(TINY)], capture_output=True, text=True, timeout=600)
        assert r.returncode == 0, r.stdout + r.stderr
        return str(out)

    return _shared(tmp_path_factory, worker_id, "folder_run", make)


def read_grades(out: str | Path) -> dict[str, dict]:
    with open(Path(out) / "grades.csv", newline="") as f:
        return {row["student_id"]: row for row in csv.DictReader(f)}


def journal(out: str | Path) -> list[dict]:
    path = Path(out) / "journal.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip().endswith("}")]


@pytest.mark.slow
def test_folder_batch_gives_the_same_scores_as_grading_alone(folder_run, alone):
    grades = read_grades(folder_run)
    assert set(grades) == set(alone) and len(grades) == 12
    for student, (score, readable) in alone.items():
        row = grades[student]
        assert float(row["score"]) == score, student
        assert row["max_score"] == "5" and row["Statistics"] == number(score)
        assert row["status"] == ("graded" if readable else "unreadable"), student
        data = json.loads((Path(folder_run) / student / "results.json").read_text())
        jsonschema.validate(data, SCHEMA)
        assert data["score"] == score
        feedback = (Path(folder_run) / student / "feedback.txt").read_text()
        assert "Total:" in feedback and "hidden check(s) are not shown" in feedback and "\x1b[" not in feedback
    assert {s for s, (_, ok) in alone.items() if not ok} == UNREADABLE
    assert alone["ada"][0] == 5 and alone["cy"][0] == 3 and alone["eve"][0] == 0 and alone["ivy"][0] == 3
    assert len({e["key"] for e in journal(folder_run)}) == 12


@pytest.mark.slow
def test_killed_batch_resumes_without_regrading(klass, folder_run, tmp_path):
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "grader.cli", "batch", str(klass), "--out", str(out), "--jobs", "2",
           "--rubric", str(TINY)]
    first = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    while len(journal(out)) < 3:
        assert first.poll() is None, "the batch ended before it could be killed"
        assert time.monotonic() < deadline
        time.sleep(0.1)
    first.send_signal(signal.SIGKILL)
    first.wait()
    before = journal(out)
    assert 3 <= len(before) < 12
    partial = read_grades(out)  # written as the run went: complete rows only
    assert len(before) - 1 <= len(partial) <= len(before) and all(r["status"] for r in partial.values())
    _wait_for_no_children(out)  # the children went down with the batch
    again = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stdout + again.stderr
    assert f"{len(before)} submission(s) already graded" in again.stdout
    assert (out / "grades.csv").read_text() == (Path(folder_run) / "grades.csv").read_text()
    keys = [e["key"] for e in journal(out)]
    assert len(keys) == len(set(keys)) == 12  # each submission graded exactly once over both runs
    assert journal(out)[:len(before)] == before


@pytest.mark.slow
def test_interrupted_run_says_what_the_resume_finds(tmp_path):
    """Ctrl-C (SIGTERM does the same): the count kept is the count the next run finds, the identical
    pair (one journal entry, two students) included."""
    folder = tmp_path / "class"
    folder.mkdir()
    slow = "import torch\ndef mean(x):\n    return x.mean()\ndef clip(x, lo, hi):\n    while True:\n        pass\n"
    for n in range(6):
        (folder / f"s{n}").mkdir()
        (folder / f"s{n}" / "hw.py").write_text(slow + f"# {max(n, 1)}\n")  # s0, s1: same bytes and name
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "grader.cli", "batch", str(folder), "--out", str(out), "--jobs", "1",
           "--rubric", str(TINY)]
    first = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 300
    while len(journal(out)) < 2:
        assert first.poll() is None and time.monotonic() < deadline
        time.sleep(0.1)
    first.send_signal(signal.SIGTERM)
    said = " ".join(first.communicate(timeout=60)[0].split())
    assert first.returncode == 130, said
    m = re.search(r"interrupted: (\d+) submission\(s\) graded by this run are kept", said)
    assert m, said
    kept = int(m.group(1))
    assert kept == len(read_grades(out)) >= 3  # s0 and s1 count twice, as the resume counts them
    again = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert f"{kept} submission(s) already graded" in " ".join(again.stdout.split())
    lines = [line for line in said.split("✓") if line.strip()]
    assert len(lines) == len(set(lines)), said  # no line twice


def _wait_for_no_children(out: Path, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        alive = []
        for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
            try:
                args = cmdline.read_bytes().split(b"\0")
            except OSError:
                continue
            if b"grader.batch.child" in args and any(str(out).encode() in a for a in args):
                alive.append(cmdline.parent.name)
        if not alive:
            return
        time.sleep(0.2)
    pytest.fail(f"grading children outlived the killed batch: {alive}")


def _students(klass: Path) -> list[tuple]:
    """The whole class as LMS roster entries: (sid, name, login, {file name: bytes})."""
    out = []
    for p in sorted(klass.iterdir()):
        files = {f.name: f.read_bytes() for f in sorted(p.iterdir())} if p.is_dir() else {p.name: p.read_bytes()}
        out.append((*PEOPLE[p.name.split(".")[0]], files))
    return out


def _seed_journal(folder_run: str, out: Path, klass: Path, tiny_rubric, fresh_students) -> None:
    """The folder run's journal and stored results, less the entries of the students to grade afresh."""
    rubric = rubric_sha256(tiny_rubric)
    fresh = {journal_key(content_sha256(p), p.name, rubric) for p in klass.iterdir()
             if p.name.split(".")[0] in fresh_students}
    shutil.copytree(Path(folder_run) / ".results", out / ".results")
    lines = [json.dumps(e) for e in journal(folder_run) if e["key"] not in fresh]
    (out / "journal.jsonl").write_text("\n".join(lines) + "\n")


CANVAS_GRADEBOOK = (
    "Student,ID,SIS User ID,SIS Login ID,Section,Tiny: mean and clip (777),Other HW (778),Current Score\n"
    "    Points Possible,,,,,10.00,20.00,(read only)\n"
    + "".join(f'"{name}",{sid},S{sid},{login},Sec 1,,15,\n' for sid, name, login in PEOPLE.values())
    + '"Absent, Al",2999,S2999,absental,Sec 2,,18,\n'
)
MOODLE_WORKSHEET = (
    "Identifier,Full name,Email address,Status,Grade,Maximum Grade,Grade can be changed,"
    "Last modified (submission),Last modified (grade),Feedback comments\n"
    + "".join(f"Participant {sid},{name},{login}@uni.edu,Submitted for grading,,5.00,Yes,"
              f'"Monday, 1 January 2024, 10:00 AM",-,\n' for sid, name, login in PEOPLE.values())
    + "Participant 2999,Al Absent,absental@uni.edu,No submission,,5.00,Yes,-,-,\n"
)


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["gradescope", "canvas", "moodle"])
def test_lms_archives_grade_like_grading_alone(kind, alone, folder_run, klass, tiny_rubric, tmp_path, capsys):
    entries = {"gradescope": gradescope_entries, "canvas": canvas_entries, "moodle": moodle_entries}[kind]
    archive = make_zip(tmp_path / f"{kind}.zip", entries(_students(klass)))
    out = tmp_path / "out"
    _seed_journal(folder_run, out, klass, tiny_rubric, FRESH[kind])
    extra = []
    if kind == "canvas":
        (tmp_path / "gradebook.csv").write_text(CANVAS_GRADEBOOK)
        extra = ["--canvas-gradebook", str(tmp_path / "gradebook.csv")]
    if kind == "moodle":
        (tmp_path / "worksheet.csv").write_text(MOODLE_WORKSHEET)
        extra = ["--moodle-grades", str(tmp_path / "worksheet.csv")]
    assert _batch(str(archive), "--out", str(out), *extra) == 0
    assert f"{kind} source, 12 submission(s)" in " ".join(capsys.readouterr().out.split())
    # From the folder run, the rest graded from the unpacked archive: FRESH, and lu's folder, which is
    # named after the student in an export ("2012/", not "lu/"): a name is part of a journal key.
    fresh = {PEOPLE[w][0] for w in {*FRESH[kind], "lu"}}
    lines = journal(out)
    assert len(lines) == 10 + len(fresh), [(e["submission"], e["status"], e["key"][:8]) for e in lines]
    assert {e["submission"] for e in lines[10:]} == fresh
    grades = read_grades(out)
    assert set(grades) == {sid for sid, _, _ in PEOPLE.values()}
    for who, (sid, name, _) in PEOPLE.items():
        row = grades[sid]
        assert float(row["score"]) == alone[who][0], who
        assert row["status"] == ("unreadable" if who in UNREADABLE else "graded"), who
        assert row["name"] == name  # Canvas's export knows logins; its gradebook gives the name
        jsonschema.validate(json.loads((out / sid / "results.json").read_text()), SCHEMA)
    if kind == "canvas":
        rows = list(csv.reader(io.StringIO((out / "canvas_import.csv").read_text())))
        original = list(csv.reader(io.StringIO(CANVAS_GRADEBOOK)))
        col = rows[0].index("Tiny: mean and clip (777)")
        by_id = {r[1]: r for r in rows[2:]}
        for who, (sid, _, _) in PEOPLE.items():  # Canvas's column is worth 10 points, the rubric 5: scaled
            assert by_id[sid][col] == number(alone[who][0] * 2)
        assert by_id["2999"] == original[-1]  # no submission: the row is left as it was
        assert rows[:2] == original[:2]
        assert [r[:col] + r[col + 1:] for r in rows] == [r[:col] + r[col + 1:] for r in original]
    if kind == "moodle":
        rows = list(csv.DictReader(io.StringIO((out / "moodle_import.csv").read_text())))
        got = {r["Identifier"]: r["Grade"] for r in rows}
        assert got == {**{f"Participant {sid}": number(alone[w][0]) for w, (sid, _, _) in PEOPLE.items()},
                       "Participant 2999": ""}


def test_identical_bytes_under_another_name_are_graded_again():
    """Messages quote the file name, so a result is never reused under another student's name."""
    assert journal_key("abc", "ada.ipynb", "r") != journal_key("abc", "ben.ipynb", "r")
    assert journal_key("abc", "hw.ipynb", "r") == journal_key("abc", "hw.ipynb", "r")


def test_failures_are_results_and_infrastructure_failures_are_retried(tmp_path, tiny_rubric, monkeypatch):
    """A crash and a hang are results (score 0); an infrastructure failure is tried twice, then marked
    "needs regrade" with no score; the next run grades it and only it."""
    from rich.console import Console

    from grader.batch import children

    folder = tmp_path / "class"
    folder.mkdir()
    for name in ("infra", "crash", "hang"):
        (folder / f"{name}.py").write_text(GOOD + f"# {name}\n")
    fakes = {"infra.py": "import sys; sys.exit(4)",
             "crash.py": "import os, signal; os.kill(os.getpid(), signal.SIGKILL)",
             "hang.py": "import time; time.sleep(120)"}

    def fake_start(self, key, sub, attempt):  # a stand-in grading child that fails in a chosen way
        err = self.tmp / f"{key}.err"
        proc = subprocess.Popen([sys.executable, "-c", fakes[sub.path.name]], start_new_session=True,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        now = time.monotonic()
        return children.Child(key, sub, attempt, proc, self.tmp / f"{key}.json", err, now, now + self.timeout)

    monkeypatch.setattr(children.ChildLauncher, "start", fake_start)
    source = open_source(folder, tmp_path / "work")
    out = tmp_path / "out"
    log = io.StringIO()
    run = grade_class(source, out, tiny_rubric, BatchOptions(jobs=3, timeout_s=3), console=Console(file=log))
    by = {g.submission.key: g for g in run.graded}
    assert by["infra"].status == "needs regrade" and by["infra"].result is None and by["infra"].attempts == 2
    assert by["crash"].status == "crashed" and by["crash"].result.score == 0 and "SIGKILL" in by["crash"].message
    assert by["hang"].status == "timeout" and by["hang"].result.score == 0
    assert "trying again" in log.getvalue()
    write_grades_csv(run, out / "grades.csv")
    rows = read_grades(out)
    assert rows["infra"]["score"] == "" and rows["infra"]["status"] == "needs regrade"  # never a silent 0
    assert rows["crash"]["score"] == "0" and rows["hang"]["status"] == "timeout"
    assert not (out / "infra" / "results.json").exists() and "Not graded yet" in (out / "infra" / "feedback.txt").read_text()
    assert json.loads((out / "crash" / "results.json").read_text())["score"] == 0

    monkeypatch.undo()
    run = grade_class(source, out, tiny_rubric, BatchOptions(jobs=2), console=Console(file=io.StringIO()))
    by = {g.submission.key: g for g in run.graded}
    assert by["infra"].status == "graded" and by["infra"].result.score == 5
    assert by["crash"].from_journal and by["hang"].from_journal and run.graded_now == 1


PROBE = """<script>
const out = {figures: {}, tables: {}};
for (const fig of document.querySelectorAll("figure")) {
  const svg = fig.querySelector("svg"), box = svg ? svg.getBoundingClientRect() : {width: 0, height: 0};
  out.figures[fig.id] = {width: box.width, height: box.height,
                         shapes: svg ? svg.querySelectorAll("path, rect, use").length : 0,
                         texts: svg ? Array.from(svg.querySelectorAll("text")).map(t => t.textContent) : []};
}
for (const t of document.querySelectorAll("table")) {
  out.tables[t.id] = {rows: t.tBodies[0].rows.length, height: t.getBoundingClientRect().height,
                      text: t.tBodies[0].innerText};
}
const pre = document.createElement("pre"); pre.id = "probe"; pre.textContent = JSON.stringify(out);
document.body.appendChild(pre);
</script>"""


@pytest.mark.slow
def test_class_report_renders_in_headless_chromium(folder_run, tmp_path):
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if not browser:
        pytest.skip("chromium is not installed (Debian package `chromium`; .ci/run installs it)")
    html = (Path(folder_run) / "report.html").read_text()
    # Self-contained: no script, nothing fetched (SVG namespace URIs are names, never fetched).
    assert "<script" not in html and not re.search(r"""(src|href)=["']?(https?:)?//""", html)
    # The report forbids scripts; a copy without that rule carries a probe measuring what rendered.
    probe = tmp_path / "report.html"
    probe.write_text(html.replace('http-equiv="Content-Security-Policy"', 'name="csp-removed"')
                     .replace("</body>", PROBE + "</body>"))
    r = subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                        "--disable-background-networking", "--disable-component-update", "--disable-sync",
                        f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1200,3000", "--dump-dom",
                        probe.as_uri()], capture_output=True, text=True, timeout=120)
    dom = r.stdout
    start = dom.index('<pre id="probe">') + len('<pre id="probe">')
    seen = json.loads(_unescape(dom[start:dom.index("</pre>", start)]))
    figs, tables = seen["figures"], seen["tables"]
    assert set(figs) == {"histogram", "tests", "sections"}
    for name, fig in figs.items():
        assert fig["width"] > 300 and fig["height"] > 100 and fig["shapes"] >= 3, name
    assert any("1.1 mean" in t for t in figs["tests"]["texts"])  # rubric items, not test ids
    assert not any("test_tiny" in t for t in figs["tests"]["texts"])
    assert any("Statistics" in t for t in figs["sections"]["texts"])
    assert tables["students"]["rows"] == 12 and tables["slowest"]["rows"] == 10
    for who in ("gus", "jo"):
        assert who in tables["attention"]["text"]
    assert "that is the sum, not the mean" in tables["hints"]["text"] and "cy" in tables["hints"]["text"]
    assert tables["reasons"]["rows"] >= 3 and all(t["height"] > 0 for t in tables.values())


def _unescape(text: str) -> str:
    import html

    return html.unescape(text)


# ---- a TA's Canvas export: every file accounted for, copies flagged, a hang's points kept ----

LOOP = '''import torch


def mean(x):
    """Average of the values, one at a time."""
    total = 0.0
    count = 0
    for value in x:
        total = total + value  # running sum
        count += 1
    if count == 0:
        return torch.tensor(float("nan"))
    return total / count


def clip(x, lo, hi):
    """Clamp into [lo, hi] by masking."""
    out = x.clone()
    out[out < lo] = lo
    out[out > hi] = hi
    return out
'''
# The same program with other names, comments and layout: a copy in disguise.
RENAMED = '''import torch
def mean(t):
    # my own mean
    s = 0.0; c = 0
    for v in t:
        s = s + v
        c += 1
    if c == 0:
        return torch.tensor(float('nan'))
    return s / c
def clip(t, a, b):
    r = t.clone()
    r[r < a] = a
    r[r > b] = b
    return r
'''
# Two correct solutions written independently: never flagged.
VECTOR = '''import torch


def mean(x):
    """The mean."""
    if x.numel() == 0:
        raise ValueError("empty")
    return x.sum() / x.numel()


def clip(x, lo, hi):
    lower = torch.full_like(x, lo)
    upper = torch.full_like(x, hi)
    return torch.minimum(torch.maximum(x, lower), upper)
'''
WHERE = '''import torch


def mean(values):
    n = values.shape[0]
    acc = torch.zeros(())
    for i in range(n):
        acc += values[i]
    return acc / n


def clip(values, low, high):
    return torch.where(values < low, torch.tensor(low), torch.where(values > high, torch.tensor(high), values))
'''
# mean passes on short inputs and never returns on long ones; clip never returns: with --timeout the
# grade keeps mean's 2 of 3 cases.
HANG = ("import torch\ndef mean(x):\n    if len(x) > 50:\n        while True:\n            pass\n    return x.mean()\n"
        "def clip(x, lo, hi):\n    while True:\n        pass\n")
EXPORT = {
    "adaada_1001_5001_hw.py": LOOP,
    "benben_1002_5002_hw.py": LOOP,  # the same bytes under the same name: one grade, two students
    "cycy_LATE_1003_5003_hw.py": RENAMED,  # upper-case LATE
    "deedee_1004_5004_hw.py": VECTOR,
    "eveeve_late_1005_5005_hw.py": WHERE,
    "fayfay_1006_5006_hw.py": HANG,
    "gusgus_1007_5007_hw.py": GOOD.replace("x.mean()", "x.sum()"),
    "Hal Hand-in.py": VECTOR.replace("lower", "bottom"),  # uploaded by hand: matches no layout
    "notes.pdf": "%PDF-1.4",
}
NAMES = {"1001": "Adams, Ada", "1002": "Brown, Ben", "1003": "Cole, Cy", "1004": "Dunn, Dee", "1005": "Eng, Eve",
         "1006": "Fox, Fay", "1007": "Gray, Gus", "1008": "Absent, Al"}
GRADEBOOK = ("Student,ID,SIS User ID,SIS Login ID,Section,Tiny: mean and clip (777),Current Score\n"
             "    Points Possible,,,,,10.00,(read only)\n"
             + "".join(f'"{name}",{sid},S{sid},login{sid},Sec 1,,\n' for sid, name in NAMES.items()))


@pytest.fixture(scope="module")
def export_run(tmp_path_factory) -> dict:
    """`grade batch` of EXPORT with --timeout 10 and a Canvas gradebook: (folder, output, out dir)."""
    import contextlib

    folder = tmp_path_factory.mktemp("export")
    archive = make_zip(folder / "canvas.zip", {k: v.encode() for k, v in EXPORT.items()})
    (folder / "gradebook.csv").write_text(GRADEBOOK)
    out = folder / "out"
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        code = _batch(str(archive), "--out", str(out), "--timeout", "10",
                      "--canvas-gradebook", str(folder / "gradebook.csv"))
    return {"folder": folder, "out": out, "code": code, "stdout": buf.getvalue(), "archive": archive}


@pytest.mark.slow
def test_export_every_file_graded_or_listed_loudly(export_run):
    text = " ".join(export_run["stdout"].split())
    assert export_run["code"] == 0, text
    assert "canvas source, 8 submission(s); 1 file(s) not graded" in text
    assert "not graded: notes.pdf: matches no canvas layout" in text  # before grading and again at the end
    assert text.count("not graded: notes.pdf") == 2
    assert "graded under a name taken from the file: Hal Hand-in.py" in text
    assert "not in the gradebook (not imported): stray-Hal_Hand-in" in text
    assert "left as they were (no submission in this export): 1008" in text
    grades = read_grades(export_run["out"])
    assert set(grades) == {*NAMES} - {"1008"} | {"stray-Hal_Hand-in"}
    assert grades["1003"]["late"] == "yes" and grades["1003"]["score"] == "5"  # _LATE_ matched the layout
    html = (export_run["out"] / "report.html").read_text()
    attention = html[html.index('id="attention"'):html.index("</table>", html.index('id="attention"'))]
    assert attention.index("notes.pdf") < attention.index("Hal Hand-in.py") < attention.index("1006")


@pytest.mark.slow
def test_timeout_keeps_the_points_earned_before_it(export_run):
    row = read_grades(export_run["out"])["1006"]
    assert row["status"] == "timeout" and row["score"] == "2" and row["1.1 mean"] == "2"
    data = json.loads((export_run["out"] / "1006" / "results.json").read_text())
    jsonschema.validate(data, SCHEMA)
    assert data["score"] == 2
    page = (export_run["out"] / "1006" / "feedback.html").read_text()  # the check beside the cell it grades
    assert page.index("def mean") < page.index("1.1 mean: 2/3 (partial)") < page.index("def clip")
    text = " ".join(export_run["stdout"].split())
    assert "1006 2/5 timeout: stopped at the time limit (10 s); points earned before it are kept" in text
    rows = list(csv.reader(io.StringIO((export_run["out"] / "canvas_import.csv").read_text())))
    assert [r[5] for r in rows if r[1] == "1006"] == ["4"]  # scaled to Canvas's 10 points, not 0


@pytest.mark.slow
def test_grades_csv_per_item_with_gradebook_names(export_run):
    with open(export_run["out"] / "grades.csv", newline="") as f:
        reader = csv.DictReader(f)
        rows = {r["student_id"]: r for r in reader}
        header = reader.fieldnames
    assert header[9:] == ["Statistics", "1.1 mean", "1.2 clip"]  # no GPU column: it ran nowhere
    assert rows["1001"]["name"] == "Adams, Ada" and rows["1002"]["name"] == "Brown, Ben"
    assert (rows["1007"]["1.1 mean"], rows["1007"]["1.2 clip"]) == ("1", "2")


@pytest.mark.slow
def test_copies_are_flagged_and_independent_solutions_are_not(export_run):
    text = " ".join(export_run["stdout"].split())
    flagged = set(re.findall(r"similar code: (\S+) and (\S+) \(", text))
    assert flagged == {("1001", "1002"), ("1001", "1003"), ("1002", "1003"), ("1004", "stray-Hal_Hand-in")}
    html = (export_run["out"] / "report.html").read_text()
    section = html[html.index('id="similar-code"'):html.index("<h2>Slowest")]
    assert section.count('class="pair"') == 4 and "1001 and 1003: 100%" in section
    assert 'class="diff"' in section and "my&nbsp;own&nbsp;mean" in section  # the side-by-side diff


@pytest.mark.slow
def test_regrade_and_only_keep_everyone_elses_journal_entries(export_run, tmp_path):
    out = tmp_path / "out"
    shutil.copytree(export_run["out"], out)
    before = journal(out)
    assert _batch(str(export_run["archive"]), "--out", str(out), "--timeout", "10", "--regrade", "1004,1007") == 0
    after = journal(out)
    assert after[:len(before)] == before
    assert sorted(e["submission"] for e in after[len(before):]) == ["1004", "1007"]
    def scores(rows):
        return {k: (r["score"], r["status"]) for k, r in rows.items()}

    assert scores(read_grades(out)) == scores(read_grades(export_run["out"]))
    assert _batch(str(export_run["archive"]), "--out", str(out), "--only", "login1005") == 2  # unknown id
    assert _batch(str(export_run["archive"]), "--out", str(out), "--only", "1005") == 0
    assert [e["submission"] for e in journal(out)[len(after):]] == ["1005"]
    assert len(read_grades(out)) == 8


def test_a_hard_kill_at_the_time_limit_keeps_the_checks_finished(tmp_path, tiny_rubric, monkeypatch):
    """The backstop: a child that does not stop itself (here: told nothing) is killed at the limit, and
    the outcomes it saved as it went are scored."""
    from rich.console import Console

    from grader.batch.children import ChildLauncher

    folder = tmp_path / "class"
    folder.mkdir()
    (folder / "hang.py").write_text(HANG)
    command = ChildLauncher.command

    def without_stop(self, *args):
        cmd = command(self, *args)
        at = cmd.index("--stop-at")
        return cmd[:at] + cmd[at + 2:]

    monkeypatch.setattr(ChildLauncher, "command", without_stop)
    run = grade_class(open_source(folder, tmp_path / "work"), tmp_path / "out", tiny_rubric,
                      BatchOptions(jobs=1, timeout_s=8), console=Console(file=io.StringIO()))
    (g,) = run.graded
    assert g.status == "timeout" and g.result.score == 2, (g.message, g.result)
    clip = next(i for i in g.result.items if i.name == "clip")
    assert clip.score == 0 and clip.feedback[0].startswith("not reached")
    assert "not reached: 1.2 clip" in g.message
    feedback = (tmp_path / "out" / "hang" / "feedback.txt").read_text()
    assert "grading was stopped at the time limit" in feedback and "1.2 clip" not in feedback  # clip is hidden


def test_progress_names_who_is_running_and_warns_of_a_slow_one(tmp_path):
    from rich.console import Console
    from rich.progress import Progress

    from grader.batch.children import Child
    from grader.batch.progress import running_text, warn_slow
    from grader.classrun import Person, StudentSubmission

    now = time.monotonic()

    def child(key, age):
        sub = StudentSubmission(key, tmp_path / key, (Person(key),), key)
        return Child(key, sub, 1, None, tmp_path, tmp_path, now - age, now + 300)

    running = [child("[red]ada", 4), child("ben", 95), child("cy", 3)]
    assert running_text(running, most=2) == "[dim]running:[/] ben 95s, \\[red]ada 4s +1"
    log = io.StringIO()
    progress = Progress(console=Console(file=log, width=200))
    warn_slow([5.0, 6.0, 7.0], 300, running, progress)
    warn_slow([5.0, 6.0, 7.0], 300, running, progress)  # once per submission
    assert log.getvalue().count("has been running") == 1
    assert "ben has been running for 95 s, over 16x the median (6.0 s); it is stopped at 300 s" in log.getvalue()


def test_feedback_page_puts_each_visible_check_beside_the_cell_it_grades():
    from grader.report.html import feedback_html
    from grader.results import GradeResult, ItemResult

    items = (ItemResult("1.1", "mean", "Statistics", 1, 3, "partial", "visible", ("1 of 3 cases passed",)),
             ItemResult("1.2", "clip", "Statistics", 2, 2, "passed", "hidden"),
             ItemResult("1.3", "style: <b>tidy</b>", "Statistics", 0, 1, "failed", "visible", ("untidy",)))
    result = GradeResult("tiny", "Tiny", "zoe.ipynb", 3, 6, items, "full")
    cells = (("markdown", "# Mine <script>alert(1)</script>"), ("code", "import torch"),
             ("code", "def mean(x):\n    return x.sum()"), ("code", "def clip(x, lo, hi):\n    return x"))
    page = feedback_html(result, cells)
    assert "<script" not in page and "&lt;script&gt;" in page and "&lt;b&gt;tidy" in page
    assert page.index("def mean") < page.index("1.1 mean: 1/3 (partial)") < page.index("def clip")
    assert "1.2 clip" not in page and "1 hidden check(s) are not shown" in page
    assert page.index("Checks not tied to one cell") < page.index("1.3 style") < page.index("import torch")
