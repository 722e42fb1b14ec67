"""`grade check`: grade the reference, the release and the mutants against a rubric; exit 0 only when all hold."""

from __future__ import annotations

import argparse

from grader.cli.common import Exit, add_grading_args, add_rubric_args, check_and_print, rubric_from, run_command


def command(argv: list[str]) -> int:
    p = argparse.ArgumentParser(
        prog="grade check", description="Check a rubric: the reference earns every item, the blank release "
        "earns (almost) nothing, and every mutant in rubrics/<assignment>/mutants/ loses points.")
    add_rubric_args(p)
    add_grading_args(p)
    args = p.parse_args(argv)

    def go() -> int:
        return Exit.OK if check_and_print(rubric_from(args), args) else Exit.CHECK_FAILED

    return run_command(go)
