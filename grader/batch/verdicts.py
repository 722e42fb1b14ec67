"""What a submission earns when its grading crashed or was stopped: from the rubric and what was saved."""

from __future__ import annotations

import dataclasses

from grader.classrun import StudentSubmission
from grader.results import GradeResult, ItemResult, Outcome
from grader.rubric import Rubric, score_items

NOT_REACHED = "not reached"


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
