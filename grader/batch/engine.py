"""Grade a class in parallel child processes, with a journal so that a killed run resumes where it stopped.

Each submission is graded by `python -m grader.batch.child` in a process of its own (grader/batch/children.py):
a crash or a hang there is that submission's result and cannot take the batch down. The journal
(DIR/journal.jsonl, grader/batch/journal.py) is the commit point: a line is appended and flushed to disk only
after the submission's stored result and its files are in place, so a run killed at any moment loses at most
the submissions in flight.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import signal
import subprocess
import threading
import time
from collections import deque
from pathlib import Path

import grader
from grader.batch.children import Child, ChildLauncher, Children
from grader.batch.journal import STORE, Journal, content_sha256, journal_key, rubric_sha256
from grader.batch.progress import progress_bar, result_line, retry_line, running_text, warn_slow
from grader.batch.student_files import write_student_files
from grader.classrun import NEEDS_REGRADE, BatchOptions, BatchRun, ClassSource, Graded, StudentSubmission
from grader.files import write_json
from grader.results import GradeResult
from grader.rubric import Rubric
from grader.serialize import from_plain, to_plain

__all__ = ["BatchOptions", "content_sha256", "grade_class", "journal_key", "rubric_sha256"]

TRIES = 2  # an infrastructure failure is tried this often before the submission is marked for regrading
FAILED = ("crashed", "timeout", NEEDS_REGRADE)  # statuses counted as failed on the progress bar


class Runner:
    """What the loop records: the journal line, each student's files, the counts and the durations."""

    def __init__(self, out: Path, launcher: Children, console):
        self.out, self.launcher, self.console = out, launcher, console
        self.journal = Journal(out / "journal.jsonl")
        self.done: dict[str, Graded] = {}
        self.subs_of: dict[str, list[StudentSubmission]] = {}
        self.counts = {"graded": 0, "failed": 0}
        self.durations: list[float] = []  # seconds each finished child took, for "far longer than the median"
        self.on_finish = None  # called after each journal line (grades.csv as the run goes)

    def finish(self, key: str, status: str, result: GradeResult | None, attempts: int, message: str,
               seconds: float) -> None:
        entry = {"key": key, "submission": self.subs_of[key][0].key, "status": status, "attempts": attempts,
                 "grader": grader.__version__, "seconds": round(seconds, 2), "message": message[:500],
                 "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
        if result is not None:
            write_json(to_plain(result), self.out / STORE / f"{key}.json")
            entry.update(score=result.score, max_score=result.max_score, result=f"{STORE}/{key}.json")
        graded = [Graded(sub, status, result, attempts, message) for sub in self.subs_of[key]]
        for g in graded:
            write_student_files(self.out, g)
        self.journal.append(entry)
        self.done.setdefault(key, graded[0])  # only once journaled: what Ctrl-C reports as kept is kept
        self.counts["failed" if status in FAILED else "graded"] += 1
        self.durations.append(seconds)
        if self.on_finish is not None:
            self.on_finish()

    def from_journal(self, keys: set[str]) -> dict[str, Graded]:
        """Finished grades of this run's keys; later lines win; a missing stored result means regrade."""
        found: dict[str, Graded] = {}
        for entry in self.journal.entries():
            key = entry["key"]
            if key not in keys or entry.get("status") == NEEDS_REGRADE:
                continue
            try:
                result = from_plain(json.loads((self.out / STORE / f"{key}.json").read_text()))
            except (OSError, ValueError):
                continue
            found[key] = Graded(self.subs_of[key][0], entry["status"], result, entry.get("attempts", 1),
                                entry.get("message", ""), from_journal=True)
        return found


def grade_class(source: ClassSource, out: str | Path, rubric: Rubric, options: BatchOptions = BatchOptions(),
                *, console=None, regrade: frozenset[str] = frozenset(), only: frozenset[str] | None = None,
                on_result=None, launcher: Children | None = None) -> BatchRun:
    """Grade every submission not already in the journal; Ctrl-C stops cleanly and keeps what is done.
    regrade: submission keys graded afresh whatever the journal holds; only: grade just these keys afresh
    (the others come from the journal, or are left out). on_result(the run so far, complete rows only)
    is called as results come in. launcher: how children are started (a ChildLauncher unless a test
    passes a stand-in)."""
    from rich.console import Console

    console = console or Console()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    start = time.monotonic()
    timeout = options.timeout_s or rubric.total_seconds + rubric.import_timeout_s + 120
    launcher = launcher or ChildLauncher(out / ".work" / "children", rubric, options, timeout)
    runner = Runner(out, launcher, console)
    rubric_hash = rubric_sha256(rubric)
    key_of: dict[str, str] = {}
    for sub in source.submissions:
        key = journal_key(content_sha256(sub.path), sub.path.name, rubric_hash)
        key_of[sub.key] = key
        runner.subs_of.setdefault(key, []).append(sub)
    fresh = {key_of[k] for k in regrade | (only or set())}
    reused = {k: g for k, g in runner.from_journal(set(runner.subs_of)).items() if k not in fresh}
    todo = deque((key, subs[0], 1) for key, subs in runner.subs_of.items()
                 if key not in reused and (only is None or key in fresh))
    in_run = set(reused) | {t[0] for t in todo}
    left_out = tuple(sub for sub in source.submissions if key_of[sub.key] not in in_run)
    jobs = max(1, options.jobs or os.cpu_count() or 1)
    if reused:
        n = sum(1 for sub in source.submissions if key_of[sub.key] in reused)
        console.print(f"{n} submission(s) already graded (journal {runner.journal.path}); not regrading them",
                      markup=False)
    if fresh:
        console.print(f"regrading {len(regrade | (only or set()))} submission(s) as asked; "
                      "the journal keeps everyone else's grades")

    def snapshot(final: bool) -> BatchRun:
        graded = []
        for sub in source.submissions:
            key = key_of[sub.key]
            if key not in in_run:
                continue  # left out by --only
            g = runner.done.get(key) or reused.get(key)
            if g is None:
                if not final:
                    continue  # not graded yet: no row rather than an empty one
                g = Graded(sub, NEEDS_REGRADE, None, 0, "not graded: the run was interrupted")
            elif g.submission != sub:
                g = dataclasses.replace(g, submission=sub)
            graded.append(g)
        graded_now = sum(1 for sub in source.submissions if key_of[sub.key] in runner.done)
        return BatchRun(source, rubric, tuple(graded), time.monotonic() - start, graded_now, False, left_out)

    if on_result is not None:
        runner.on_finish = lambda: on_result(snapshot(False))
        runner.on_finish()
    console.print(f"grading {len(todo)} submission(s) with {min(jobs, max(1, len(todo)))} parallel job(s)")
    # Ctrl-C and SIGTERM only ask the run to stop: the loop looks between two records, so a signal never
    # lands inside a journal write, a progress line or the logging module's locks (where an exception
    # raised by a handler can be swallowed, and the run then ended as if it had finished).
    with _holding_signals() as stop:
        interrupted = False
        try:
            if todo and options.fork:
                launcher.prepare()
            if todo and not stop:
                _loop(runner, todo, jobs, len(todo), stop)
        except KeyboardInterrupt:  # a third signal, or one that came outside the main thread's handlers
            interrupted = True
        finally:
            launcher.close()
        run = dataclasses.replace(snapshot(True), interrupted=interrupted or bool(stop))
        if not run.interrupted:
            for g in run.graded:
                if g.from_journal:  # rewritten: the files may predate a crash, or belong to a renamed student
                    write_student_files(out, g)
        # a signal while those files are written still says "interrupted": the next run rewrites them
        return dataclasses.replace(run, interrupted=run.interrupted or bool(stop))


def _loop(runner: Runner, todo: deque, jobs: int, total: int, stop: list[int]) -> None:
    """Start, watch and record children until all are done or a signal arrived (stop is not empty)."""
    running: list[Child] = []
    launcher = runner.launcher
    progress, task = progress_bar(runner.console, total)
    shown = 0.0
    try:
        with progress:
            while (todo or running) and not stop:
                while todo and len(running) < jobs:
                    key, sub, attempt = todo.popleft()
                    running.append(launcher.start(key, sub, attempt))
                time.sleep(0.05)
                for child in list(running):
                    if _check(launcher, child):
                        running.remove(child)
                        retry = record(runner, child, progress)
                        if retry:
                            todo.append(retry)
                        else:
                            progress.advance(task)
                        progress.update(task, **runner.counts, remaining=total - sum(runner.counts.values()))
                if time.monotonic() - shown > 0.5 or not running:
                    shown = time.monotonic()
                    warn_slow(runner.durations, launcher.timeout, running, progress)
                    progress.update(task, running=running_text(running))
    finally:
        for child in running:  # interrupted: stop what is in flight; it stays out of the journal
            launcher.kill(child, signal.SIGTERM)
        deadline = time.monotonic() + 5
        for child in running:
            try:
                child.proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                launcher.kill(child, signal.SIGKILL)
                child.proc.wait()


@contextlib.contextmanager
def _holding_signals():
    """Ctrl-C and SIGTERM are recorded, not raised, until the block ends; yields the list of those that
    arrived. A third one while it is held stops at once, for a run that no longer looks at the list."""
    held: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield held
        return
    def hold(signum, frame):
        held.append(signum)
        if len(held) >= 3:
            raise KeyboardInterrupt

    previous = {sig: signal.signal(sig, hold) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield held
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _check(launcher: Children, child: Child) -> bool:
    """True once the child has exited; stops it (SIGTERM, then SIGKILL) past its deadline."""
    if child.proc.poll() is not None:
        return True
    now = time.monotonic()
    if now > child.deadline and not child.terminated_at:
        child.terminated_at = now
        launcher.kill(child, signal.SIGTERM)
    elif child.terminated_at and now > child.terminated_at + 10:
        launcher.kill(child, signal.SIGKILL)
    return False


def record(runner: Runner, child: Child, progress):
    """Record a finished child (journal, files, progress line); returns what to retry, if anything."""
    status, result, message = runner.launcher.collect(child)
    seconds = time.monotonic() - child.started
    if status == NEEDS_REGRADE and child.attempt < TRIES:
        retry_line(progress.console, child.sub.key, message)
        return child.key, child.sub, child.attempt + 1
    if status == NEEDS_REGRADE:
        message = f"the grader could not run after {TRIES} tries: {message}"
    runner.finish(child.key, status, result, child.attempt, message, seconds)
    runner.launcher.forget(child)
    result_line(progress.console, child.sub.key, status, result, message, seconds)
    return None
