"""Render a GradeResult for a terminal of 80 columns and up: the total and sections first, then one line per check with the why of each failure wrapped beneath."""

from __future__ import annotations

import re
import textwrap

from rich.console import Console
from rich.markup import escape as _escape
from rich.text import Text

from grader.inert import clean as _clean
from grader.results import GradeResult, Isolation, ItemResult

MARKS = {"passed": ("✓", "green"), "partial": ("~", "yellow"), "failed": ("✗", "red"), "skipped": ("-", "dim")}
ASCII_MARKS = {"passed": "+", "partial": "~", "failed": "x", "skipped": "-"}
WHY_LINES = 4  # feedback lines shown per check unless verbose
NAME_INDENT = 4  # a name too long for its row gets a line of its own, indented this much


def _points(x: float) -> str:
    return f"{x:.2f}".rstrip("0").rstrip(".")


def escape(text: str) -> str:
    """Text for a rich markup string: inert (no control characters) and never markup itself."""
    return _escape(_clean(text))


def _wrap(text: str, width: int, indent: int) -> list[str]:
    """Wrapped at spaces only (never inside a word or a name), each line indented."""
    room = max(20, width - indent)
    text = _KEEP_TOGETHER.sub("\\1\xa0\\2", _clean(text))
    lines = textwrap.wrap(text, room, break_long_words=False, break_on_hyphens=False) or [""]
    return [" " * indent + line.replace("\xa0", " ") for line in lines]


_KEEP_TOGETHER = re.compile(r"\b(cell|line) (\d)")  # "line 3" is never split over two lines


class _Layout:
    """Column widths shared by every item row, from the widest points and number."""

    def __init__(self, items: list[ItemResult], width: int):
        self.width = width
        self.points = max([len(_item_points(i)) for i in items] + [3])
        self.number = max([len(i.number) for i in items] + [1])
        self.name_at = 1 + 1 + 1 + self.points + 2 + self.number + 2
        # The why sits under the name, unless that leaves it too little room.
        self.why_at = self.name_at if width - self.name_at >= 50 else 6


def _item_points(item: ItemResult) -> str:
    return "-" if item.status == "skipped" else f"{_points(item.score)}/{_points(item.max_score)}"


def render(result: GradeResult, console: Console | None = None, *, show_hidden: bool = True,
           verbose: bool = False, quiet: bool = False, staff: bool = False) -> None:
    """Print the result. show_hidden=False leaves out what students must not see yet; quiet lists only
    the checks that lost points; verbose shows every line of feedback; staff adds the isolation, the
    timings and everything the submission printed."""
    console = console or Console(highlight=False)
    for line in lines(result, width=console.width, show_hidden=show_hidden, verbose=verbose, quiet=quiet,
                      staff=staff, unicode=(console.encoding or "").lower().startswith("utf")):
        console.print(line, soft_wrap=True)


def lines(result: GradeResult, *, width: int = 80, show_hidden: bool = True, verbose: bool = False,
          quiet: bool = False, staff: bool = False, unicode: bool = True) -> list[Text]:
    """The report as styled lines no wider than `width` (but for one word longer than a line)."""
    shown = [i for i in result.items if show_hidden or i.visibility == "visible"]
    hidden = len(result.items) - len(shown)
    out: list[Text] = [Text(_clean(result.title), style="bold"), Text(_clean(result.submission)), Text("")]
    if result.error:
        out += [Text(line, style="bold red") for line in _wrap(f"Not graded: {result.error}", width, 0)]
        out.append(Text(""))
    out += _summary(result, shown, width)
    if result.notes:
        out += [Text(""), Text("Notes", style="bold")]
        for note in result.notes:
            wrapped = _wrap(note, width, 4)
            out += [Text("  * " + wrapped[0][4:])] + [Text(w) for w in wrapped[1:]]
    layout = _Layout(shown, width)
    for section in result.sections:
        items = [i for i in shown if i.section == section]
        listed = [i for i in items if not quiet or i.status in ("failed", "partial")]
        if not listed:
            continue
        out += [Text("")] + [_heading(section, items, width)]
        skipped = {f for i in items if i.status == "skipped" for f in i.feedback[:1]}
        for item in listed:
            out += _item(item, layout, verbose=verbose, unicode=unicode, why=item.status != "skipped")
        if skipped and all(i.status == "skipped" for i in items):
            out += [Text(w, style="dim") for w in _wrap(f"not run: {'; '.join(sorted(skipped))}", width, 2)]
    if hidden:
        out += [Text(""), Text(f"{hidden} hidden check(s) are not shown; they count toward the final grade.")]
    if result.student_output:
        out += [Text(""), Text("What your code printed (while loading and in the visible checks)", style="bold")]
        for line in result.student_output:  # wrapped anywhere: a printed line is not a name
            out += [Text("  " + w) for w in textwrap.wrap(_clean(line), max(20, width - 2)) or [""]]
    if staff:
        out += _staff(result, width)
    return out


