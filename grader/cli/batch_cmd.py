"""`grade batch`: grade a whole class from a folder or an LMS export; arguments in, the library does the work."""

from __future__ import annotations

import argparse
import signal
from pathlib import Path

from grader.cli.common import Exit, add_rubric_args, rubric_from, run_command


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="grade batch", description="Grade a whole class in parallel; a rerun finishes what a killed run left.",
        epilog="SOURCE: a folder (one .ipynb/.py or one subfolder per student), or the zip of a Gradescope "
               "'Export Submissions', a Canvas 'Download Submissions' or a Moodle 'Download all submissions'.")
    p.add_argument("source", help="folder or zip of submissions")
    p.add_argument("--out", "-o", required=True, help="output folder: grades.csv, report.html, one folder per student")
    p.add_argument("--jobs", "-j", type=int, default=0, help="submissions graded at once (default: one per CPU core)")
    add_rubric_args(p)
    p.add_argument("--data-dir", help="folder holding MNIST/raw (default: $GRADER_DATA_DIR, then ~/.cache/mlgrader)")
    p.add_argument("--canvas-gradebook", metavar="CSV", help="Canvas gradebook export to fill in (writes canvas_import.csv)")
    p.add_argument("--moodle-grades", metavar="CSV", help="Moodle grading worksheet to fill in (writes moodle_import.csv)")
    p.add_argument("--lms-column", help="the Canvas column to fill (default: the one starting with the assignment title)")
    p.add_argument("--isolation", choices=("auto", "bwrap", "none"), default="auto")
    p.add_argument("--timeout", type=float, default=0, help="seconds per submission before it is stopped (default: from the rubric)")
    return p


def command(argv: list[str]) -> int:
    args = parser().parse_args(argv)

    def go() -> int:
        from rich.console import Console

        from grader.batch.engine import BatchOptions, grade_class
        from grader.batch.source import open_source
        from grader.classrun import NEEDS_REGRADE
        from grader.errors import UsageError
        from grader.load.mnist import find_data_dir
        from grader.report.gradebook import (
            canvas_column,
            fill_canvas,
            fill_moodle,
            write_grades_csv,
        )
        from grader.report.html import write_report
        from grader.report.terminal import escape

        console = Console(highlight=False)
        rubric = rubric_from(args, graded=args.source)
        for f in (args.canvas_gradebook, args.moodle_grades):
            if f and not Path(f).is_file():
                raise UsageError(f"{f}: no such file")
        if args.canvas_gradebook:  # a wrong column is found now, not after an hour of grading
            canvas_column(args.canvas_gradebook, rubric, args.lms_column)
        data_dir = str(find_data_dir(args.data_dir)) if rubric.needs_mnist else args.data_dir
        out = Path(args.out)
        with _exclusive(out):
            source = open_source(args.source, _fresh(out / ".work" / "source"), exclude=out)
            for r in source.refused:
                console.print(f"[yellow]refused[/] {escape(r.entry)}: {escape(r.reason)}", markup=True)
            if not source.submissions:
                raise UsageError(f"{args.source}: no submissions found")
            console.print(f"{escape(str(args.source))}: {source.kind} source, {len(source.submissions)} submission(s)",
                          soft_wrap=True)  # a long path is not broken over lines
            options = BatchOptions(jobs=args.jobs, data_dir=data_dir, isolation=args.isolation, timeout_s=args.timeout)
            run = grade_class(source, out, rubric, options, console=console)
            if run.interrupted:
                console.print(f"interrupted: {run.graded_now} graded by this run are kept in {out / 'journal.jsonl'}; "
                              "run the same command again to finish the rest", markup=False)
                return Exit.INTERRUPTED
            write_grades_csv(run, out / "grades.csv")
            write_report(run, out / "report.html")
            fills = []
            if args.canvas_gradebook:
                fills.append(fill_canvas(args.canvas_gradebook, out / "canvas_import.csv", run, args.lms_column))
            if args.moodle_grades:
                fills.append(fill_moodle(args.moodle_grades, out / "moodle_import.csv", run))
            _fresh(out / ".work")
        for f in fills:
            scaled = f" (scaled to {f.scaled_to:g} points)" if f.scaled_to is not None else ""
            console.print(f"{f.path}: column {f.column!r} filled for {f.filled} student(s){scaled}", markup=False)
            if f.not_in_gradebook:
                console.print(f"  [yellow]not in the gradebook:[/] {escape(', '.join(f.not_in_gradebook))}")
            if f.left_blank:
                console.print(f"  [yellow]left blank (needs regrade):[/] {escape(', '.join(f.left_blank))}")
        regrade = [g.submission.key for g in run.graded if g.status == NEEDS_REGRADE]
        rate = 60 * run.graded_now / run.seconds if run.seconds and run.graded_now else 0.0
        console.print(f"wrote {out / 'grades.csv'} and {out / 'report.html'}; graded {run.graded_now} in "
                      f"{run.seconds:.0f} s ({rate:.1f} per minute)", markup=False)
        if regrade:
            console.print(f"[red]needs regrade[/] (the grader could not run; not a score): {escape(', '.join(regrade))}; "
                          "fix the cause and run the same command again")
            return Exit.INFRASTRUCTURE
        return Exit.OK

    # `kill` stops the run like Ctrl-C: children stopped, journal kept.
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        return run_command(go)
    finally:
        signal.signal(signal.SIGTERM, previous)


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def _fresh(folder: Path) -> Path:
    import shutil

    shutil.rmtree(folder, ignore_errors=True)
    return folder


class _exclusive:
    """One batch per output folder at a time: two writers would interleave the journal."""

    def __init__(self, out: Path):
        self.out = out

    def __enter__(self):
        import fcntl

        from grader.errors import UsageError

        self.out.mkdir(parents=True, exist_ok=True)
        import time

        self.f = open(self.out / ".lock", "w")
        # Grading children of a run killed with -9 hold the lock for the seconds they take to exit
        # (they are told to stop when their batch dies): wait for them before calling it taken.
        deadline = time.monotonic() + 30
        while True:
            try:
                fcntl.flock(self.f, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return self
            except OSError:
                if time.monotonic() > deadline:
                    self.f.close()
                    raise UsageError(f"{self.out}: another `grade batch` is writing there") from None
                time.sleep(0.2)

    def __exit__(self, *exc):
        self.f.close()
