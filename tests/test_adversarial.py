"""The adversarial corpus: every hostile submission in tests/corpus/adversarial is graded for real, and the
four invariants of the threat model (../shared/docs/threat-model.md) are checked for each:

1. the score is what the case's honest part earns (manifest.toml: `honest`), out of the full maximum;
2. nothing instructor-side became readable: no line of the hidden suites, the rubric or the reference,
   no test label, no "LEAKED:" proof and no hidden input shows up in what the grader returns, and no
   file appeared outside the sandbox (canaries, results.json, the submission's own folder);
3. the grader is alive: results it wrote before are byte for byte the same, and a correct submission
   still gets full marks in the same process afterwards;
4. nothing the case started is still running (its `marker` in `ps`, or any process of the sandbox uid).

Slow (about 40 sandboxes); CI runs it, `-m 'not slow'` skips it.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

import pytest
import torch

from conftest import PROJECT, TINY
from grader.files import tree_sha256, write_json
from grader.pipeline import GradeOptions, grade
from grader.report.gradescope import to_results_json
from grader.rubric import find_rubric, load_rubric
from grader.sandbox.forked import Zygote
from grader.sandbox.host import bwrap_works
from grader.sandbox.spec import Limits, SandboxSpec
from grader.sandbox.uids import sandbox_uid
from grader.suites.runner import seed_for

pytestmark = pytest.mark.slow

CORPUS = PROJECT / "tests" / "corpus" / "adversarial"
CASES = tomllib.loads((CORPUS / "manifest.toml").read_text())["case"]
GOOD = "import torch\ndef mean(x):\n    return x.mean()\ndef clip(x, lo, hi):\n    return x.clamp(lo, hi)\n"
CANARY = "ADVERSARIAL_CANARY"
# Check the grader is alive after every case that attacks resources or the channel, and after every
# few of the others (each check is one more sandbox).
ALIVE_EVERY = 4
# The attacks a forked worker meets differently from a fresh sandbox (its filesystem view, its
# processes, its exit, its channel and network): these cases run both ways.
FORKED_THREATS = {1, 2, 5, 9, 10, 11, 12, 14, 17, 21}


# -- rubrics and what must stay hidden ---------------------------------------------------------------

@pytest.fixture(scope="module")
def rubrics(request):
    tiny = load_rubric(TINY)
    found = {"tiny": tiny,
             "tiny-fast": dataclasses.replace(tiny, call_timeout_s=2.0, import_timeout_s=6.0, test_timeout_s=4.0,
                                              total_seconds=20.0)}
    if any(c["rubric"] == "mnist_mlp" for c in CASES):
        found["mnist_mlp"] = find_rubric("mnist_mlp")
    return found


def _cell_sources(notebook: Path) -> list[str]:
    nb = json.loads(notebook.read_text())
    return ["".join(c["source"]) if isinstance(c["source"], list) else c["source"] for c in nb["cells"]]


@pytest.fixture(scope="module")
def hidden(rubrics):
    """Lines only the instructors have: the hidden suites, the rubrics, the references (minus what the
    student release shows anyway), and the first MNIST test labels."""
    public: set[str] = set()
    texts: list[str] = []
    for rubric in {id(r): r for r in rubrics.values()}.values():
        texts += [p.read_text() for p in sorted(rubric.folder.glob("*.py")) + [rubric.folder / "rubric.toml"]]
        texts += _cell_sources(rubric.reference)
        if rubric.release and rubric.release.is_file():
            public |= {line.strip() for src in _cell_sources(rubric.release) for line in src.splitlines()}
    lines = {line.strip() for text in texts for line in text.splitlines()}
    lines = sorted(line for line in lines if len(line) >= 30 and line not in public)
    labels = []
    data = os.environ.get("GRADER_DATA_DIR") or str(PROJECT.parent / "shared" / "data")
    raw = Path(data) / "MNIST" / "raw" / "t10k-labels-idx1-ubyte"
    if raw.is_file():
        first = raw.read_bytes()[8:72]
        labels = ["".join(str(b) for b in first), first.hex()]
    assert len(lines) > 100
    return lines, labels


def _hidden_inputs(nodeids) -> list[list[str]]:
    """How each input of the tiny suite (drawn from seeds the grader derives per test) would look if
    echoed: one group of spellings per input tensor."""
    groups = []
    for nodeid in nodeids:
        rng = torch.Generator().manual_seed(seed_for("tiny", nodeid))
        if "test_mean[" in nodeid:
            x = torch.randn(int(nodeid.split("[")[1].rstrip("]")), generator=rng)
        elif "test_clip" in nodeid:
            x = torch.randn(20, generator=rng) * 3
        else:
            continue
        values = [v for v in x.tolist()[:6] if abs(v) >= 0.01]
        group = [f"{abs(v):.6f}"[:6] for v in values] + [f"{abs(v):.5f}".replace(".", "p")[:6] for v in values]
        groups.append(group + [x[:2].numpy().tobytes().hex()])
    return groups


def _echoed(groups: list[list[str]], text: str) -> list[list[str]]:
    """Groups of which two or more spellings show. One number per message is what feedback may hold
    anyway (a check says which value it expected); a run of them is an echo of the input."""
    return [found for found in ([w for w in g if w in text] for g in groups)
            if len(found) >= 2 or any(len(w) >= 16 for w in found)]


# -- the world outside the sandbox --------------------------------------------------------------------

def _site_dirs() -> list[Path]:
    import site

    return [Path(p) for p in {*site.getsitepackages(), site.getusersitepackages(), *sys.path}
            if p and Path(p).is_dir() and "site-packages" in p]


def _outside_state() -> dict[str, object]:
    """Canary files and results.json wherever a hostile case would want to leave them."""
    places = [Path("/tmp"), Path.cwd(), PROJECT, PROJECT / "rubrics", PROJECT / "grader", Path("/autograder"),
              Path("/autograder/results"), Path("/work"), *_site_dirs()]
    canaries, results = [], []
    for place in places:
        try:
            names = os.listdir(place)
        except OSError:
            continue
        canaries += [str(place / n) for n in names if CANARY in n]
        results += [str(place / n) for n in names if n == "results.json"]
    return {"canaries": sorted(canaries), "results": sorted(results)}


def _ps() -> list[tuple[int, str]]:
    out = subprocess.run(["ps", "-eo", "uid=,args="], capture_output=True, text=True).stdout
    rows = []
    for line in out.splitlines():
        uid, _, args = line.strip().partition(" ")
        if uid.isdigit():
            rows.append((int(uid), args))
    return rows


def _left_running(marker: str | None) -> list[str]:
    """Processes of this case still alive, after giving the kernel a moment to reap them."""
    uid = sandbox_uid() if os.geteuid() == 0 else None
    left: list[str] = []
    for _ in range(50):
        left = [args for u, args in _ps()
                if (marker and marker in args and "ps -eo" not in args) or (uid is not None and u == uid)]
        if not left:
            return []
        time.sleep(0.1)
    return left


class Listener:
    """A TCP port and an abstract unix socket on the host that answer, and remember who called."""

    def __init__(self):
        self.calls: list[str] = []
        self.tcp = socket.socket()
        self.tcp.bind(("127.0.0.1", 0))
        self.tcp.listen(8)
        self.port = self.tcp.getsockname()[1]
        self.abstract = f"adversarial-{os.getpid()}-{self.port}"
        self.unix = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.unix.bind("\0" + self.abstract)
        self.unix.listen(8)
        self.threads = [threading.Thread(target=self._serve, args=(s,), daemon=True) for s in (self.tcp, self.unix)]
        for t in self.threads:
            t.start()

    def _serve(self, server):
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            self.calls.append(repr(server))
            try:
                conn.sendall(b"ANSWER\n")
                conn.close()
            except OSError:
                pass

    def close(self):
        for s in (self.tcp, self.unix):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()


# -- staging -----------------------------------------------------------------------------------------

def _stage(case: dict, tmp_path: Path, data_dir: str | None, listener: Listener | None) -> tuple[Path, Path]:
    """Copy the case into a folder of its own; returns (what to grade, the folder to watch)."""
    src = CORPUS / case["path"]
    home = tmp_path / "submitted"
    home.mkdir()
    if src.is_dir():
        target = home / src.name
        shutil.copytree(src, target, ignore=shutil.ignore_patterns("__pycache__"))
    else:
        target = home / src.name
        shutil.copy(src, target)
    if case.get("template"):
        text = target.read_text().replace("__PORT__", str(listener.port)).replace("__ABSTRACT__", listener.abstract)
        target.write_text(text)
    for name, dest in case.get("links", {}).items():
        os.symlink(dest.format(project=PROJECT, data=data_dir or "/nonexistent"), target / name)
    return target, home


# -- aliveness ----------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def ledger(tmp_path_factory, rubrics):
    """Results this process wrote earlier (a correct submission's first): none may change afterwards."""
    folder = tmp_path_factory.mktemp("ledger")
    good = folder / "good.py"
    good.write_text(GOOD)
    result = grade(good, rubrics["tiny"], GradeOptions(threads=1, gpu="off"))
    assert result.score == result.max_score == 5
    entries = {}
    path = folder / "good.results.json"
    write_json(to_results_json(result), path)
    entries[path] = path.read_bytes()
    return {"folder": folder, "good": good, "entries": entries, "cases": 0}


def _alive(ledger, rubrics) -> None:
    result = grade(ledger["good"], rubrics["tiny"], GradeOptions(threads=1, gpu="off"))
    assert (result.score, result.max_score) == (5, 5), [i.feedback for i in result.items]


# -- the corpus ------------------------------------------------------------------------------------

def _runs():
    """Every case in a fresh sandbox; single-file cases of the tiny assignment also in a worker forked
    from a template sandbox (what `grade batch` uses as root)."""
    runs = [pytest.param(c, "fresh", id=c["name"]) for c in CASES]
    runs += [pytest.param(c, "forked", id=f"{c['name']}-forked") for c in CASES
             if c["rubric"] != "mnist_mlp" and (CORPUS / c["path"]).is_file() and set(c["threats"]) & FORKED_THREATS]
    return runs


@pytest.fixture(scope="module")
def zygote():
    spec = SandboxSpec(limits=Limits(threads=1))
    if not Zygote.usable(spec):
        yield None
        return
    z = Zygote(spec)
    spawned = []
    plain = z.spawn
    z.spawn = lambda s: spawned.append(1) or plain(s)
    z.spawned = spawned
    yield z
    z.close()


@pytest.mark.parametrize("case, mode", _runs())
def test_hostile_submission(case, mode, rubrics, hidden, ledger, tmp_path, request):
    if case.get("namespaces") and not bwrap_works():
        pytest.skip("needs bubblewrap: without namespaces the sandbox does not claim this (SECURITY.md)")
    zygote = request.getfixturevalue("zygote") if mode == "forked" else None
    if mode == "forked" and zygote is None:
        pytest.skip("forked workers need bubblewrap and root")
    data_dir = None
    if case["rubric"] == "mnist_mlp":
        data_dir = request.getfixturevalue("data_dir")
    rubric = rubrics[case["rubric"]]
    listener = Listener() if case.get("template") else None
    target, home = _stage(case, tmp_path, data_dir, listener)
    before_tree = tree_sha256(home)
    before_outside = _outside_state()
    start = time.monotonic()
    try:
        spawned = len(zygote.spawned) if zygote else 0
        result = grade(target, rubric, GradeOptions(threads=1, gpu="off", data_dir=data_dir), zygote=zygote)
    finally:
        if listener:
            listener.close()
    took = time.monotonic() - start
    if zygote:
        assert len(zygote.spawned) > spawned, "the forked path was not taken"

    # (1) the honest score, out of the full maximum (an attack must not shrink it either).
    full = sum(i.points for i in rubric.items if not i.optional)
    assert result.error is None, result.error
    assert result.max_score == full
    assert result.score == pytest.approx(case["honest"], abs=1e-6), \
        [(i.name, i.score, i.feedback) for i in result.items if i.score]

    # (2) nothing instructor-side readable: no proof of a read, no hidden line, label or input.
    student_view = json.dumps(to_results_json(result))
    everything = "\n".join([student_view, result.staff_output, *result.notes,
                            *(o.message for i in result.items for o in i.outcomes)])
    assert "LEAKED" not in everything, everything[everything.find("LEAKED") - 200:][:800]
    lines, labels = hidden
    shown = [line for line in lines if line in everything]
    assert not shown, shown[:5]
    assert not [x for x in labels if x in everything]
    if case.get("echo"):
        # What the case says it tried to echo (printed for instructors as ECHO: [...]), and for the tiny
        # assignment the inputs recomputed from the grader's seeds.
        tried = [json.loads(line[6:]) for line in result.staff_output.splitlines() if line.startswith("ECHO: ")]
        if case["rubric"] != "mnist_mlp":
            tried += _hidden_inputs([o.nodeid for i in result.items for o in i.outcomes])
        assert any(tried), "the echo case echoed nothing"
        echoed = _echoed(tried, student_view)
        assert not echoed, (echoed, student_view[:3000])
    if listener:
        assert listener.calls == [], "the sandbox reached a listener on the host"
    assert tree_sha256(home) == before_tree, "the submission's own folder changed"
    assert _outside_state() == before_outside, "a file appeared outside the sandbox"

    # (3) the grader is alive, and nothing it wrote before changed.
    for path, data in ledger["entries"].items():
        assert path.read_bytes() == data, f"{path} changed"
    path = ledger["folder"] / f"{case['name']}-{mode}.results.json"
    write_json(to_results_json(result), path)
    ledger["entries"][path] = path.read_bytes()
    ledger["cases"] += 1
    if case["rubric"] == "tiny-fast" or ledger["cases"] % ALIVE_EVERY == 0:
        _alive(ledger, rubrics)

    # (4) nothing left running.
    assert _left_running(case.get("marker")) == []
    print(f"{case['name']} ({mode}): score {result.score}/{result.max_score} in {took:.1f} s")


def test_corpus_covers_every_threat_and_is_large_enough():
    manifest = tomllib.loads((CORPUS / "manifest.toml").read_text())
    covered = {t for table in ("case", "bulky", "names") for c in manifest.get(table, []) for t in c["threats"]}
    # 15 is the bad-input tests (tests/test_bad_input.py), 16 the archive tests (tests/test_archive.py);
    # 19 is the from-the-formula cases; 17 and 20-22 are the second round (tests/test_adversarial_bounds.py runs their extra checks).
    wanted = set(range(1, 18)) | {19, 20, 21, 22}
    assert covered | {15, 16} >= wanted, sorted(wanted - covered)
    assert all(c.get("invariant") for table in ("bulky", "names") for c in manifest[table])
    assert all(c.get("invariant") for c in CASES if set(c["threats"]) & {17, 20, 21, 22})
    assert len(CASES) >= 30 and len({c["name"] for c in CASES}) == len(CASES)
    for case in CASES:
        assert (CORPUS / case["path"]).exists(), case["path"]


# The corpus is not toothless: without namespaces these attacks do earn points (as SECURITY.md says).
LIVE = ("read_rubric", "read_reference", "symlink_folder", "loopback_network")


@pytest.mark.parametrize("name", LIVE)
def test_the_attack_works_where_the_sandbox_is_missing(name, rubrics, tmp_path):
    from grader.sandbox.host import reduced_can_drop_root

    if os.geteuid() == 0 and reduced_can_drop_root():
        pytest.skip("without namespaces this grader runs student code as another uid: what that uid can "
                    "read depends on file modes")
    case = next(c for c in CASES if c["name"] == name)
    data = os.environ.get("GRADER_DATA_DIR") or str(PROJECT.parent / "shared" / "data")
    listener = Listener() if case.get("template") else None
    target, _ = _stage(case, tmp_path, data, listener)
    try:
        result = grade(target, rubrics[case["rubric"]], GradeOptions(threads=1, gpu="off", isolation="none"))
    finally:
        if listener:
            listener.close()
    assert result.isolation.startswith("REDUCED")
    assert result.score > case["honest"]
    assert "LEAKED" in result.staff_output or (listener and listener.calls)
