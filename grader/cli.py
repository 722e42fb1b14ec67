"""The `grade` command: a thin layer over the library; usage and infrastructure errors exit non-zero."""

from __future__ import annotations

import argparse
import os
import sys
from enum import IntEnum

COMMANDS = ("assign", "batch", "gradescope")


class Exit(IntEnum):
    OK = 0  # grading completed, whatever the score
    INTERNAL = 1
    USAGE = 2
    CONFIG = 3
    INFRASTRUCTURE = 4


def _grade_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="grade", description="Grade a submission (.ipynb, .py or a folder) in a sandbox.",
        epilog="Other commands: `grade assign` makes the student release from the reference.")
    p.add_argument("submission", help="the notebook, .py file or folder to grade")
    p.add_argument("--assignment", default="mnist_mlp", help="assignment name under rubrics/ (default: mnist_mlp)")
    p.add_argument("--rubric", help="path to a rubric folder or rubric.toml (overrides --assignment)")
    p.add_argument("--json", metavar="FILE", help="also write Gradescope's results.json to FILE")
    p.add_argument("--data-dir", help="folder holding MNIST/raw (default: $GRADER_DATA_DIR, then ~/.cache/mlgrader)")
    p.add_argument("--gpu", choices=("auto", "on", "off"), default="auto",
                   help="the optional GPU section: auto runs it when CUDA is available")
    p.add_argument("--isolation", choices=("auto", "bwrap", "none"), default="auto",
                   help="auto uses bubblewrap when the host allows it; none forces a plain subprocess")
    p.add_argument("--threads", type=int, default=0, help="torch threads in the sandbox (default: up to 4)")
    p.add_argument("--student-view", action="store_true", help="hide checks that are not visible yet")
    p.add_argument("--public", action="store_true",
                   help="run only the public tests shipped with the assignment (what students can run)")
    return p


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "assign":
        return _assign(argv[1:])
    if argv and argv[0] == "batch":
        from grader.batch_cli import batch_command

        return batch_command(argv[1:])
    if argv and argv[0] == "gradescope":
        from grader.batch_cli import gradescope_command

        return gradescope_command(argv[1:])
    return _grade(argv)


def _run(fn) -> int:
    from rich.console import Console

    from rich.markup import escape

    from grader.errors import ConfigError, InfrastructureError, UsageError

    err = Console(stderr=True, soft_wrap=True, highlight=False)
    try:
        return fn()
    except UsageError as exc:
        err.print(f"[red]error:[/] {escape(str(exc))}")
        return Exit.USAGE
    except ConfigError as exc:
        err.print(f"[red]configuration error:[/] {escape(str(exc))}")
        return Exit.CONFIG
    except InfrastructureError as exc:
        err.print(f"[red]cannot grade:[/] {escape(str(exc))}")
        return Exit.INFRASTRUCTURE
    except KeyboardInterrupt:
        err.print("interrupted")
        return 130


def _grade(argv: list[str]) -> int:
    args = _grade_parser().parse_args(argv)

    def go() -> int:
        from pathlib import Path

        from grader.errors import UsageError
        from grader.pipeline import GradeOptions, grade
        from grader.report_gradescope import to_results_json, write_json
        from grader.report_terminal import render
        from grader.rubric import find_rubric, load_rubric

        if not Path(args.submission).exists():
            raise UsageError(f"{args.submission}: no such file or folder")
        rubric = load_rubric(args.rubric) if args.rubric else find_rubric(args.assignment, public=args.public)
        options = GradeOptions(data_dir=args.data_dir, gpu=args.gpu, isolation=args.isolation,
                               threads=args.threads)
        result = grade(args.submission, rubric, options)
        if args.json:
            write_json(to_results_json(result), args.json)
        render(result, show_hidden=not args.student_view)
        return Exit.OK

    return _run(go)


def _assign(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="grade assign", description="Write the student release from the reference notebook.")
    p.add_argument("--assignment", default="mnist_mlp")
    p.add_argument("--rubric", help="path to a rubric folder or rubric.toml (overrides --assignment)")
    p.add_argument("--check", action="store_true", help="exit 1 if the committed release is out of date")
    args = p.parse_args(argv)

    def go() -> int:
        from grader.assign import make_release, write_release
        from grader.errors import ConfigError
        from grader.rubric import find_rubric, load_rubric

        rubric = load_rubric(args.rubric) if args.rubric else find_rubric(args.assignment)
        if rubric.release is None or rubric.reference is None:
            raise ConfigError(f"the rubric of {rubric.assignment} names no reference or release notebook")
        if args.check:
            current = rubric.release.read_text() if rubric.release.exists() else ""
            if current != make_release(rubric.reference):
                print(f"{rubric.release} is out of date; run `grade assign --assignment {rubric.assignment}`")
                return 1
            print(f"{rubric.release} is up to date")
            return Exit.OK
        changed = write_release(rubric.reference, rubric.release)
        print(f"{'wrote' if changed else 'unchanged:'} {rubric.release}")
        return Exit.OK

    return _run(go)


def console() -> None:
    """The `grade` console script: main(), then an exit that skips tearing down the interpreter."""
    code = main()
    # Unloading torch, pytest and sympy module by module takes over a second and frees nothing the
    # OS would not: every worker is already killed and every file written and closed by now.
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(int(code))


if __name__ == "__main__":
    console()
