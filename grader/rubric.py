"""Rubric: read rubrics/<assignment>/rubric.toml, and turn test outcomes into points."""

from __future__ import annotations

import fnmatch
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

from grader.errors import ConfigError
from grader.results import ItemResult, Outcome

VISIBILITIES = ("visible", "hidden", "after_due_date", "after_published")
PROJECT = Path(__file__).resolve().parent.parent  # the bundled course (mnist_mlp) lives here too
COURSE_ENV = "GRADER_COURSE"
PINNED = ("torch", "torchvision")  # the packages whose version moves measured accuracies


@dataclass(frozen=True)
class Item:
    """Points for one or more tests (fnmatch patterns over node ids relative to the suite folder)."""

    name: str
    section: str
    points: float
    tests: tuple[str, ...]
    visibility: str = "visible"
    partial: bool = True  # share of matched tests passed; otherwise all or nothing
    curve: tuple[float, float] | None = None  # (zero_at, full_at) for a measured property
    measure: str = "accuracy"
    optional: bool = False  # counts only where it runs (the GPU section): never in the maximum otherwise


@dataclass(frozen=True)
class Rubric:
    """Everything instructor-side about one assignment."""

    assignment: str
    title: str
    folder: Path  # rubrics/<assignment>: the hidden suites live here
    reference: Path | None  # None for a public suite, which students run without the solution
    release: Path | None
    items: tuple[Item, ...]
    execution: str = "definitions"  # or "all"
    required_names: tuple[str, ...] = ()
    call_timeout_s: float = 20.0
    import_timeout_s: float = 30.0
    test_timeout_s: float = 180.0  # all the calls of one test together
    total_seconds: float = 600.0
    needs_mnist: bool = False
    settings: dict = field(default_factory=dict)  # free-form values the suites read (epochs, seeds)
    versions: tuple[tuple[str, str], ...] = ()  # [environment]: torch and torchvision to grade with


def items_of(rubric: Rubric, nodeid: str) -> list[Item]:
    """The items a test counts toward."""
    return [i for i in rubric.items if any(fnmatch.fnmatchcase(nodeid, p) for p in i.tests)]


def visible(rubric: Rubric, nodeid: str) -> bool:
    """Whether a test counts toward a visible item only (a test no item names counts as hidden)."""
    items = items_of(rubric, nodeid)
    return bool(items) and all(i.visibility == "visible" for i in items)