def _summary(result: GradeResult, shown: list[ItemResult], width: int) -> list[Text]:
    pct = 100 * result.score / result.max_score if result.max_score else 0.0
    out = [Text(f"Total: {_points(result.score)} / {_points(result.max_score)}  ({pct:.1f}%)", style="bold")]
    name_width = min(max(len(s) for s in result.sections) if result.sections else 0, width - 30)
    for section in result.sections:
        items = [i for i in result.items if i.section == section]
        got, most = sum(i.score for i in items), sum(i.max_score for i in items)
        if all(i.status == "skipped" for i in items):
            reasons = sorted({f for i in items for f in i.feedback[:1]})
            points, status = "not run", f": {'; '.join(reasons)}" if reasons else ""
        else:
            points = f"{_points(got):>6} / {_points(most):<4}"
            lost = sum(1 for i in items if i.status in ("failed", "partial") and i in shown)
            status = f"  {lost} check(s) lost points" if lost else ""
        label = section if len(section) <= name_width else section[:name_width]
        out.append(Text(_clean(f"  {label:<{name_width}}  {points}{status}").rstrip()))
    return out


def _heading(section: str, items: list[ItemResult], width: int) -> Text:
    if all(i.status == "skipped" for i in items):
        return Text(section, style="bold")
    total = f"{_points(sum(i.score for i in items))} / {_points(sum(i.max_score for i in items))}"
    gap = max(2, width - len(section) - len(total))
    return Text(section + " " * gap + total, style="bold")


def _item(item: ItemResult, layout: _Layout, *, verbose: bool, unicode: bool, why: bool) -> list[Text]:
    mark, style = MARKS.get(item.status, ("?", ""))
    if not unicode:
        mark = ASCII_MARKS.get(item.status, "?")
    row = Text(" ")
    row.append(mark, style=style)
    row.append(f" {_item_points(item):>{layout.points}}  {item.number:<{layout.number}}  ")
    out = [row]
    if len(item.name) <= layout.width - layout.name_at:
        row.append(item.name)
    else:  # its own line, whole: a name is never cut
        indent = max(0, min(NAME_INDENT, layout.width - len(item.name)))
        out += [Text(w) for w in _wrap(item.name, layout.width, indent)]
    row.rstrip()
    if why and item.status != "passed":
        feedback = item.feedback if verbose else item.feedback[:WHY_LINES]
        for f in feedback:
            style = "dim" if item.status == "skipped" else ""
            out += [Text(w, style=style) for w in _wrap(f, layout.width, layout.why_at)]
        if len(item.feedback) > len(feedback):
            more = f"(+{len(item.feedback) - len(feedback)} more; --verbose shows them)"
            out += [Text(w, style="dim") for w in _wrap(more, layout.width, layout.why_at)]
    return out


def _staff(result: GradeResult, width: int) -> list[Text]:
    """What only staff see: isolation, environment, timings, and all the submission printed."""
    out = [Text(""), Text("Staff", style="bold")]
    style = "green" if result.isolation_level == Isolation.FULL else "bold red"
    out += [Text(w, style=style) for w in _wrap(f"Isolation: {result.isolation}", width, 2)]
    env = ", ".join(f"{k} {v}" for k, v in result.environment)
    out += [Text(w) for w in _wrap(f"Graded in {result.duration_s:.1f} s; {env}", width, 2)]
    for phase, seconds in result.timings:
        out.append(Text(f"    {seconds:7.2f} s  {phase}"))
    if result.staff_output.strip():
        out += [Text(""), Text("Everything the submission printed (instructors only):", style="bold")]
        out += [Text(_clean(line)) for line in result.staff_output.rstrip().split("\n")]
    return out
