"""The `grade` command line: dispatch to one module per command; no library module imports this package."""

from __future__ import annotations

import importlib
import os
import sys

# Each command's module is imported only when it runs: `grade` starts before torch is imported.
COMMANDS = {"assign": "assign_cmd", "batch": "batch_cmd", "calibrate": "calibrate_cmd", "check": "check_cmd",
            "gradescope": "gradescope_cmd"}


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    name = COMMANDS.get(argv[0]) if argv else None
    module = importlib.import_module(f"grader.cli.{name or 'grade_cmd'}")
    return module.command(argv[1:] if name else argv)


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