def load_rubric(path: str | Path) -> Rubric:
    """Load a rubric from its folder or its .toml file; raise ConfigError saying what is wrong."""
    p = Path(path)
    toml = p / "rubric.toml" if p.is_dir() else p
    if not toml.is_file():
        raise ConfigError(f"{toml}: no rubric file")
    try:
        data = tomllib.loads(toml.read_text())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{toml}: not valid TOML ({exc})") from None
    folder = toml.parent
    a = data.get("assignment", {})
    limits = data.get("limits", {})
    if "name" not in a:
        raise ConfigError(f"{toml}: [assignment] needs a 'name'")
    items = []
    for n, raw in enumerate(data.get("items", []), start=1):
        try:
            curve = raw.get("curve")
            item = Item(
                name=str(raw["name"]), section=str(raw.get("section", "Tests")), points=float(raw["points"]),
                tests=tuple(raw["tests"]) if isinstance(raw["tests"], list) else (str(raw["tests"]),),
                visibility=str(raw.get("visibility", a.get("visibility", "visible"))),
                partial=bool(raw.get("partial", True)),
                curve=(float(curve["zero"]), float(curve["full"])) if curve else None,
                measure=str(raw.get("measure", "accuracy")), optional=bool(raw.get("optional", False)),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ConfigError(f"{toml}: item {n} is malformed ({type(exc).__name__}: {exc})") from None
        if item.visibility not in VISIBILITIES:
            raise ConfigError(f"{toml}: item {n} has visibility {item.visibility!r}; use one of {VISIBILITIES}")
        if item.curve and not item.curve[0] < item.curve[1]:
            raise ConfigError(f"{toml}: item {n}: curve needs zero < full")
        items.append(item)
    if not items:
        raise ConfigError(f"{toml}: no [[items]]")
    versions = data.get("environment", {})
    if (not isinstance(versions, dict) or set(versions) - set(PINNED)
            or not all(isinstance(v, str) for v in versions.values())):
        raise ConfigError(f"{toml}: [environment] takes version strings for {' and '.join(PINNED)} only")
    root = _root_of(folder)
    release = a.get("release")
    return Rubric(
        assignment=str(a["name"]), title=str(a.get("title", a["name"])), folder=folder,
        reference=(root / a["reference"]).resolve() if a.get("reference") else None, release=(root / release).resolve() if release else None,
        items=tuple(items), execution=str(a.get("execution", "definitions")),
        required_names=tuple(a.get("required_names", ())),
        call_timeout_s=float(limits.get("call_timeout_s", 20)),
        import_timeout_s=float(limits.get("import_timeout_s", 30)),
        test_timeout_s=float(limits.get("test_timeout_s", 180)),
        total_seconds=float(limits.get("total_seconds", 600)),
        needs_mnist=bool(a.get("needs_mnist", False)), settings=dict(data.get("settings", {})),
        versions=tuple(sorted(versions.items())),
    )


def _root_of(folder: Path) -> Path:
    # Paths in a rubric are relative to the project holding it (the folder above rubrics/).
    for parent in [folder, *folder.parents]:
        if parent.name == "rubrics":
            return parent.parent
    return folder


def course_roots(course: str | Path | None = None) -> tuple[Path, ...]:
    """Where assignments are looked for, in order: --course (or $GRADER_COURSE, else the current
    folder), then the course bundled with the grader (mnist_mlp) as a fallback."""
    named = course or os.environ.get(COURSE_ENV)
    if named:
        first = Path(named).expanduser()
        if not first.is_dir():
            where = "--course" if course else f"${COURSE_ENV}"
            raise ConfigError(f"the course folder {first} ({where}) does not exist")
    else:
        first = Path.cwd()
    roots = [first.resolve()]
    if PROJECT.resolve() not in roots:
        roots.append(PROJECT.resolve())
    return tuple(roots)


def course_assignments(root: Path) -> tuple[str, ...]:
    """The assignments a course folder has a rubric for (hidden or public)."""
    names = {p.parent.name for p in root.glob("rubrics/*/rubric.toml")}
    names |= {p.parent.parent.name for p in root.glob("assignments/*/public/rubric.toml")}
    return tuple(sorted(names))


def default_assignment(course: str | Path | None = None) -> str:
    """The assignment meant when none is named: the course's only one, else the bundled mnist_mlp."""
    roots = course_roots(course)
    root = next((r for r in roots if course_assignments(r)), roots[0])  # the current folder, if a course
    names = course_assignments(root)
    if root == PROJECT.resolve() and (len(names) != 1 or "mnist_mlp" in names):
        names = ()  # bundled: mnist_mlp, as always (a student kit bundles one assignment: that one)
    if len(names) == 1:
        return names[0]
    if len(names) > 1:
        raise ConfigError(f"the course in {root} has several assignments ({', '.join(names)}): "
                          "name one with --assignment")
    return "mnist_mlp"


def find_rubric(assignment: str, *, public: bool = False, course: str | Path | None = None) -> Rubric:
    """The hidden rubric of an assignment, or its public one (what students have) when asked or
    when the hidden suites are not installed; the first course folder that has either wins."""
    roots = course_roots(course)
    for root in roots:
        hidden = root / "rubrics" / assignment
        shared = root / "assignments" / assignment / "public"
        if not public and (hidden / "rubric.toml").is_file():
            return load_rubric(hidden)
        if (shared / "rubric.toml").is_file():
            return load_rubric(shared)
    what = "" if public else f"rubrics/{assignment}/rubric.toml or "
    looked = "; ".join(f"{r} ({', '.join(course_assignments(r)) or 'no assignments'})" for r in roots)
    raise ConfigError(f"no assignment {assignment!r}: looked for {what}assignments/{assignment}/public/rubric.toml "
                      f"in {looked}. Run from the course folder, or name it with --course DIR or ${COURSE_ENV}")


def score_items(rubric: Rubric, outcomes: tuple[Outcome, ...]) -> tuple[ItemResult, ...]:
    """Points per item from the outcomes of its tests; points live here, never in test code."""
    results = []
    numbers: dict[str, int] = {}
    sections = list(dict.fromkeys(i.section for i in rubric.items))
    for item in rubric.items:
        s = sections.index(item.section) + 1
        numbers[item.section] = numbers.get(item.section, 0) + 1
        matched = tuple(o for o in outcomes if any(fnmatch.fnmatchcase(o.nodeid, p) for p in item.tests))
        if not matched:  # a test file that failed to load: its collection error stands for its tests
            files = {p.split("::")[0] for p in item.tests}
            matched = tuple(o for o in outcomes if o.nodeid.endswith("::<collection>")
                            and any(fnmatch.fnmatchcase(o.nodeid.split("::")[0], f) for f in files))
        results.append(_score(item, f"{s}.{numbers[item.section]}", matched))
    return tuple(results)


def curve_value(item: Item, outcomes) -> float | None:
    """What a curve item is scored on: the lowest value of its measure that a passed case recorded.
    NaN and inf never pass: a measure that is not a finite number was not measured."""
    values = [o.prop(item.measure) for o in outcomes if o.status == "passed"]
    values = [float(v) for v in values if isinstance(v, (int, float)) and math.isfinite(v)]
    return min(values) if values else None


def _score(item: Item, number: str, matched: tuple[Outcome, ...]) -> ItemResult:
    def result(score, status, feedback):
        return ItemResult(number=number, name=item.name, section=item.section, score=round(score, 4),
                          max_score=item.points if status != "skipped" else 0.0, status=status,
                          visibility=item.visibility, feedback=tuple(feedback), outcomes=matched,
                          hints=tuple(dict.fromkeys(o.hint for o in matched if o.hint and o.status != "passed")))

    if not matched and item.optional:
        return result(0.0, "skipped", ["not run"])
    if not matched:
        return result(0.0, "failed", ["this check did not run (its tests could not be collected)"])
    counted = [o for o in matched if o.status != "skipped"]
    if not counted:
        reasons = sorted({o.message for o in matched if o.message})
        return result(0.0, "skipped", reasons or ["skipped"])
    feedback = [o.message for o in counted if o.status != "passed" and o.message]
    feedback = list(dict.fromkeys(feedback))  # the same reason from several cases once
    if item.curve:
        value = curve_value(item, counted)
        if value is None:
            return result(0.0, "failed", feedback or [f"no {item.measure} was measured"])
        zero, full = item.curve
        frac = min(1.0, max(0.0, (value - zero) / (full - zero)))
        note = f"{item.measure} {value:.4f}: full credit at {full:.4f}, none at or below {zero:.4f}"
        # What the test measured to explain a value short of full credit (the call, losses, hints).
        details = [str(line) for o in counted for line in _lines(o.prop("feedback"))]
        return result(item.points * frac, _status(frac), feedback + [note] + details if frac < 1 else [note])
    passed = sum(1 for o in counted if o.status == "passed")
    frac = passed / len(counted) if item.partial else float(passed == len(counted))
    if frac < 1 and len(counted) > 1:
        feedback.insert(0, f"{passed} of {len(counted)} cases passed")
    return result(item.points * frac, _status(frac), feedback)


def _lines(value) -> list:
    return [] if value is None else list(value) if isinstance(value, (list, tuple)) else [value]


def _status(frac: float) -> str:
    return "passed" if frac >= 1 else "failed" if frac <= 0 else "partial"
