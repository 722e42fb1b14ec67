"""What every `grade` command shares: exit codes, rubric arguments, and turning errors into exit codes."""

from __future__ import annotations

import argparse
from enum import IntEnum


class Exit(IntEnum):
    OK = 0  # grading completed, whatever the score
    INTERNAL = 1
    CHECK_FAILED = 1  # `grade check` (or `assign --check`) found a problem: the instructor fixes the assignment
    USAGE = 2
    CONFIG = 3
    INFRASTRUCTURE = 4
    INTERRUPTED = 130  # Ctrl-C or SIGTERM, as shells report a SIGINT


def add_rubric_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--assignment", help="assignment name under the course's rubrics/ (default: the course's only "
                                        "assignment, else the bundled mnist_mlp)")
    p.add_argument("--rubric", help="path to a rubric folder or rubric.toml (overrides --assignment)")
    p.add_argument("--course", help="the course folder holding reference_solution/, rubrics/ and assignments/ "
                                    "(default: $GRADER_COURSE, else the current folder; the bundled course "
                                    "is the fallback)")


def rubric_from(args, *, public: bool = False, graded=None):
    """The rubric the arguments name: --rubric wins over --assignment. `graded`: the submission folder
    (or batch folder) about to be graded, which must not hold the rubric (its tests run unsandboxed)."""
    from pathlib import Path

    from grader.errors import UsageError
    from grader.rubric import default_assignment, find_rubric, load_rubric

    if args.rubric:
        rubric = load_rubric(args.rubric)
    else:
        rubric = find_rubric(args.assignment or default_assignment(args.course), public=public, course=args.course)
    if graded is not None and Path(graded).is_dir() and rubric.folder.resolve().is_relative_to(Path(graded).resolve()):
        # `cd student_folder && grade .` would take the student's own rubrics/ for the course.
        raise UsageError(f"the rubric {rubric.folder} lies inside {graded}, which is being graded: a submission "
                         "never brings its own tests; run from the course folder or name it with --course")
    return rubric


def add_grading_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data-dir", help="folder holding MNIST/raw (default: $GRADER_DATA_DIR, then ~/.cache/mlgrader)")
    p.add_argument("--isolation", choices=("auto", "bwrap", "none"), default="auto")


def check_and_print(rubric, args) -> bool:
    """Run `grade check` on the rubric, print its report; True when it passed."""
    import sys

    from grader.authoring.check import render_check, run_check

    def progress(role: str, path) -> None:
        print(f"  grading the {role if role != 'public' else 'reference on the public checks'}: {path.name}",
              file=sys.stderr, flush=True)

    report = run_check(rubric, data_dir=args.data_dir, isolation=args.isolation, progress=progress)
    print("\n".join(render_check(report)), flush=True)
    return report.ok


def run_command(fn) -> int:
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
        return Exit.INTERRUPTED
