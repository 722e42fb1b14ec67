"""`grade gradescope`: build the Gradescope autograder zip for an assignment."""

from __future__ import annotations

import argparse

from grader.cli.common import Exit, add_rubric_args, rubric_from, run_command


def command(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="grade gradescope", description="Build a Gradescope autograder zip.")
    p.add_argument("-o", "--out", default="autograder.zip", help="the zip to write (default: autograder.zip)")
    add_rubric_args(p)
    args = p.parse_args(argv)

    def go() -> int:
        from grader.authoring.gradescope import build_package

        names = build_package(rubric_from(args), args.out)
        print(f"wrote {args.out} ({len(names)} files); upload it as the assignment's autograder and give it "
              "at least 3 GB of memory (see README: Batch grading and LMS)")
        return Exit.OK

    return run_command(go)
