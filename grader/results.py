"""Typed, immutable results that flow from suites to rubric to reporters."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Literal

OutcomeStatus = Literal["passed", "failed", "skipped", "error"]
ItemStatus = Literal["passed", "partial", "failed", "skipped"]


class Isolation(str, Enum):
    """How a submission was isolated; `GradeResult.isolation` says it in words for people."""

    FULL = "full"  # bubblewrap namespaces (and an unprivileged uid when the grader is root)
    REDUCED = "reduced"  # a plain subprocess with rlimits (an unprivileged uid where possible)
    AS_ROOT = "as root"  # a plain subprocess that could not drop root: anything was possible
    NONE = ""  # nothing ran (unreadable, or not graded)


@dataclass(frozen=True)
class Outcome:
    """What one pytest test said: status, a student-readable message, and recorded properties."""

    nodeid: str
    status: OutcomeStatus
    message: str = ""
    duration: float = 0.0
    properties: tuple[tuple[str, object], ...] = ()
    hint: str = ""  # a mistake the check recognised (grader text, never the student's)

    def prop(self, key: str, default=None):
        for k, v in self.properties:
            if k == key:
                return v
        return default


@dataclass(frozen=True)
class ItemResult:
    """One rubric item, scored."""

    number: str
    name: str
    section: str
    score: float
    max_score: float
    status: ItemStatus
    visibility: str
    feedback: tuple[str, ...] = ()
    outcomes: tuple[Outcome, ...] = ()
    hints: tuple[str, ...] = ()  # recognised mistakes, from the outcomes' hint fields


@dataclass(frozen=True)
class GradeResult:
    """A whole submission, scored: what every reporter renders."""

    assignment: str
    title: str
    submission: str
    score: float
    max_score: float
    items: tuple[ItemResult, ...]
    isolation: str
    notes: tuple[str, ...] = ()  # loader and start-up notes, shown to the student
    error: str | None = None  # the submission could not be graded at all (unreadable)
    sha256: str = ""
    duration_s: float = 0.0
    environment: tuple[tuple[str, str], ...] = ()
    staff_output: str = ""  # what the submission printed: for instructors only
    # What it printed while loading and in visible tests, redacted and bounded: for the student.
    student_output: tuple[str, ...] = ()
    timings: tuple[tuple[str, float], ...] = field(default=())  # phase -> seconds
    worker_peak_mb: float = 0.0
    isolation_level: Isolation = Isolation.NONE
    time_limit_reached: bool = False  # the total time limit stopped grading; later checks were not run

    @property
    def sections(self) -> tuple[str, ...]:
        seen: list[str] = []
        for item in self.items:
            if item.section not in seen:
                seen.append(item.section)
        return tuple(seen)
