"""Render a GradeResult in the terminal with rich: a table per section, reasons, total, isolation."""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape as _escape
from rich.table import Table

from grader.inert import clean
from grader.results import GradeResult, Isolation

STATUS = {"passed": "[green]passed[/]", "partial": "[yellow]partial[/]", "failed": "[red]failed[/]",
          "skipped": "[dim]skipped[/]"}


def escape(text: str) -> str:
    """Text for a rich markup string: inert (no control characters) and never markup itself."""
    return _escape(clean(text))


def _points(x: float) -> str:
    return f"{x:g}" if x == int(x) else f"{x:.2f}"


def render(result: GradeResult, console: Console | None = None, *, show_hidden: bool = True) -> None:
    """Print the result; show_hidden=False leaves out what students must not see yet."""
    console = console or Console()
    console.print(f"[bold]{escape(result.title)}[/]  {escape(result.submission)}")
    if result.error:
        console.print(f"[red bold]Not graded:[/] {escape(result.error)}")
    for note in result.notes:
        console.print(f"[yellow]note:[/] {escape(note)}")
    hidden = 0
    for section in result.sections:
        items = [i for i in result.items if i.section == section]
        table = Table(title=escape(section), title_justify="left", expand=True, show_lines=False)
        table.add_column("#", width=5, no_wrap=True)
        table.add_column("check", ratio=2)
        table.add_column("points", justify="right", width=11, no_wrap=True)
        table.add_column("status", width=8, no_wrap=True)
        table.add_column("why", ratio=4)
        shown = 0
        for item in items:
            if item.visibility != "visible" and not show_hidden:
                hidden += 1
                continue
            shown += 1
            points = "-" if item.status == "skipped" else f"{_points(item.score)}/{_points(item.max_score)}"
            why = "\n".join(escape(f) for f in item.feedback[:3])
            if len(item.feedback) > 3:
                why += f"\n(+{len(item.feedback) - 3} more)"
            table.add_row(escape(item.number), escape(item.name), points, STATUS.get(item.status, item.status), why)
        if shown:
            console.print(table)
    if hidden:
        console.print(f"{hidden} hidden check(s) are not shown; they count toward the final grade.")
    pct = 100 * result.score / result.max_score if result.max_score else 0.0
    console.print(f"[bold]Total: {_points(result.score)} / {_points(result.max_score)}  ({pct:.1f}%)[/]")
    style = "green" if result.isolation_level == Isolation.FULL else "bold red"
    console.print(f"Isolation: [{style}]{escape(result.isolation)}[/]")
    console.print(f"[dim]Graded in {result.duration_s:.1f} s; "
                  + escape(", ".join(f"{k} {v}" for k, v in result.environment)) + "[/]")
