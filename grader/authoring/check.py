"""`grade check`: grade the reference, the blank release and the instructor's mutants against a rubric.

The reference must earn every item in full (else the item cannot be earned by anyone), the release
gives the baseline (an item it earns is a warning: points for nothing), and every mutant in
rubrics/<assignment>/mutants/ must lose points on at least one item (else the rubric misses the
mistake the mutant stands for).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

from grader.results import GradeResult
from grader.rubric import Rubric

MUTANT_SUFFIXES = (".py", ".ipynb")
FEEDBACK_CAP = 300


@dataclass(frozen=True)
class Graded:
    """One submission the check graded, and what the check concluded from it."""

    role: str  # "reference" | "public" (the reference on the public checks) | "release" | "mutant"
    path: Path
    result: GradeResult
    errors: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    caught_by: tuple[str, ...] = ()  # a mutant: "1.2 clip (0/2)" for each item it lost points on


@dataclass(frozen=True)
class CheckReport:
    """Everything `grade check` found; `ok` only when nothing is an error."""

    rubric: Rubric
    graded: tuple[Graded, ...]
    errors: tuple[str, ...]  # not tied to one graded submission (no reference, no mutants folder)
    notes: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.errors and not any(g.errors for g in self.graded)

    @property
    def warnings(self) -> tuple[str, ...]:
        return tuple(w for g in self.graded for w in g.warnings)


def mutants_of(rubric: Rubric) -> tuple[Path, ...]:
    """The instructor's mutants: rubrics/<assignment>/mutants/*.py and *.ipynb, in name order."""
    folder = rubric.folder / "mutants"
    if not folder.is_dir():
        return ()
    return tuple(sorted(p for p in folder.iterdir() if p.is_file() and p.suffix in MUTANT_SUFFIXES))


def _item(i) -> str:
    return f"{i.number} {i.name}"


def _why(i) -> str:
    text = " | ".join(i.feedback) or "no feedback"
    return text if len(text) <= FEEDBACK_CAP else text[:FEEDBACK_CAP] + "..."


def judge_reference(path: Path, result: GradeResult, role: str = "reference") -> Graded:
    """Every item at its maximum; an optional item that did not run is no error (the GPU section)."""
    suite = "public check" if role == "public" else "item"
    if result.error:
        return Graded(role, path, result, errors=(f"the reference could not be graded: {result.error}",))
    errors = []
    for i in result.items:
        if i.status == "skipped" and i.max_score == 0:
            continue  # optional, not run here: counted nowhere
        if i.score < i.max_score:
            errors.append(f"the reference earns {i.score:g}/{i.max_score:g} on {suite} {_item(i)}: {_why(i)}")
    return Graded(role, path, result, errors=tuple(errors))


def public_rubric_of(rubric: Rubric) -> Rubric | None:
    """The public checks students run (assignments/<assignment>/public/), if the course has them."""
    from grader.rubric import _root_of, load_rubric

    folder = _root_of(rubric.folder.resolve()) / "assignments" / rubric.assignment / "public"
    return load_rubric(folder) if (folder / "rubric.toml").is_file() else None


def judge_release(path: Path, result: GradeResult) -> Graded:
    """The baseline: what a student gets for handing in the blank notebook."""
    warnings = [f"the blank release earns {i.score:g}/{i.max_score:g} on item {_item(i)}"
                for i in result.items if i.score > 0]
    return Graded("release", path, result, warnings=tuple(warnings))


def judge_mutant(path: Path, result: GradeResult, reference: GradeResult) -> Graded:
    """A mutant must lose points, relative to the reference, on at least one item."""
    if result.error:
        return Graded("mutant", path, result, errors=(
            f"mutant {path.name} could not be read ({result.error}): it tests nothing; fix it",))
    full = {i.number: i.score for i in reference.items}
    caught = tuple(f"{_item(i)} ({i.score:g}/{i.max_score:g})" for i in result.items
                   if i.score < full.get(i.number, i.max_score))
    if not caught:
        return Graded("mutant", path, result, errors=(
            f"mutant {path.name} loses nothing ({result.score:g}/{result.max_score:g}): no check catches its mistake",))
    return Graded("mutant", path, result, caught_by=caught)


