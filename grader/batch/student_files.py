"""Each student's files in a batch's output folder: results.json, feedback.txt and feedback.html."""

from __future__ import annotations

import dataclasses
import json
import re
from io import StringIO
from pathlib import Path

from grader.batch.verdicts import not_reached
from grader.classrun import Graded
from grader.files import write_atomic, write_json
from grader.report.gradescope import to_results_json
from grader.results import GradeResult


def feedback_text(result: GradeResult) -> str:
    """The terminal report as plain text, as a student may see it (hidden checks left out)."""
    from rich.console import Console

    from grader.report.terminal import render

    buf = StringIO()
    render(result, Console(file=buf, width=100, color_system=None, force_terminal=False), show_hidden=False)
    return buf.getvalue()


def student_cells(path: Path) -> tuple[tuple[str, str], ...]:
    """(cell type, source) of the notebook or .py file handed in, for the feedback page; () if unreadable."""
    from grader.load.submission import MAX_SUBMISSION_BYTES, pick_from_folder

    try:
        p = pick_from_folder(path) if path.is_dir() else path
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
