"""Grade one submission: load -> sandbox -> suites -> outcomes -> rubric, returning a GradeResult."""

from __future__ import annotations

import glob
import os
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from grader.errors import InfrastructureError, SubmissionError
from grader.inert import add_host_path, clean
from grader.load.mnist import Mnist, find_data_dir
from grader.load.submission import load_submission
from grader.results import GradeResult, ItemResult
from grader.rubric import Rubric, score_items
from grader.sandbox.faults import redact
from grader.sandbox.host import describe_isolation, isolation_level, isolation_of
from grader.sandbox.interfaces import Launcher
from grader.sandbox.process import WorkerProcess
from grader.sandbox.spec import Limits, SandboxSpec

# torch, pytest and the reference are imported inside grade(), after the sandbox has started, so
# the worker's own `import torch` runs alongside the grader's instead of after it.


@dataclass(frozen=True)
class GradeOptions:
    """How to grade: where the data is, GPU use, isolation, threads."""

    data_dir: str | None = None
    gpu: str = "auto"  # "auto" | "on" | "off"
    gpu_device: str | None = None  # run the GPU section on this device (for testing the grader)
    isolation: str = "auto"  # "auto" | "bwrap" | "none"
    threads: int = 0  # torch threads in the worker; 0: all cores when grading one submission
    stop_at: float | None = None  # time.monotonic() by which to stop calling the student (a batch's --timeout)
    progress: object = None  # progress(what) while grading, for a terminal; None: silent


def warm_imports() -> None:
    """What the grader's side of the suites would otherwise import mid-test: the first autograd.grad with
    a cotangent (the reference's gradients) imports sympy, about 0.7 s."""
    import torch.fx.experimental.symbolic_shapes  # noqa: F401


def _threads(options: GradeOptions) -> int:
    return options.threads or max(1, min(4, os.cpu_count() or 1))


def _gpu_in_sandbox(options: GradeOptions) -> bool:
    # Device nodes decide whether the sandbox gets the GPU; the worker then reports whether CUDA
    # works in there, and the GPU section skips if not. Touching CUDA here would cost start-up time.
    if options.gpu == "off" or options.gpu_device:
        return False
    return bool(glob.glob("/dev/nvidia*"))


def template_spec(rubric: Rubric, data_dir: str | None, isolation: str) -> SandboxSpec:
    """The spec of a template sandbox (Zygote) whose forked workers grade() takes for this rubric: one
    torch thread, and MNIST where the rubric needs it (grade() uses a template only if that matches)."""
    mnist = Mnist(find_data_dir(data_dir)) if rubric.needs_mnist else None
    return SandboxSpec(limits=Limits(threads=1), isolation=isolation,
                       mnist_raw_dir=str(mnist.raw_dir) if mnist else None)


