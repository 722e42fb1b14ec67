"""`grade student-kit`: write what students get (release notebook, grader, public checks only); with install steps."""

from __future__ import annotations

import argparse

from grader.cli.common import Exit, add_rubric_args, rubric_from, run_command


def command(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="grade student-kit",
                                description="Write the student kit: no hidden checks, no reference solution.")
    p.add_argument("-o", "--out", required=True, help="a new (or empty) folder for the kit")
    add_rubric_args(p)
    args = p.parse_args(argv)

    def go() -> int:
        from grader.authoring.kit import build_kit
        from grader.rubric import find_rubric

        rubric = rubric_from(args)
        written = build_kit(rubric, find_rubric(rubric.assignment, public=True), args.out)
        print(f"wrote {args.out} ({len(written)} files): {rubric.release.name}, mlgrader/ (the grader and the "
              "public checks) and README.md (how students install and use it)")
        return Exit.OK

    return run_command(go)
