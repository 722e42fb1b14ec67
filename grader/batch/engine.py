"""Grade a class in parallel child processes, with a journal so that a killed run resumes where it stopped.

Each submission is graded by `python -m grader.batch.child` in a process of its own: a crash or a
hang there is that submission's result and cannot take the batch down. The journal (DIR/journal.jsonl)
is the commit point: a line is appended and flushed to disk only after the submission's stored result
and its files are in place, so a run killed at any moment loses at most the submissions in flight.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass
from io import StringIO
from pathlib import Path

import grader
from grader.classrun import NEEDS_REGRADE, BatchRun, ClassSource, Graded, Status, StudentSubmission
from grader.errors import ConfigError, InfrastructureError
from grader.files import tree_sha256, write_atomic, write_json
from grader.report.gradescope import to_results_json
from grader.results import GradeResult, ItemResult, Outcome
from grader.rubric import Rubric, score_items
from grader.serialize import from_plain, outcomes_from_plain, to_plain

TRIES = 2  # an infrastructure failure is tried this often before the submission is marked for regrading
SLOW_FACTOR, SLOW_MIN_S = 4.0, 10.0  # a submission running this much longer than the median is announced
NOT_REACHED = "not reached"
FAILED = ("crashed", "timeout", NEEDS_REGRADE)  # statuses counted as failed on the progress bar
STORE = ".results"  # full results, one JSON file per journal key


@dataclass(frozen=True)
class BatchOptions:
    """How to run a batch."""

    jobs: int = 0  # parallel children; 0: one per CPU core
    data_dir: str | None = None
    gpu: str = "off"  # many jobs on one GPU would fight over it; the GPU section is for single runs
    isolation: str = "auto"
    timeout_s: float = 0.0  # per submission, sandbox start and imports included; 0: from the rubric
    fork: bool = True  # fork children from a process that imported the grader once (fast); else spawn


class Journal:
    """Append-only JSON lines, fsynced one by one; a line torn by a kill is ignored when read."""

    def __init__(self, path: Path):
        self.path = path

    def entries(self) -> list[dict]:
        if not self.path.exists():
            return []
        out = []
        for line in self.path.read_bytes().splitlines():
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            if isinstance(entry, dict) and isinstance(entry.get("key"), str):
                out.append(entry)
        return out

    def append(self, entry: dict) -> None:
        line = json.dumps(entry, sort_keys=True).encode() + b"\n"
        with open(self.path, "ab") as f:
            if f.tell() and not self._ends_with_newline():
                f.write(b"\n")  # a torn last line stays on its own line, never glued to this one
            f.write(line)
            f.flush()
            os.fsync(f.fileno())

    def _ends_with_newline(self) -> bool:
        with open(self.path, "rb") as f:
            f.seek(-1, os.SEEK_END)
            return f.read(1) == b"\n"


def rubric_sha256(rubric: Rubric) -> str:
    """The rubric folder's files (hidden suites included) and the reference: what a grade depends on.
    Instructor mutants are not: adding one to `grade check` regrades no class."""
    return tree_sha256(*[p for p in (rubric.folder, rubric.reference) if p], skip=("mutants",))


def content_sha256(path: Path) -> str:
    if path.is_file():
        return hashlib.sha256(path.read_bytes()).hexdigest()
    return tree_sha256(path)


def journal_key(content: str, name: str, rubric_hash: str) -> str:
    # The name is graded too: messages quote it ("hw.ipynb: not valid JSON"), so a stored result is
    # reused only for the same bytes under the same name, never shown to a student under another's.
    # surrogateescape: a file name that is not UTF-8 is still a name (its own bytes), never a crash.
    text = f"{content}:{name}:{grader.__version__}:{rubric_hash}"
    return hashlib.sha256(text.encode("utf-8", "surrogateescape")).hexdigest()


def feedback_text(result: GradeResult) -> str:
    """The terminal report as plain text, as a student may see it (hidden checks left out)."""
    from rich.console import Console

    from grader.report.terminal import render

    buf = StringIO()
    render(result, Console(file=buf, width=100, color_system=None, force_terminal=False), show_hidden=False)
    return buf.getvalue()


def student_cells(path: Path) -> tuple[tuple[str, str], ...]:
    """(cell type, source) of the notebook or .py file handed in, for the feedback page; () if unreadable."""
    from grader.load.submission import MAX_SUBMISSION_BYTES, _pick_from_folder

    try:
        p = _pick_from_folder(path) if path.is_dir() else path
        if p.stat().st_size > MAX_SUBMISSION_BYTES:
            return ()
        text = p.read_text(encoding="utf-8", errors="replace")
        if p.suffix.lower() != ".ipynb":  # a .py file: one cell per top-level definition
            return tuple(("code", part) for part in re.split(r"\n(?=@|def |class |async def )", text) if part.strip())
        cells = json.loads(text)["cells"]  # no schema validation: this is display, and it is slow

        def source(c) -> str:
            src = c.get("source", "")
            return "".join(map(str, src)) if isinstance(src, list) else str(src)

        return tuple((str(c.get("cell_type", "")), source(c)) for c in cells if isinstance(c, dict))
    except Exception:  # noqa: BLE001  (an unreadable notebook gets a feedback page without its cells)
        return ()


def write_student_files(out: Path, g: Graded) -> None:
    from grader.report.html import feedback_html

    folder = out / g.submission.key
    if g.result is None:
        (folder / "results.json").unlink(missing_ok=True)  # never leave a stale grade behind
        (folder / "feedback.html").unlink(missing_ok=True)
        write_atomic(folder / "feedback.txt", f"Not graded yet: {g.message}\nThis submission will be regraded.\n")
        return
    shown = dataclasses.replace(g.result, submission=g.submission.shown_as)
    if g.status == "timeout":  # said to the student too, naming only the checks they may see
        missed = not_reached(dataclasses.replace(shown, items=tuple(i for i in shown.items if i.visibility == "visible")))
        shown = dataclasses.replace(shown, notes=shown.notes + (
            "grading was stopped at the time limit; the checks finished before it kept their points"
            + (f"; not reached: {', '.join(missed)}" if missed else ""),))
    write_json(to_results_json(shown), folder / "results.json")
    write_atomic(folder / "feedback.txt", feedback_text(shown))
    write_atomic(folder / "feedback.html", feedback_html(shown, student_cells(g.submission.path)))


def failed_result(sub: StudentSubmission, rubric: Rubric, error: str, staff: str = "") -> GradeResult:
    """Score 0 on every item, with the reason: what a crash or a timeout earns."""
    items = tuple(ItemResult(**{**i.__dict__, "feedback": (f"not graded: {error}",)})
                  for i in score_items(rubric, ()))
    return GradeResult(assignment=rubric.assignment, title=rubric.title, submission=sub.shown_as, score=0.0,
                       max_score=sum(i.max_score for i in items), items=items, isolation="", error=error,
                       staff_output=staff)


def stopped_result(sub: StudentSubmission, rubric: Rubric, outcomes, collected, why: str,
                   staff: str = "") -> GradeResult:
    """What a submission stopped at the time limit earns: the tests it finished keep their points, those
    collected but not reached fail (a parametrized item is not whole on the cases it reached), and
    items with no test at all score 0 as not reached."""
    have = {o.nodeid for o in outcomes}
    missed = tuple(Outcome(str(n), "failed", f"{NOT_REACHED}: {why}") for n in collected if n not in have)
    items = tuple(i if i.outcomes or i.status == "skipped" else dataclasses.replace(i, feedback=(f"{NOT_REACHED}: {why}",))
                  for i in score_items(rubric, tuple(outcomes) + missed))
    return GradeResult(assignment=rubric.assignment, title=rubric.title, submission=sub.shown_as,
                       score=round(sum(i.score for i in items), 4), max_score=sum(i.max_score for i in items),
                       items=items, isolation="", staff_output=staff, time_limit_reached=True)


def not_reached(result: GradeResult) -> list[str]:
    """The checks a time limit kept from running, as "2.1 train"."""
    marks = (NOT_REACHED, "total time limit was reached")
    return [f"{i.number} {i.name}" for i in result.items if any(m in f for f in i.feedback for m in marks)]


def timeout_message(result: GradeResult, seconds: float) -> str:
    missed = not_reached(result)
    return (f"stopped at the time limit ({seconds:.0f} s); points earned before it are kept; "
            + (f"not reached: {', '.join(missed)}" if missed else "every check had started"))


@dataclass
class _Child:
    key: str
    sub: StudentSubmission
    attempt: int
    proc: subprocess.Popen
    out: Path
    err: Path
    started: float
    deadline: float
    terminated_at: float = 0.0
    warned: bool = False  # announced as running far longer than the median


class _Runner:
    """The event loop: start children up to --jobs, collect what they wrote, journal it."""

    def __init__(self, out: Path, rubric: Rubric, options: BatchOptions, console):
        self.out, self.rubric, self.options, self.console = out, rubric, options, console
        self.journal = Journal(out / "journal.jsonl")
        self.tmp = out / ".work" / "children"
        self.tmp.mkdir(parents=True, exist_ok=True)
        self.timeout = options.timeout_s or rubric.total_seconds + rubric.import_timeout_s + 120
        self.done: dict[str, Graded] = {}
        self.subs_of: dict[str, list[StudentSubmission]] = {}
        self.counts = {"graded": 0, "failed": 0}
        self.durations: list[float] = []  # seconds each finished child took, for "far longer than the median"
        self.on_finish = None  # called after each journal line (grades.csv as the run goes)
        self.forking = False  # set by prepare_forking(): children forked from this process

    def prepare_forking(self) -> None:
        """Import the grader once here and fork each child from it, with a shared template sandbox:
        a child then pays neither for a new interpreter nor for two `import torch` (see issue 6)."""
        from grader.batch import child as batch_child
        from grader.sandbox.forked import Zygote
        from grader.sandbox.spec import Limits, SandboxSpec

        if self.options.gpu != "off" or not hasattr(os, "fork"):
            return  # CUDA does not survive fork()
        from grader.load.mnist import Mnist, find_data_dir

        spec = SandboxSpec(limits=Limits(threads=1), isolation=self.options.isolation,
                           mnist_raw_dir=str(Mnist(find_data_dir(self.options.data_dir)).raw_dir)
                           if self.rubric.needs_mnist else None)
        # The template imports torch on one core while this process warms up on the other.
        zygote = Zygote(spec, wait=False) if Zygote.usable(spec) else None
        try:
            import torch  # noqa: F401  (imported here once, shared copy-on-write by every child)

            import grader.pipeline
            import grader.suites.runner  # noqa: F401
            from grader.load.reference import load_reference

            grader.pipeline.warm_imports()  # before any fork, with no thread: every child starts warm
            if self.rubric.reference:
                load_reference(self.rubric.reference)
            if zygote is not None:
                zygote.wait_ready()
        except BaseException:
            if zygote is not None:
                zygote.close()
            raise
        batch_child.ZYGOTE = zygote
        self.forking = True

    def close(self) -> None:
        from grader.batch import child as batch_child

        if batch_child.ZYGOTE is not None:
            batch_child.ZYGOTE.close()
            batch_child.ZYGOTE = None

    def command(self, path: Path, out_json: Path, deadline: float) -> list[str]:
        # The child stops calling the student a little before the hard deadline, so that it scores what
        # was reached itself; the kill at the deadline is the backstop.
        stop_at = deadline - min(30.0, max(3.0, 0.1 * self.timeout))
        cmd = [sys.executable, "-m", "grader.batch.child", str(path), str(self.rubric.folder), str(out_json),
               "--gpu", self.options.gpu, "--isolation", self.options.isolation, "--stop-at", f"{stop_at:.3f}"]
        return cmd + (["--data-dir", self.options.data_dir] if self.options.data_dir else [])

    def start(self, key: str, sub: StudentSubmission, attempt: int) -> _Child:
        out_json, err = self.tmp / f"{key}.json", self.tmp / f"{key}.err"
        out_json.unlink(missing_ok=True)
        _partial(out_json).unlink(missing_ok=True)
        if self.forking:
            now = time.monotonic()
            proc = _ForkedChild(self.command(sub.path, out_json, now + self.timeout)[3:], err)
            return _Child(key, sub, attempt, proc, out_json, err, now, now + self.timeout)
        env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "GRADER_BATCH_PARENT": str(os.getpid()),
               "PYTHONPATH": os.pathsep.join(filter(None, [str(Path(grader.__file__).parent.parent),
                                                           os.environ.get("PYTHONPATH")]))}
        try:
            with open(err, "wb") as errf:
                deadline = time.monotonic() + self.timeout
                proc = subprocess.Popen(self.command(sub.path, out_json, deadline), stdin=subprocess.DEVNULL,
                                        stdout=errf, stderr=errf, env=env, start_new_session=True)
        except OSError as exc:
            raise InfrastructureError(f"cannot start a grading process: {exc}") from None
        now = time.monotonic()
        return _Child(key, sub, attempt, proc, out_json, err, now, now + self.timeout)

    def collect(self, child: _Child) -> tuple[Status, GradeResult | None, str]:
        """(status, result, message); "needs regrade" for an infrastructure failure, tried again first."""
        rc = child.proc.returncode
        try:
            data = json.loads(child.out.read_text())
        except (OSError, ValueError):
            data = {}
        if child.terminated_at:
            try:
                saved = json.loads(_partial(child.out).read_text())
                outcomes = outcomes_from_plain(saved["outcomes"])
                collected = [str(n) for n in saved["collected"]]
            except (OSError, ValueError, TypeError, KeyError):
                outcomes, collected = (), []
            why = f"grading was stopped at the time limit ({self.timeout:.0f} s)"
            result = stopped_result(child.sub, self.rubric, outcomes, collected, why, _tail(child.err))
            return "timeout", result, timeout_message(result, self.timeout)
        if rc == 0 and isinstance(data.get("result"), dict):
            try:
                result = from_plain(data["result"])
            except ValueError as exc:
                return "crashed", failed_result(child.sub, self.rubric, str(exc)), str(exc)
            if result.time_limit_reached:  # stopped itself in time: the score stands, the status says why
                return "timeout", result, timeout_message(result, self.timeout)
            return ("unreadable" if result.error else "graded"), result, result.error or ""
        if rc == 3 or "config_error" in data:
            raise ConfigError(str(data.get("config_error") or _tail(child.err)))
        if rc == 4 or "infrastructure_error" in data:
            return NEEDS_REGRADE, None, str(data.get("infrastructure_error") or _tail(child.err, 500))
        how = f"killed by signal {signal.Signals(-rc).name}" if rc < 0 and -rc in signal.Signals._value2member_map_ \
            else f"exited with status {rc}"
        why = f"the grading process {how}"
        return "crashed", failed_result(child.sub, self.rubric, why, _tail(child.err)), why

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

    def kill(self, child: _Child, sig: int) -> None:
        try:
            os.killpg(child.proc.pid, sig)
        except (ProcessLookupError, PermissionError):
            pass


class _ForkedChild:
    """A grading child forked from the batch process; the subset of Popen the loop uses."""

    def __init__(self, argv: list[str], err: Path):
        from grader.batch import child as batch_child

        parent = os.getpid()
        errfd = os.open(err, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                os.setsid()  # its own process group: the loop stops it with killpg, as a Popen child
                os.dup2(errfd, 1)
                os.dup2(errfd, 2)
                os.environ["GRADER_BATCH_PARENT"] = str(parent)
                code = batch_child.main(argv)
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else 1
            except BaseException:
                import traceback

                traceback.print_exc()
            finally:
                os._exit(code)
        os.close(errfd)
        self.pid, self.returncode = pid, None

    def poll(self) -> int | None:
        if self.returncode is None:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.poll() is None:
            if deadline is not None and time.monotonic() > deadline:
                raise subprocess.TimeoutExpired("grading child", timeout)
            time.sleep(0.02)
        return self.returncode


def _partial(out_json: Path) -> Path:
    return out_json.with_name(out_json.name + ".partial")


def _tail(path: Path, n: int = 4000) -> str:
    try:
        data = path.read_bytes()
    except OSError:
        return ""
    return data[-n:].decode("utf-8", "replace")


def grade_class(source: ClassSource, out: str | Path, rubric: Rubric, options: BatchOptions = BatchOptions(),
                *, console=None, regrade: frozenset[str] = frozenset(), only: frozenset[str] | None = None,
                on_result=None) -> BatchRun:
    """Grade every submission not already in the journal; Ctrl-C stops cleanly and keeps what is done.
    regrade: submission keys graded afresh whatever the journal holds; only: grade just these keys afresh
    (the others come from the journal, or are left out). on_result(the run so far, complete rows only)
    is called as results come in."""
    from rich.console import Console

    console = console or Console()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    start = time.monotonic()
    runner = _Runner(out, rubric, options, console)
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
                runner.prepare_forking()
            if todo and not stop:
                _loop(runner, todo, jobs, len(todo), stop)
        except KeyboardInterrupt:  # not the main thread's signals (grade_class called from a thread)
            interrupted = True
        finally:
            runner.close()
        run = dataclasses.replace(snapshot(True), interrupted=interrupted or bool(stop))
        if not run.interrupted:
            for g in run.graded:
                if g.from_journal:  # rewritten: the files may predate a crash, or belong to a renamed student
                    write_student_files(out, g)
        # a signal while those files are written still says "interrupted": the next run rewrites them
        return dataclasses.replace(run, interrupted=run.interrupted or bool(stop))


def _loop(runner: _Runner, todo: deque, jobs: int, total: int, stop: list[int]) -> None:
    """Start, watch and record children until all are done or a signal arrived (stop is not empty)."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        SpinnerColumn,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    running: list[_Child] = []
    progress = Progress(
        SpinnerColumn(), TextColumn("grading"), BarColumn(), MofNCompleteColumn(),
        TextColumn("[green]{task.fields[graded]} graded[/] [red]{task.fields[failed]} failed[/] "
                   "{task.fields[remaining]} remaining"),
        TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(), TextColumn("{task.fields[running]}"),
        console=runner.console, transient=False)
    task = progress.add_task("grading", total=total, graded=0, failed=0, remaining=total, running="")
    shown = 0.0
    try:
        with progress:
            while (todo or running) and not stop:
                while todo and len(running) < jobs:
                    key, sub, attempt = todo.popleft()
                    running.append(runner.start(key, sub, attempt))
                time.sleep(0.05)
                for child in list(running):
                    if _check(runner, child):
                        running.remove(child)
                        retry = _handle(runner, child, progress)
                        if retry:
                            todo.append(retry)
                        else:
                            progress.advance(task)
                        progress.update(task, **runner.counts, remaining=total - sum(runner.counts.values()))
                if time.monotonic() - shown > 0.5 or not running:
                    shown = time.monotonic()
                    _warn_slow(runner, running, progress)
                    progress.update(task, running=_running_text(running))
    finally:
        for child in running:  # interrupted: stop what is in flight; it stays out of the journal
            runner.kill(child, signal.SIGTERM)
        deadline = time.monotonic() + 5
        for child in running:
            try:
                child.proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                runner.kill(child, signal.SIGKILL)
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


