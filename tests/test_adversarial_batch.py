"""Load and faults: `grade batch` on 300 submissions (correct, buggy, broken and hostile ones from the
adversarial corpus), the batch process killed with SIGKILL at random moments and started again until it
finishes. At the end every submission is graded exactly once (one journal entry each over all the runs),
every grade is the grade it gets alone, and nothing of any run is left running.

Slow (several minutes): CI runs it, `-m 'not slow'` skips it. GRADER_LOAD_SEED picks other kill moments.
"""

from __future__ import annotations

import csv
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import PROJECT, TINY
from grader.pipeline import GradeOptions, grade

pytestmark = pytest.mark.slow

CORPUS = PROJECT / "tests" / "corpus" / "adversarial"
SUBMISSIONS = 300
KILLS = 4
GOOD = "import torch\n\ndef mean(x):\n    return x.mean()\n\ndef clip(x, lo, hi):\n    return x.clamp(lo, hi)\n"
HONEST = {
    "good": GOOD,
    "sum": GOOD.replace("x.mean()", "x.sum()"),
    "tight": GOOD.replace("x.clamp(lo, hi)", "x.clamp(lo, hi * 0.9)"),
    "syntax": "def mean(x)\n    return x.mean(\n",
    "half": "def mean(x):\n    return x.mean()\n\ndef clip(x, lo, hi):\n    raise NotImplementedError\n",
}
# Hostile programs that fail fast, many copies each; slow ones (timeouts, bombs) twice each.
FAST = ["print_passed", "exit_at_import", "exit_in_function", "exotic_tensors", "patch_worker", "patch_torch",
        "eq_always_true", "tensor_subclass", "nan_inf", "wrong_dtype_shape", "frame_snoop", "gc_snoop",
        "echo_hidden_inputs", "results_forge_now", "results_forge_atexit", "kill_everything", "setsid_grandchild",
        "thread_left_running", "channel_garbage", "disk_fill", "read_reference", "read_rubric"]
SLOW = ["fork_bomb", "memory_bomb", "sigalrm_loop", "channel_forged_error", "stdout_flood"]
MARKERS = ("7301.0427", "7302.042", "7303.0427")


def _programs() -> dict[str, tuple[str, str]]:
    """name -> (file suffix, text)."""
    out = {name: (".py", text) for name, text in HONEST.items()}
    out["notjson"] = (".ipynb", "{ this is not a notebook")
    for name in FAST + SLOW:
        out[name] = (".py", (CORPUS / f"{name}.py").read_text())
    return out


def _class(folder: Path, programs: dict[str, tuple[str, str]]) -> dict[str, str]:
    """Write SUBMISSIONS files, each with its own bytes (so each is its own journal entry);
    returns student -> program."""
    plan = [name for name in SLOW for _ in range(2)]
    fast = list(HONEST) + ["notjson"] + FAST
    while len(plan) < SUBMISSIONS:
        plan.append(fast[len(plan) % len(fast)])
    random.Random(7).shuffle(plan)
    folder.mkdir()
    who = {}
    for i, name in enumerate(plan):
        suffix, text = programs[name]
        student = f"s{i:03d}_{name}"
        tail = "" if suffix == ".ipynb" else f"\n# submission {i}\n"
        (folder / f"{student}{suffix}").write_text(text + tail)
        who[student] = name
    return who


def _alone(tmp_path: Path, programs, rubric) -> dict[str, dict[str, float]]:
    """Each program graded on its own by grade(), in this process: item name -> score."""
    from grader.sandbox.forked import Zygote
    from grader.sandbox.spec import Limits, SandboxSpec

    spec = SandboxSpec(limits=Limits(threads=1))
    zygote = Zygote(spec) if Zygote.usable(spec) else None  # as the batch does, without its import cost
    out = {}
    try:
        for name, (suffix, text) in programs.items():
            path = tmp_path / "alone" / f"{name}{suffix}"
            path.parent.mkdir(exist_ok=True)
            path.write_text(text)
            result = grade(path, rubric, GradeOptions(threads=1, gpu="off"), zygote=zygote)
            out[name] = {i.name: i.score for i in result.items}
    finally:
        if zygote:
            zygote.close()
    return out


