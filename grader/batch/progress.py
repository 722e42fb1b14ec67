"""The batch's live terminal lines: the progress bar, who is running, who is slow, each result as it comes."""

from __future__ import annotations

import statistics
import time

from grader.report.terminal import escape
from grader.results import GradeResult

SLOW_FACTOR, SLOW_MIN_S = 4.0, 10.0  # a submission running this much longer than the median is announced


def progress_bar(console, total: int):
    """(a rich Progress, its task): graded, failed and remaining counts, elapsed time, ETA, who is running."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        SpinnerColumn,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    progress = Progress(
        SpinnerColumn(), TextColumn("grading"), BarColumn(), MofNCompleteColumn(),
        TextColumn("[green]{task.fields[graded]} graded[/] [red]{task.fields[failed]} failed[/] "
                   "{task.fields[remaining]} remaining"),
        TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(), TextColumn("{task.fields[running]}"),
        console=console, transient=False)
    return progress, progress.add_task("grading", total=total, graded=0, failed=0, remaining=total, running="")


def running_text(running, most: int = 3) -> str:
    """The longest-running submissions with their time so far: a hang shows who it is."""
    now = time.monotonic()
    longest = sorted(running, key=lambda c: c.started)
    shown = ", ".join(f"{escape(c.sub.key)} {now - c.started:.0f}s" for c in longest[:most])
    more = f" +{len(longest) - most}" if len(longest) > most else ""
    return f"[dim]running:[/] {shown}{more}" if longest else ""


def warn_slow(durations: list[float], timeout: float, running, progress) -> None:
    """One line for a submission running far longer than the median of those finished so far."""
    if len(durations) < 3:
        return
    median = statistics.median(durations)
    now = time.monotonic()
    for child in running:
        elapsed = now - child.started
        if not child.warned and elapsed > max(SLOW_MIN_S, SLOW_FACTOR * median):
            child.warned = True
            progress.console.print(
                f"[yellow]![/] {escape(child.sub.key)} has been running for {elapsed:.0f} s, over "
                f"{elapsed / max(median, 0.1):.0f}x the median ({median:.1f} s); it is stopped at "
                f"{timeout:.0f} s (--timeout)", highlight=False)


def retry_line(console, key: str, message: str) -> None:
    """An infrastructure failure that is tried again."""
    console.print(f"[yellow]![/] {escape(key)}: infrastructure failure, trying again ({escape(message)})")


def result_line(console, key: str, status: str, result: GradeResult | None, message: str, seconds: float) -> None:
    """One line per recorded submission; the key comes from an archive or a folder: data, never markup."""
    name = escape(key)
    if result is not None and status in ("graded", "unreadable"):
        pct = 100 * result.score / result.max_score if result.max_score else 0.0
        note = "  [yellow](could not be read)[/]" if status == "unreadable" else ""
        console.print(f"[green]✓[/] {name}  {round(result.score, 2):g}/{result.max_score:g} ({pct:.0f}%)  "
                      f"{seconds:.1f} s{note}", highlight=False)
    elif result is not None and status == "timeout":
        console.print(f"[red]✗[/] {name}  {round(result.score, 2):g}/{result.max_score:g}  "
                      f"timeout: {escape(message)}", highlight=False)
    else:
        console.print(f"[red]✗[/] {name}  {status}: {escape(message)}", highlight=False)
