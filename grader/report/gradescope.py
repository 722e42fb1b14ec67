"""Render a GradeResult as Gradescope's results.json (shared/docs/gradescope-results.md)."""

from __future__ import annotations

import traceback

from grader.inert import clean
from grader.results import GradeResult

OUTPUT_CAP = 8000


def to_results_json(result: GradeResult) -> dict:
    tests = []
    for item in result.items:
        if item.status == "skipped":
            continue  # a skipped section counts toward neither score nor maximum
        tests.append({
            "name": item.name,
            "number": item.number,
            "score": item.score,
            "max_score": item.max_score,
            "status": "passed" if item.score >= item.max_score else "failed",
            "output": clean("\n".join(item.feedback)[:OUTPUT_CAP]),
            "output_format": "text",
            "tags": [item.section],
            "visibility": item.visibility,
        })
    hidden = sum(1 for t in tests if t["visibility"] != "visible")
    lines = []
    if result.error:
        lines.append(f"Your submission could not be graded: {result.error}")
    lines += [f"Note: {n}" for n in result.notes]
    if hidden:
        lines.append(f"{hidden} check(s) are hidden until later; they count toward your final score.")
    skipped = [i for i in result.items if i.status == "skipped"]
    if skipped:
        reason = skipped[0].feedback[0] if skipped[0].feedback else "skipped"
        lines.append(f"{len(skipped)} optional check(s) were not run ({reason}); they count toward "
                     "neither the score nor the maximum.")
    if result.student_output:
        lines += ["", "What your code printed (while loading and in the visible checks):"]
        lines += ["  " + line for line in result.student_output]
    return {
        "score": result.score,
        "execution_time": round(result.duration_s, 2),
        "output": clean("\n".join(lines)[:OUTPUT_CAP]),
        "output_format": "text",
        "stdout_visibility": "hidden",
        "tests": tests,
        "extra_data": {"assignment": result.assignment, "max_score": result.max_score,
                       "sha256": result.sha256, "environment": dict(result.environment),
                       "isolation": result.isolation,
                       "timings": dict(result.timings), "worker_peak_mb": round(result.worker_peak_mb, 1),
                       "test_seconds": {o.nodeid: round(o.duration, 3) for i in result.items
                                        for o in i.outcomes}},
    }


def error_results_json(message: str, exc: BaseException | None = None) -> dict:
    """What a student sees when the grader itself failed: score 0 and a visible 'grader error'."""
    staff = "".join(traceback.format_exception(exc)) if exc else ""
    return {
        "score": 0,
        "output": "The autograder failed while grading this submission. This is not your fault; "
                  "your instructors have been given the details. Please resubmit later or contact them.",
        "stdout_visibility": "hidden",
        "tests": [{"name": "grader error", "score": 0, "max_score": 0, "status": "failed",
                   "output": clean(message[:OUTPUT_CAP]), "visibility": "visible"}],
        "extra_data": {"grader_error": message[:OUTPUT_CAP], "traceback": staff[-OUTPUT_CAP:]},
    }
