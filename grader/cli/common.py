"""What every `grade` command shares: exit codes, rubric arguments, and turning errors into exit codes."""

from __future__ import annotations

import argparse
from enum import IntEnum


class Exit(IntEnum):
    OK = 0  # grading completed, whatever the score
    INTERNAL = 1
    USAGE = 2
    CONFIG = 3
    INFRASTRUCTURE = 4
    INTERRUPTED = 130  # Ctrl-C or SIGTERM, as shells report a SIGINT


def add_rubric_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--assignment", default="mnist_mlp", help="assignment name under rubrics/ (default: mnist_mlp)")
    p.add_argument("--rubric", help="path to a rubric folder or rubric.toml (overrides --assignment)")


def rubric_from(args, *, public: bool = False):
    """The rubric the arguments name: --rubric wins over --assignment."""
    from grader.rubric import find_rubric, load_rubric

    return load_rubric(args.rubric) if args.rubric else find_rubric(args.assignment, public=public)


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
