"""grades.csv for the TA, and the LMS's own gradebook export filled in so that the LMS imports it as is."""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from pathlib import Path

from grader.classrun import BatchRun, Graded
from grader.errors import UsageError
from grader.files import write_atomic
from grader.inert import csv_cell
from grader.report.common import number, section_points, sections_of, students
from grader.rubric import score_items

BOM = "\ufeff"


def ran(run: BatchRun) -> list:
    """The rubric's items (numbered, as results show them) that ran for at least one submission: an
    optional section that ran nowhere (the GPU one on CPUs) is no column of zeros."""
    done = {(i.number, i.name) for g in run.graded if g.result for i in g.result.items if i.status != "skipped"}
    return [i for i in score_items(run.rubric, ()) if (i.number, i.name) in done]


def write_grades_csv(run: BatchRun, path: str | Path, people: dict[str, tuple[str, str]] | None = None) -> None:
    """One row per student: totals, points per section, then per item. people: id -> (name, email)
    from the LMS's gradebook, which knows students by name where an export gives logins."""
    items = ran(run)
    sections = [s for s in sections_of(run) if any(i.section == s for i in items)]
    people = {k.lower(): v for k, v in (people or {}).items()}
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["student_id", "name", "email", "submission", "score", "max_score", "percent", "status", "late",
                *map(csv_cell, sections), *(csv_cell(f"{i.number} {i.name}") for i in items)])
    for student, g in students(run):
        r = g.result
        if r is None:  # needs regrade: no number at all, never a silent 0
            scores = ["", "", ""] + [""] * (len(sections) + len(items))
        else:
            pct = 100 * r.score / r.max_score if r.max_score else 0.0
            earned = {(i.number, i.name): i for i in r.items}
            scores = [number(r.score), number(r.max_score), number(pct)] + [number(section_points(g, s)) for s in sections]
            scores += [_item_points(earned.get((i.number, i.name))) for i in items]
        name, email = people.get(student.id.lower(), (student.name, student.email))
        # Every text cell a student can influence is inert; the scores are numbers the grader wrote.
        texts = (student.id, name or student.name, email or student.email, g.submission.key)
        w.writerow([*map(csv_cell, texts), *scores[:3], csv_cell(g.status),
                    "yes" if g.submission.late else "", *scores[3:]])
    write_atomic(path, buf.getvalue())


def _item_points(item) -> str:
    return "" if item is None or item.status == "skipped" else number(item.score)


def lms_people(canvas: str | Path | None = None, moodle: str | Path | None = None) -> dict[str, tuple[str, str]]:
    """id -> (name, email) from a Canvas gradebook ("Smith, Alice" by ID, SIS ids) or a Moodle worksheet."""
    out: dict[str, tuple[str, str]] = {}
    if canvas:
        rows = _read(canvas)[0]
        header = rows[0]
        ids = [header.index(h) for h in ("ID", "SIS User ID", "SIS Login ID") if h in header]
        for row in rows[1:]:
            if "Student" in header and "ID" in header and _cell(row, header.index("ID")).strip().isdigit():
                for c in ids:
                    if _cell(row, c).strip():
                        out[_cell(row, c).strip()] = (_cell(row, header.index("Student")).strip(), "")
    if moodle:
        rows = _read(moodle)[0]
        header = rows[0]
        col = {h: header.index(h) for h in ("Identifier", "Full name", "Email address") if h in header}
        for row in rows[1:]:
            m = re.search(r"(\d+)\s*$", _cell(row, col.get("Identifier", -1)))
            if m:
                out[m.group(1)] = (_cell(row, col.get("Full name", -1)).strip(), _cell(row, col.get("Email address", -1)).strip())
    return out


@dataclass(frozen=True)
class Filled:
    """What filling an LMS gradebook did."""

    path: Path
    column: str
    filled: int
    scaled_to: float | None  # the LMS's maximum, when it differs from the rubric's
    not_in_gradebook: tuple[str, ...]  # graded students the gradebook does not list
    left_blank: tuple[str, ...]  # students listed there whose submission needs a regrade
    no_submission: tuple[str, ...] = ()  # students listed there with no submission in this run: left as they were


def _read(path: str | Path) -> tuple[list[list[str]], bool]:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"{path}: cannot read the gradebook ({exc})") from None
    rows = list(csv.reader(io.StringIO(text.removeprefix(BOM), newline="")))
    if not rows:
        raise UsageError(f"{path}: the gradebook is empty")
    return rows, text.startswith(BOM)


def _write(rows: list[list[str]], path: Path, bom: bool) -> None:
    # The LMS's own cells are written back inert too (a display name a student chose can be a formula);
    # plain numbers, the scores among them, stay numbers.
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\r\n").writerows([csv_cell(c) for c in row] for row in rows)
    write_atomic(path, (BOM if bom else "") + buf.getvalue())


def _float(text: str) -> float | None:
    try:
        return float(text.strip())
    except ValueError:
        return None


def _scores(run: BatchRun) -> dict[str, Graded]:
    out: dict[str, Graded] = {}
    for student, g in students(run):
        for ident in (student.id, student.email):
            if ident:
                out.setdefault(ident.strip().lower(), g)
    return out