def grade(path: str | Path, rubric: Rubric, options: GradeOptions = GradeOptions(), *,
          zygote: Launcher | None = None, on_outcome=None) -> GradeResult:
    """Grade one submission file or folder. A broken or hostile submission is a result, not an error.

    Args:
        path: a notebook, a .py file, or a folder holding one.
        rubric: from `load_rubric` or `find_rubric`.
        options: data folder, GPU use, isolation, threads.
        zygote: where workers come from when not from a new sandbox: the batch's template sandbox,
            or a test's in-process launcher. Used only when it says it is `usable` for this spec.
        on_outcome: called as on_outcome(test ids collected, outcomes so far) after collection and
            after each test (a batch child saves them as it goes).
    """
    start = time.perf_counter()
    timings: list[tuple[str, float]] = []
    mnist = Mnist(find_data_dir(options.data_dir)) if rubric.needs_mnist else None
    gpu = _gpu_in_sandbox(options)
    spec = SandboxSpec(
        limits=Limits(threads=_threads(options)),
        mnist_raw_dir=str(mnist.raw_dir) if mnist else None, gpu=gpu, isolation=options.isolation)
    level = isolation_level(spec)
    if mnist is not None:
        add_host_path(mnist.root)
    try:
        submission = load_submission(path, keep=rubric.execution, required=rubric.required_names)
    except SubmissionError as exc:
        return _unreadable(path, rubric, str(exc), describe_isolation(level), start)
    if submission.files_dir:
        add_host_path(submission.files_dir)
        spec = SandboxSpec(limits=spec.limits, mnist_raw_dir=spec.mnist_raw_dir, gpu=gpu,
                           isolation=options.isolation, submission_dir=submission.files_dir)
    timings.append(("load submission", time.perf_counter() - start))
    # A template sandbox (batch grading, root) forks the worker; otherwise one starts right away
    # so its `import torch` overlaps the grader's.
    use_zygote = zygote is not None and zygote.spec.mnist_raw_dir == spec.mnist_raw_dir and zygote.usable(spec)
    worker = None if use_zygote else WorkerProcess(spec)
    try:
        t = time.perf_counter()
        import torch

        from grader.load.reference import load_reference
        from grader.suites.runner import SuiteContext, run_suites
        from grader.suites.student import Student

        torch.set_num_threads(_threads(options))
        threading.Thread(target=warm_imports, name="warm-imports", daemon=True).start()
        reference = load_reference(rubric.reference) if rubric.reference else None
        timings.append(("grader imports and reference", time.perf_counter() - t))
        total = rubric.total_seconds
        if options.stop_at is not None:
            total = max(0.0, min(total, options.stop_at - time.monotonic()))
        student = Student(submission, spec, call_timeout=rubric.call_timeout_s, prestarted=worker,
                          total_seconds=total, import_timeout=rubric.import_timeout_s,
                          zygote=zygote if use_zygote else None)
    except BaseException:
        if worker is not None:
            worker.kill()
        raise
    try:
        ctx = SuiteContext(rubric=rubric, submission=submission, student=student, reference=reference,
                           mnist=mnist, gpu=options.gpu, gpu_device=options.gpu_device, on_outcome=on_outcome,
                           progress=options.progress)
        outcomes, seconds = run_suites(ctx)
        timings += list(student.timings.items())
        timings.append(("suites (all tests, sandbox start included)", seconds))
    finally:
        student.close()
    if student.infrastructure_error:
        # The sandbox failed before any student code ran: a grader problem, never a score.
        raise InfrastructureError(student.infrastructure_error)
    items = score_items(rubric, outcomes)
    output = clean(bytes(student.output).decode("utf-8", "replace"))  # staff read it: no terminal escapes
    if student.output_total > len(student.output):
        output += f"\n[... {student.output_total - len(student.output)} more bytes of output dropped]"
    env = (("python", sys.version.split()[0]), ("torch", torch.__version__),
           ("cuda", torch.version.cuda or "none"),
           ("device", str(student.info.get("device", "cpu"))))
    return GradeResult(
        assignment=rubric.assignment, title=rubric.title, submission=str(path),
        score=round(sum(i.score for i in items), 4), max_score=sum(i.max_score for i in items), items=items,
        isolation=describe_isolation(level), isolation_level=isolation_of(level), notes=submission.notes + tuple(student.startup.notes),
        sha256=submission.sha256, duration_s=time.perf_counter() - start, environment=env,
        staff_output=output, timings=tuple(timings), worker_peak_mb=student.worker_peak_mb,
        time_limit_reached=student.time_limit_reached,
        student_output=student_output(bytes(student.shown), student.shown_total))


STUDENT_OUTPUT_LINES = 20


def student_output(shown: bytes, total: int) -> tuple[str, ...]:
    """The first lines the code printed, redacted like every text from the sandbox (a print of a tensor
    shows no numbers), and a last line counting what was cut."""
    text = shown.decode("utf-8", "replace").rstrip("\n")
    lines = text.split("\n") if text else []
    out = tuple(redact(line.rstrip(), 200) for line in lines[:STUDENT_OUTPUT_LINES])
    cut = [f"{len(lines) - STUDENT_OUTPUT_LINES} more lines"] if len(lines) > STUDENT_OUTPUT_LINES else []
    if total > len(shown):
        cut.append(f"{total - len(shown):,} more bytes")
    return out + ((f"[... {' and '.join(cut)} not shown]",) if cut else ())


def _unreadable(path, rubric: Rubric, error: str, isolation: str, start: float) -> GradeResult:
    """A submission that cannot be read scores 0 on every item, with the reason."""
    items = tuple(
        ItemResult(**{**i.__dict__, "feedback": ("not graded: the submission could not be read",)})
        for i in score_items(rubric, ()))
    return GradeResult(
        assignment=rubric.assignment, title=rubric.title, submission=str(path), score=0.0,
        max_score=sum(i.max_score for i in items), items=items, isolation=isolation, error=error,
        duration_s=time.perf_counter() - start,
        environment=(("python", sys.version.split()[0]),))