def _journal(out: Path) -> list[dict]:
    path = out / "journal.jsonl"
    entries = []
    for line in path.read_bytes().splitlines() if path.exists() else []:
        try:
            entries.append(json.loads(line))
        except ValueError:
            pass  # a line torn by a kill
    return entries


def _batch_processes(out: Path) -> list[str]:
    """Grading processes of this batch, and anything the corpus starts, still alive."""
    alive = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            args = cmdline.read_bytes().replace(b"\0", b" ").decode("utf-8", "replace")
        except OSError:
            continue
        if (str(out) in args and "grader" in args) or any(m in args for m in MARKERS):
            alive.append(f"{cmdline.parent.name}: {args[:120]}")
    return alive


def _wait_until_gone(out: Path, timeout: float = 60) -> list[str]:
    deadline = time.monotonic() + timeout
    alive = _batch_processes(out)
    while alive and time.monotonic() < deadline:
        time.sleep(0.3)
        alive = _batch_processes(out)
    return alive


def test_a_batch_killed_at_random_moments_grades_each_submission_once_as_alone(tmp_path, tiny_rubric):
    seed = int(os.environ.get("GRADER_LOAD_SEED", "20261127"))
    rng = random.Random(seed)
    programs = _programs()
    who = _class(tmp_path / "class", programs)
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "grader.cli", "batch", str(tmp_path / "class"), "--out", str(out), "--jobs", "2",
           "--rubric", str(TINY)]
    # Kill moments: one while the first run is still starting up, the others once the journal has
    # reached a random size, plus a random fraction of a second (mid-submission, mid-write).
    targets = [None] + sorted(rng.sample(range(10, SUBMISSIONS - 10), KILLS - 1))
    kills, runs, log = [], 0, tmp_path / "batch.log"
    while True:
        runs += 1
        assert runs <= KILLS + 3, f"the batch did not finish after {runs - 1} runs (seed {seed})"
        with open(log, "ab") as f:
            proc = subprocess.Popen(cmd, stdout=f, stderr=subprocess.STDOUT, start_new_session=True)
        if len(kills) < KILLS:
            target = targets[len(kills)]
            deadline = time.monotonic() + (rng.uniform(0.5, 5.0) if target is None else 1800)
            while proc.poll() is None and time.monotonic() < deadline:
                if target is not None and len(_journal(out)) >= target:
                    time.sleep(rng.uniform(0.0, 1.5))
                    break
                time.sleep(0.05)
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
                proc.wait()
                kills.append(len(_journal(out)))
                left = _wait_until_gone(out)
                assert not left, f"processes outlived the killed batch: {left}"
                continue
        assert proc.wait(timeout=3600) == 0, log.read_text()[-3000:]
        break
    assert len(kills) == KILLS, f"the batch finished before it was killed {KILLS} times: {kills}"

    # Every submission graded exactly once over all the runs.
    entries = [e for e in _journal(out) if e.get("status") != "needs regrade"]
    by_student = {}
    for e in entries:
        by_student.setdefault(e["submission"], []).append(e)
    assert sorted(by_student) == sorted(who), set(who) ^ set(by_student)
    twice = {s: len(es) for s, es in by_student.items() if len(es) != 1}
    assert not twice, twice
    with open(out / "grades.csv", newline="") as f:
        rows = {r["submission"]: r for r in csv.DictReader(f)}
    assert len(rows) == SUBMISSIONS

    # Every grade is the grade its program gets alone.
    alone = _alone(tmp_path, programs, tiny_rubric)
    differ = {}
    for student, program in who.items():
        data = json.loads((out / student / "results.json").read_text())
        got = {t["name"]: t["score"] for t in data["tests"]}
        if got != alone[program]:
            differ[student] = (got, alone[program])
    assert not differ, dict(list(differ.items())[:5])
    assert float(rows[next(s for s, p in who.items() if p == "good")]["score"]) == 5

    # Nothing of any run is left running.
    assert not _wait_until_gone(out, timeout=10)
    print(f"seed {seed}: {SUBMISSIONS} submissions, {runs} runs, killed with {kills} journal entries written")
