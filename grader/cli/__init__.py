"""The `grade` command line: dispatch to one module per command; no library module imports this package."""

from __future__ import annotations

import importlib
import os
import sys

# Each command's module is imported only when it runs: `grade` starts before torch is imported.
COMMANDS = {"assign": "assign_cmd", "batch": "batch_cmd", "calibrate": "calibrate_cmd", "check": "check_cmd",
            "gradescope": "gradescope_cmd", "student-kit": "kit_cmd"}


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] in (["--version"], ["-V"]):
        from grader import __version__

        print(f"grade (mlgrader) {__version__}")
        return 0
    if argv[:1] in (["--help"], ["-h"], ["help"]) or not argv:
        print(overview())
        return 0 if argv else 2
    name = COMMANDS.get(argv[0]) if argv else None
    module = importlib.import_module(f"grader.cli.{name or 'grade_cmd'}")
    return module.command(argv[1:] if name else argv)


def overview() -> str:
    """`grade --help`: every command with one line each, from its module's docstring."""
    rows = [("grade SUBMISSION", summary("grade_cmd"))]
    rows += [(f"grade {name}", summary(module)) for name, module in COMMANDS.items()]
    width = max(len(r[0]) for r in rows) + 2
    return "\n".join(["usage: grade SUBMISSION [options]  |  grade COMMAND [options]", "", "commands:",
                      *(f"  {cmd:<{width}}{text}" for cmd, text in rows), "",
                      "`grade COMMAND --help` (or `grade SUBMISSION --help`) lists a command's options;",
                      "`grade --version` prints the version. `grade check` is the instructor's check of a",
                      "rubric; students check their notebook with `grade SUBMISSION --public`, or in a",
                      "notebook cell: `from grader import check; check()`."])


def summary(module: str) -> str:
    doc = (importlib.import_module(f"grader.cli.{module}").__doc__ or "").strip().splitlines()[0]
    return doc.split(": ", 1)[-1].split("; ")[0].rstrip(".")


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
