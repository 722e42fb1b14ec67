"""`grade SUBMISSION`: grade one submission and print the report (optionally results.json)."""

from __future__ import annotations

import argparse

from grader.cli.common import Exit, add_rubric_args, rubric_from, run_command


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="grade", description="Grade a submission (.ipynb, .py or a folder) in a sandbox.",
        epilog="Other commands (`grade --help` lists them): check, assign, gradescope, batch, calibrate, "
               "student-kit.")
    p.add_argument("submission", help="the notebook, .py file or folder to grade")
    add_rubric_args(p)
    p.add_argument("--json", metavar="FILE", help="also write Gradescope's results.json to FILE")
    p.add_argument("--data-dir", help="folder holding MNIST/raw (default: $GRADER_DATA_DIR, then ~/.cache/mlgrader)")
    p.add_argument("--gpu", choices=("auto", "on", "off"), default="auto",
                   help="the optional GPU section: auto runs it when CUDA is available")
    p.add_argument("--isolation", choices=("auto", "bwrap", "none"), default="auto",
                   help="auto uses bubblewrap when the host allows it; none forces a plain subprocess")
    p.add_argument("--threads", type=int, default=0, help="torch threads in the sandbox (default: up to 4)")
    p.add_argument("--student-view", action="store_true", help="hide checks that are not visible yet")
    p.add_argument("--staff", action="store_true",
                   help="also show what only staff see: isolation, timings, everything the submission printed")
    shown = p.add_mutually_exclusive_group()
    shown.add_argument("--verbose", "-v", action="store_true", help="every line of feedback of every check")
    shown.add_argument("--quiet", "-q", action="store_true", help="the summary and the checks that lost points only")
    p.add_argument("--public", action="store_true",
                   help="run only the public tests shipped with the assignment (what students can run)")
    return p


def command(argv: list[str]) -> int:
    args = parser().parse_args(argv)

    def go() -> int:
        from pathlib import Path

        from grader.errors import UsageError
        from grader.files import write_json
        from grader.pipeline import GradeOptions, grade
        from grader.report.gradescope import to_results_json
        from grader.report.terminal import render

        if not Path(args.submission).exists():
            raise UsageError(f"{args.submission}: no such file or folder")
        rubric = rubric_from(args, public=args.public, graded=args.submission)
        with _progress() as progress:
            options = GradeOptions(data_dir=args.data_dir, gpu=args.gpu, isolation=args.isolation,
                                   threads=args.threads, progress=progress)
            result = grade(args.submission, rubric, options)
        if args.json:
            write_json(to_results_json(result), args.json)
        render(result, show_hidden=not args.student_view, verbose=args.verbose, quiet=args.quiet,
               staff=args.staff)
        return Exit.OK

    return run_command(go)


class _progress:
    """A one-line status on stderr while grading, section by section, when stderr is a terminal; gone
    when grading ends, and nothing at all when piped."""

    def __enter__(self):
        import sys

        self.status = None
        if not sys.stderr.isatty():
            return None
        from rich.console import Console

        # The real stderr, bound now: the suites run with sys.stderr redirected.
        self.status = Console(file=sys.stderr).status("grading: starting the sandbox and loading the submission")
        self.status.start()
        return lambda section: self.status.update(f"grading: {section}")

    def __exit__(self, *exc):
        if self.status is not None:
            self.status.stop()