def _value(g: Graded, maximum: float | None) -> str | None:
    if g.result is None:
        return None
    score = g.result.score
    if maximum is not None and g.result.max_score and maximum != g.result.max_score:
        score = score * maximum / g.result.max_score
    return number(score)


def _fill(rows: list[list[str]], col: int, keys_of, maximum: float | None, run: BatchRun) -> tuple[int, list, tuple]:
    """Put each matched student's score into column col of their row; other cells stay as they were."""
    by_id = _scores(run)
    seen: set[int] = set()
    filled, blank, absent = 0, [], []
    for row in rows[1:]:
        keys = [k.strip().lower() for k in keys_of(row)]
        g = next((by_id[k] for k in keys if k and k in by_id), None)
        if g is None:
            if any(keys):
                absent.append(next(k for k in keys if k))
            continue
        seen.add(id(g))
        value = _value(g, maximum)
        if value is None:
            blank.append(keys[0])
            continue
        row.extend([""] * (col + 1 - len(row)))
        row[col] = value
        filled += 1
    missing = tuple(s.id for s, g in students(run) if id(g) not in seen)
    return filled, blank, missing, tuple(absent)


def _filled(out, header, col, maximum, run, result) -> Filled:
    filled, blank, missing, absent = result
    scaled = maximum if maximum is not None and any(
        g.result and g.result.max_score != maximum for g in run.graded) else None
    return Filled(Path(out), header[col], filled, scaled, missing, tuple(blank), absent)


def _cell(row: list[str], col: int) -> str:
    return row[col] if 0 <= col < len(row) else ""


def fill_canvas(gradebook: str | Path, out: str | Path, run: BatchRun, column: str | None = None) -> Filled:
    """Canvas: "Student","ID","SIS User ID","SIS Login ID","Section", then "Title (id)" columns; a
    "Points Possible" row under the header. Students match on ID (the user id in the submission
    file names), SIS User ID or SIS Login ID."""
    rows, bom = _read(gradebook)
    header = rows[0]
    col = canvas_column(gradebook, run.rubric, column)
    points_row = next((r for r in rows[1:] if _cell(r, 0).strip() == "Points Possible"), None)
    maximum = _float(_cell(points_row, col)) if points_row else None
    id_cols = [header.index(h) for h in ("ID", "SIS User ID", "SIS Login ID") if h in header]
    ident = header.index("ID")

    def keys_of(row):  # only student rows carry a numeric ID ("Points Possible" and the like do not)
        return [_cell(row, c) for c in id_cols] if _cell(row, ident).strip().isdigit() else []

    result = _fill(rows, col, keys_of, maximum, run)
    _write(rows, Path(out), bom)
    return _filled(out, header, col, maximum, run, result)


def canvas_column(gradebook: str | Path, rubric, column: str | None = None) -> int:
    """The index of the column to fill: --lms-column, else the one named like the assignment."""
    header = _read(gradebook)[0][0]
    if "ID" not in header:
        raise UsageError(f"{gradebook}: not a Canvas gradebook export (no 'ID' column)")
    return _column(header, column or rubric.title, gradebook, also=None if column else rubric.assignment)


def fill_moodle(worksheet: str | Path, out: str | Path, run: BatchRun) -> Filled:
    """Moodle's grading worksheet: "Identifier" ("Participant 12345"), "Full name", "Email address",
    "Status", "Grade", "Maximum Grade", ...; the participant number is the one in the download."""
    rows, bom = _read(worksheet)
    header = rows[0]
    for needed in ("Identifier", "Grade"):
        if needed not in header:
            raise UsageError(f"{worksheet}: not a Moodle grading worksheet (no {needed!r} column)")
    ident, col = header.index("Identifier"), header.index("Grade")
    email = header.index("Email address") if "Email address" in header else -1
    maxima = {_float(_cell(r, header.index("Maximum Grade"))) for r in rows[1:]} if "Maximum Grade" in header else set()
    maximum = maxima.pop() if len(maxima) == 1 else None

    def keys_of(row):  # "Participant 12345" -> "12345"
        m = re.search(r"(\d+)\s*$", _cell(row, ident))
        return [m.group(1) if m else "", _cell(row, email)]

    result = _fill(rows, col, keys_of, maximum, run)
    _write(rows, Path(out), bom)
    return _filled(out, header, col, maximum, run, result)


def _column(header: list[str], want: str, path, also: str | None) -> int:
    """The column named `want`: exactly, then by prefix, ignoring Canvas's " (12345)" suffix and case."""
    def bare(h: str) -> str:
        return re.sub(r"\s*\(\d+\)\s*$", "", h).strip().lower()

    names = [w.strip().lower() for w in (want, also) if w]
    for test in (lambda h, w: bare(h) == w, lambda h, w: h.strip().lower().startswith(w)):
        hits = [i for i, h in enumerate(header) if i >= 5 and any(test(h, w) for w in names)]
        if len(hits) == 1:
            return hits[0]
        if len(hits) > 1:
            raise UsageError(f"{path}: several columns match {want!r}: "
                             f"{', '.join(header[i] for i in hits)}; pick one with --lms-column")
    raise UsageError(f"{path}: no column for {want!r}; the assignment columns are: "
                     f"{', '.join(header[5:]) or 'none'}; pick one with --lms-column")