def run_check(rubric: Rubric, *, data_dir: str | None = None, isolation: str = "auto", progress=None) -> CheckReport:
    """Grade the reference (on the public checks too, where there are some), the release `grade assign`
    would write now and every mutant, with the GPU section off and one torch thread, as the corpus
    tests grade."""
    import tempfile

    from grader.pipeline import GradeOptions, grade

    if rubric.reference is None:
        return CheckReport(rubric, (), (f"{rubric.folder}: a rubric without a reference (a public one) "
                                        "cannot be checked; check the hidden rubric",))
    if not rubric.reference.is_file():
        return CheckReport(rubric, (), (f"the reference {rubric.reference} does not exist",))
    options = GradeOptions(data_dir=data_dir, gpu="off", isolation=isolation, threads=1)
    zygote = template_sandbox(rubric, options)
    try:
        with tempfile.TemporaryDirectory(prefix="grade-check-") as tmp:
            release, stale = _release(rubric, Path(tmp))
            return _check(rubric, release, stale, progress, lambda *a: grade(*a, options, zygote=zygote))
    finally:
        if zygote is not None:
            zygote.close()


def _release(rubric: Rubric, tmp: Path) -> tuple[Path | None, str | None]:
    """The release made from the reference now (so a check before the first `grade assign` has a
    baseline), and a warning when the committed one differs; a .py reference: the committed one."""
    from grader.authoring.assign import make_release

    if rubric.release is None or rubric.reference.suffix != ".ipynb":
        return rubric.release, None
    text = make_release(rubric.reference)
    fresh = tmp / rubric.release.name
    fresh.write_text(text)
    if not rubric.release.is_file():
        return fresh, f"{rubric.release} does not exist yet: `grade assign` writes the release graded here"
    if rubric.release.read_text() != text:
        return fresh, f"{rubric.release} is out of date: `grade assign` writes the release graded here"
    return fresh, None


def template_sandbox(rubric: Rubric, options):
    """A template sandbox (root only) so each grade forks a worker with torch imported, as batch does."""
    from grader.pipeline import template_spec
    from grader.sandbox.forked import Zygote

    spec = template_spec(rubric, options.data_dir, options.isolation)
    return Zygote(spec) if Zygote.usable(spec) else None


def _check(rubric: Rubric, release: Path | None, stale: str | None, progress, grade) -> CheckReport:
    errors, notes, graded = [], [], []

    def grade_one(role: str, path: Path, against: Rubric = rubric) -> GradeResult:
        if progress:
            progress(role, path)
        return grade(path, against)

    reference = judge_reference(rubric.reference, grade_one("reference", rubric.reference))
    graded.append(reference)
    public = public_rubric_of(rubric)
    if public is not None:  # the checks students run must pass on the solution too
        graded.append(judge_reference(rubric.reference, grade_one("public", rubric.reference, public), "public"))
    if release is None:
        notes.append("the rubric names no release: no baseline")
    elif not release.is_file():
        errors.append(f"the release {release} does not exist; run `grade assign`")
    else:
        judged = judge_release(release, grade_one("release", release))
        if stale:
            judged = dataclasses.replace(judged, warnings=(stale, *judged.warnings))
        graded.append(judged)
    mutants = mutants_of(rubric)
    if not mutants:
        notes.append(f"no mutants in {rubric.folder / 'mutants'}: add a .py or .ipynb with one typical "
                     "mistake each to learn whether the rubric catches it")
    for path in mutants:
        graded.append(judge_mutant(path, grade_one("mutant", path), reference.result))
    return CheckReport(rubric, tuple(graded), tuple(errors), tuple(notes))


def render_check(report: CheckReport) -> list[str]:
    """The report as plain lines: each submission's score and verdict, then the errors and warnings."""
    lines = [f"grade check: {report.rubric.title} ({report.rubric.folder})"]
    for g in report.graded:
        r = g.result
        verdict = "FAIL" if g.errors else "ok"
        lines.append(f"  {verdict:4} {g.role:9} {g.path.name}: {r.score:g}/{r.max_score:g} in {r.duration_s:.1f} s")
        if g.caught_by:
            lines.append(f"       caught by: {'; '.join(g.caught_by)}")
        lines += [f"       error: {e}" for e in g.errors]
        lines += [f"       warning: {w}" for w in g.warnings]
    lines += [f"  error: {e}" for e in report.errors]
    lines += [f"  note: {n}" for n in report.notes]
    n_err = len(report.errors) + sum(len(g.errors) for g in report.graded)
    lines.append(f"check {'passed' if report.ok else 'FAILED'}: {n_err} error(s), {len(report.warnings)} warning(s)")
    return lines
