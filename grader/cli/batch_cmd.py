"""`grade batch`: grade a whole class from a folder or an LMS export; arguments in, the library does the work."""

from __future__ import annotations

import argparse
import dataclasses
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
    p.add_argument("--timeout", type=float, default=0,
                   help="seconds per submission; checks finished by then keep their points (default: from the rubric)")
    p.add_argument("--regrade", metavar="ID[,ID...]", default="",
                   help="grade these students again (after a rubric fix, a late upload); the journal keeps the others")
    p.add_argument("--only", metavar="ID[,ID...]", default="",
                   help="grade only these students (again); the others come from the journal or are left out")
    return p


def command(argv: list[str]) -> int:
    args = parser().parse_args(argv)

    def go() -> int:
        from rich.console import Console

        from grader.batch.engine import BatchOptions, grade_class
        from grader.batch.similarity import similar_in
        from grader.batch.source import open_source
        from grader.classrun import NEEDS_REGRADE
        from grader.errors import UsageError
        from grader.load.mnist import find_data_dir
        from grader.report.gradebook import (
            canvas_column,
            fill_canvas,
            fill_moodle,
            lms_people,
            write_grades_csv,
        )
        from grader.report.html import GUESSED, unused, write_report
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
        people = lms_people(args.canvas_gradebook, args.moodle_grades)
        with _exclusive(out):
            source = open_source(args.source, _fresh(out / ".work" / "source"), exclude=out)
            _print_unused(console, source)
            if not source.submissions:
                raise UsageError(f"{args.source}: no submissions found")
            regrade, only = _pick(source, args.regrade), _pick(source, args.only) if args.only else None
            not_graded = sum(1 for u in unused(source) if u[1] != GUESSED)
            console.print(f"{escape(args.source)}: {source.kind} source, {len(source.submissions)} submission(s)"
                          + (f"; {not_graded} file(s) not graded (listed above)" if not_graded else ""))
            options = BatchOptions(jobs=args.jobs, data_dir=data_dir, isolation=args.isolation, timeout_s=args.timeout)
            run = grade_class(source, out, rubric, options, console=console, regrade=regrade, only=only,
                              on_result=lambda partial: write_grades_csv(partial, out / "grades.csv", people))
            if run.interrupted:
                kept = sum(1 for g in run.graded if not g.from_journal and g.status != NEEDS_REGRADE)
                console.print(f"interrupted: {kept} submission(s) graded by this run are kept in "
                              f"{out / 'journal.jsonl'} (grades.csv has every graded row); "
                              "run the same command again to finish the rest")
                return Exit.INTERRUPTED
            try:
                run = dataclasses.replace(run, similar=similar_in(run))
                write_grades_csv(run, out / "grades.csv", people)
                write_report(run, out / "report.html")
                fills = []
                if args.canvas_gradebook:
                    fills.append(fill_canvas(args.canvas_gradebook, out / "canvas_import.csv", run, args.lms_column))
                if args.moodle_grades:
                    fills.append(fill_moodle(args.moodle_grades, out / "moodle_import.csv", run))
            except KeyboardInterrupt:
                console.print(f"interrupted while writing the report: grading had finished and every grade is kept "
                              f"in {out / 'journal.jsonl'}; run the same command again to write the files")
                return Exit.INTERRUPTED
            _fresh(out / ".work")
        for f in fills:
            scaled = f" (scaled to {f.scaled_to:g} points)" if f.scaled_to is not None else ""
            console.print(f"{f.path}: column {escape(f.column)!r} filled for {f.filled} student(s){scaled}")
            if f.not_in_gradebook:
                console.print(f"  [yellow]graded but not in the gradebook (not imported):[/] {_names(f.not_in_gradebook)}")
            if f.left_blank:
                console.print(f"  [yellow]left blank (needs regrade):[/] {_names(f.left_blank)}")
            if f.no_submission:
                console.print(f"  [yellow]left as they were (no submission in this export):[/] {_names(f.no_submission)}")
        regrade_now = [g.submission.key for g in run.graded if g.status == NEEDS_REGRADE]
        rate = 60 * run.graded_now / run.seconds if run.seconds and run.graded_now else 0.0
        console.print(f"wrote {out / 'grades.csv'} and {out / 'report.html'}; graded {run.graded_now} in "
                      f"{run.seconds:.0f} s ({rate:.1f} per minute)")
        _print_unused(console, source)  # again at the end, where a TA reads
        if run.left_out:
            console.print(f"[yellow]not graded yet (left out by --only):[/] {_names(s.key for s in run.left_out)}")
        for pair in run.similar:
            console.print(f"[yellow]similar code:[/] {escape(pair.a)} and {escape(pair.b)} ({100 * pair.score:.0f}%); "
                          "see report.html")
        if regrade_now:
            console.print(f"[red]needs regrade[/] (the grader could not run; not a score): {_names(regrade_now)}; "
                          "fix the cause and run the same command again")
            return Exit.INFRASTRUCTURE
        return Exit.OK

    # `kill` stops the run like Ctrl-C: children stopped, journal kept.
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        return run_command(go)
    finally:
        signal.signal(signal.SIGTERM, previous)


def _names(names) -> str:
    from grader.report.terminal import escape

    return escape(", ".join(names))


def _print_unused(console, source) -> None:
    """Every file of the source that is not graded as a student's, loudly, with the reason."""
    from grader.report.html import unused
    from grader.report.terminal import escape

    for entry, what, why in unused(source):
        console.print(f"[bold yellow]{what}:[/] {escape(entry)}: {escape(why)}")


def _pick(source, ids: str) -> frozenset[str]:
    """Submission keys for --regrade/--only: a key, or a student's id or email, any case."""
    wanted = [i.strip() for i in ids.split(",") if i.strip()]
    found, unknown = set(), []
    for ident in wanted:
        hits = {s.key for s in source.submissions
                if ident.lower() in {s.key.lower(), *(p.id.lower() for p in s.students),
                                     *(p.email.lower() for p in s.students if p.email)}}
        found |= hits
        if not hits:
            unknown.append(ident)
    if unknown:
        from grader.errors import UsageError

        raise UsageError(f"no submission of {', '.join(unknown)} in this source; known: "
                         f"{', '.join(s.key for s in source.submissions[:30])}"
                         + (" ..." if len(source.submissions) > 30 else ""))
    return frozenset(found)


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
