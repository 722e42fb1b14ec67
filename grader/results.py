"""Typed, immutable results that flow from suites to rubric to reporters."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Outcome:
    """What one pytest test said: status, a student-readable message, and recorded properties."""

    nodeid: str
    status: str  # "passed" | "failed" | "skipped" | "error"
    message: str = ""
    duration: float = 0.0
    properties: tuple[tuple[str, object], ...] = ()

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
    status: str  # "passed" | "partial" | "failed" | "skipped"
    visibility: str
    feedback: tuple[str, ...] = ()
    outcomes: tuple[Outcome, ...] = ()


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

    @property
    def sections(self) -> tuple[str, ...]:
        seen: list[str] = []
        for item in self.items:
            if item.section not in seen:
                seen.append(item.section)
        return tuple(seen)
