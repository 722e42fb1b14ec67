"""Run the hidden pytest suites in the grader process, with fixtures, and collect typed outcomes."""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch

from grader.load.submission import Submission
from grader.results import Outcome
from grader.rubric import Rubric, items_of, visible
from grader.sandbox.faults import SubmissionFault
from grader.suites.compare import Feedback
from grader.suites.student import Student, StudentNames

MESSAGE_CAP = 800
_PYTEST_ENV = ("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "PYTEST_PLUGINS", "PYTEST_ADDOPTS")


@dataclass(frozen=True)
class SuiteContext:
    """What the fixtures hand to tests."""

    rubric: Rubric
    submission: Submission
    student: Student
    reference: object  # the reference solution's namespace, loaded in this process
    mnist: object  # grader.load.mnist.Mnist: test labels stay here
    gpu: str  # "auto" | "on" | "off"
    gpu_device: str | None  # run the GPU section on this device instead (tests of the grader)
    progress: object = None  # progress(section name) as the tests of each section start, or None
    on_outcome: object = None  # on_outcome(test ids collected, outcomes so far): after collection, after each test


def seed_for(assignment: str, nodeid: str) -> int:
    """Seeds derive from (assignment, test id), so a re-grade gives the same inputs."""
    return int(hashlib.sha256(f"{assignment}:{nodeid}".encode()).hexdigest()[:8], 16)


class Fixtures:
    """The fixtures a hidden suite may ask for."""

    def __init__(self, ctx: SuiteContext):
        self.ctx = ctx

    @pytest.fixture(autouse=True)
    def _test_time_limit(self, request):
        # One budget for all the calls a test makes, on top of each call's own limit.
        self.ctx.student.test_deadline = time.monotonic() + self.ctx.rubric.test_timeout_s
        # What the code prints in a hidden test can echo its inputs: the student sees only the rest.
        self.ctx.student.show_output(visible(self.ctx.rubric, request.node.nodeid))
        yield
        self.ctx.student.test_deadline = None

    @pytest.fixture
    def student(self):
        """`student.<name>(...)` reaches the submission's <name>, whatever the name."""
        return StudentNames(self.ctx.student)

    @pytest.fixture
    def sandbox(self):
        """The grader's own operations on the sandbox: seed, trace, vjp, mnist, known_good ..."""
        return self.ctx.student

    @pytest.fixture
    def reference(self):
        return self.ctx.reference

    @pytest.fixture
    def mnist(self):
        return self.ctx.mnist

    @pytest.fixture
    def submission(self):
        return self.ctx.submission

    @pytest.fixture
    def settings(self):
        return self.ctx.rubric.settings

    @pytest.fixture
    def rng(self, request):
        return torch.Generator().manual_seed(seed_for(self.ctx.rubric.assignment, request.node.nodeid))

    @pytest.fixture
    def gpu_device(self):
        """The device of the optional GPU section; skips it where there is none."""
        if self.ctx.gpu == "off":
            pytest.skip("GPU checks turned off (--gpu off)")
        if self.ctx.gpu_device:
            return self.ctx.gpu_device
        if not torch.cuda.is_available():
            pytest.skip("no CUDA device")
        if not self.ctx.student.connection().info.get("cuda"):
            pytest.skip("no CUDA device inside the sandbox")
        return "cuda"


class Collector:
    """Turns pytest's reports into Outcomes: one per test, plus one per broken test file."""

    def __init__(self, ctx: SuiteContext | None = None):
        self.outcomes: dict[str, Outcome] = {}
        self.ctx, self.section = ctx, None
        self.on_outcome = ctx.on_outcome if ctx is not None else None
        self.collected: tuple[str, ...] = ()

    def pytest_collection_finish(self, session):
        self.collected = tuple(item.nodeid for item in session.items)
        if self.on_outcome is not None:
            self.on_outcome(self.collected, ())

    def pytest_runtest_logstart(self, nodeid, location):
        if self.ctx is None or self.ctx.progress is None:
            return
        items = items_of(self.ctx.rubric, nodeid)
        if items and items[0].section != self.section:
            self.section = items[0].section
            self.ctx.progress(self.section)

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(self, item, call):
        report = (yield).get_result()
        if call.when == "call" or report.failed or report.skipped:
            prev = self.outcomes.get(item.nodeid)
            if prev is not None and prev.status != "passed" and call.when == "teardown":
                return
            status, message = _classify(report, call)
            exc = call.excinfo.value if call.excinfo else None
            self.outcomes[item.nodeid] = Outcome(
                nodeid=item.nodeid, status=status, message=message,
                hint=str(exc.hint)[:MESSAGE_CAP] if isinstance(exc, Feedback) and status == "failed" else "",
                duration=(prev.duration if prev else 0.0) + report.duration,
                properties=tuple((str(k), v) for k, v in report.user_properties),
            )
            if self.on_outcome is not None:
                self.on_outcome(self.collected, tuple(self.outcomes.values()))

    def pytest_collectreport(self, report):
        if report.failed:
            text = str(report.longrepr).strip().splitlines()
            self.outcomes[report.nodeid + "::<collection>"] = Outcome(
                nodeid=report.nodeid + "::<collection>", status="error",
                message=f"the hidden test file could not be loaded: {text[-1] if text else ''}"[:MESSAGE_CAP],
            )


def _classify(report, call) -> tuple[str, str]:
    if report.passed:
        return "passed", ""
    if report.skipped:
        longrepr = report.longrepr
        reason = longrepr[2] if isinstance(longrepr, tuple) and len(longrepr) == 3 else str(longrepr)
        return "skipped", reason.removeprefix("Skipped: ")
    exc = call.excinfo.value if call.excinfo else None
    if isinstance(exc, SubmissionFault):
        return "failed", str(exc)[:MESSAGE_CAP]
    if isinstance(exc, AssertionError):
        text = str(exc).split("\nassert ")[0].strip() or "the check failed"
        return "failed", text[:MESSAGE_CAP]
    name = type(exc).__name__ if exc is not None else "error"
    # A bug in a test, not the student's fault; still 0 points, flagged for staff.
    return "error", f"internal error in the check ({name}: {str(exc)[:200]}); tell your instructor"


def _forget_test_modules(folder: Path) -> None:
    # pytest's importlib mode names a test file by its path under the rootdir ("test_public") and reuses
    # whatever sys.modules holds under that name: without this, a second rubric's test_public.py in the
    # same process (grade check, a course with two assignments) would run the first one's tests.
    names = set()
    for path in Path(folder).rglob("test_*.py"):
        parts = path.relative_to(folder).with_suffix("").parts
        names.add(".".join(parts))
        names.add(parts[-1])
    for name in names:
        sys.modules.pop(name, None)


def run_suites(ctx: SuiteContext) -> tuple[tuple[Outcome, ...], float]:
    """Run every test file in the rubric's folder; returns outcomes and seconds taken."""
    collector = Collector(ctx)
    folder = str(ctx.rubric.folder)
    # mutants/ holds the instructor's buggy submissions for `grade check`, never tests.
    args = [folder, "--rootdir", folder, "--ignore", os.path.join(folder, "mutants"), "--noconftest",
            "--continue-on-collection-errors", "-p", "no:cacheprovider", "-p", "no:warnings",
            "-p", "no:stepwise", "-p", "no:doctest",
            # Per-test log capture and the gc.collect() passes hunting unraisable exceptions cost about
            # 0.5 s a grade; the suites log nothing and student code runs in another process.
            "-p", "no:logging", "-p", "no:unraisableexception", "-p", "no:threadexception",
            "--import-mode=importlib", "-q", "-o", "addopts=",
            "-o", "python_files=test_*.py", "-o", "console_output_style=classic",
            "-c", os.devnull]
    start = time.perf_counter()
    # Only these arguments and plugins: no plugin autoload, and none of the environment's pytest
    # settings (PYTEST_ADDOPTS from a CI, say, would reach this run and can stop every test).
    saved = {var: os.environ.pop(var, None) for var in _PYTEST_ENV}
    os.environ["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    log = io.StringIO()
    _forget_test_modules(ctx.rubric.folder)
    try:
        with contextlib.redirect_stdout(log), contextlib.redirect_stderr(log):
            pytest.main(args, plugins=[Fixtures(ctx), collector])
    finally:
        _forget_test_modules(ctx.rubric.folder)
        for var, value in saved.items():
            if value is None:
                os.environ.pop(var, None)
            else:
                os.environ[var] = value
    return tuple(collector.outcomes.values()), time.perf_counter() - start
