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
        from grader.authoring.check import public_rubric_of
        from grader.authoring.kit import build_kit
        from grader.errors import ConfigError

        rubric = rubric_from(args)
        public = public_rubric_of(rubric)  # beside the rubric, in its own course (--course, --rubric)
        if public is None:
            raise ConfigError(f"{rubric.assignment} has no public checks (assignments/{rubric.assignment}/public/"
                              "rubric.toml in its course): the kit would hold nothing to check with")
        written = build_kit(rubric, public, args.out)
        print(f"wrote {args.out} ({len(written)} files): {rubric.release.name}, mlgrader/ (the grader and the "
              "public checks) and README.md (how students install and use it)")
        return Exit.OK

    return run_command(go)