def _running_text(running: list[_Child], most: int = 3) -> str:
    """The longest-running submissions with their time so far: a hang shows who it is."""
    from grader.report.terminal import escape

    now = time.monotonic()
    longest = sorted(running, key=lambda c: c.started)
    shown = ", ".join(f"{escape(c.sub.key)} {now - c.started:.0f}s" for c in longest[:most])
    more = f" +{len(longest) - most}" if len(longest) > most else ""
    return f"[dim]running:[/] {shown}{more}" if longest else ""


def _warn_slow(runner: _Runner, running: list[_Child], progress) -> None:
    """One line for a submission running far longer than the median of those finished so far."""
    from grader.report.terminal import escape

    if len(runner.durations) < 3:
        return
    median = statistics.median(runner.durations)
    now = time.monotonic()
    for child in running:
        elapsed = now - child.started
        if not child.warned and elapsed > max(SLOW_MIN_S, SLOW_FACTOR * median):
            child.warned = True
            progress.console.print(
                f"[yellow]![/] {escape(child.sub.key)} has been running for {elapsed:.0f} s, over "
                f"{elapsed / max(median, 0.1):.0f}x the median ({median:.1f} s); it is stopped at "
                f"{runner.timeout:.0f} s (--timeout)", highlight=False)


def _check(runner: _Runner, child: _Child) -> bool:
    """True once the child has exited; stops it (SIGTERM, then SIGKILL) past its deadline."""
    if child.proc.poll() is not None:
        return True
    now = time.monotonic()
    if now > child.deadline and not child.terminated_at:
        child.terminated_at = now
        runner.kill(child, signal.SIGTERM)
    elif child.terminated_at and now > child.terminated_at + 10:
        runner.kill(child, signal.SIGKILL)
    return False


