"""What several reporters render alike: numbers as an LMS reads them back, sections, one row per student."""

from __future__ import annotations

from grader.classrun import BatchRun, Graded


def number(x: float) -> str:
    """5, 3.5, 2.33: what a spreadsheet and an LMS import read back exactly."""
    return f"{x:.2f}".rstrip("0").rstrip(".")


def sections_of(run: BatchRun) -> list[str]:
    return list(dict.fromkeys(i.section for i in run.rubric.items))


def section_points(g: Graded, section: str) -> float:
    return sum(i.score for i in g.result.items if i.section == section) if g.result else 0.0


def students(run: BatchRun):
    """(student, graded) per student, sorted by id: a group submission gives each member a row."""
    pairs = [(s, g) for g in run.graded for s in g.submission.students]
    return sorted(pairs, key=lambda p: (p[0].id, p[0].name, p[1].submission.key))