def _handle(runner: _Runner, child: _Child, progress):
    """Record a finished child; returns what to retry, if anything."""
    from grader.report.terminal import escape

    status, result, message = runner.collect(child)
    seconds = time.monotonic() - child.started
    name = escape(child.sub.key)  # from an archive or a folder: data, never markup
    if status == NEEDS_REGRADE and child.attempt < TRIES:
        progress.console.print(f"[yellow]![/] {name}: infrastructure failure, trying again ({escape(message)})")
        return child.key, child.sub, child.attempt + 1
    if status == NEEDS_REGRADE:
        message = f"the grader could not run after {TRIES} tries: {message}"
    runner.finish(child.key, status, result, child.attempt, message, seconds)
    for p in (child.out, child.err, _partial(child.out)):
        p.unlink(missing_ok=True)
    if result is not None and status in ("graded", "unreadable"):
        pct = 100 * result.score / result.max_score if result.max_score else 0.0
        note = "  [yellow](could not be read)[/]" if status == "unreadable" else ""
        progress.console.print(f"[green]✓[/] {name}  {round(result.score, 2):g}/{result.max_score:g} ({pct:.0f}%)  "
                               f"{seconds:.1f} s{note}", highlight=False)
    elif result is not None and status == "timeout":
        progress.console.print(f"[red]✗[/] {name}  {round(result.score, 2):g}/{result.max_score:g}  "
                               f"timeout: {escape(message)}", highlight=False)
    else:
        progress.console.print(f"[red]✗[/] {name}  {status}: {escape(message)}", highlight=False)
    return None
