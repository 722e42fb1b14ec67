"""`grade gradescope`: build an assignment's Gradescope autograder zip (checked first, tried after)."""

from __future__ import annotations

import argparse
from pathlib import Path

from grader.cli.common import Exit, add_grading_args, add_rubric_args, check_and_print, rubric_from, run_command


def command(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="grade gradescope", description="Build a Gradescope autograder zip, after "
                                "`grade check` passes.")
    p.add_argument("-o", "--out", default="autograder.zip", help="the zip to write (default: autograder.zip)")
    add_rubric_args(p)
    p.add_argument("--no-check", action="store_true", help="skip `grade check` (no grading before the build)")
    p.add_argument("--test", action="store_true",
                   help="run the built package in a temporary /autograder tree on the reference and the blank release")
    add_grading_args(p)
    args = p.parse_args(argv)

    def go() -> int:
        from grader.authoring.gradescope import build_package, pinned_versions, try_package

        rubric = rubric_from(args)
        if not args.no_check and not check_and_print(rubric, args):
            print(f"{args.out} not built: fix what `grade check` found, or pass --no-check")
            return Exit.CHECK_FAILED
        names = build_package(rubric, args.out)
        pins = ", ".join(f"{k} {v}" for k, v in pinned_versions(rubric).items())
        memory = (" and give it at least 3 GB of memory (MNIST and two trainings; see README: Batch grading "
                  "and LMS)") if rubric.needs_mnist else ""
        print(f"wrote {args.out} ({len(names)} files; grades with {pins}); upload it as the assignment's "
              f"autograder{memory}")
        if not args.test:
            return Exit.OK
        failed = False
        for trial in try_package(Path(args.out), rubric, data_dir=args.data_dir):
            print(f"  {'FAIL' if trial.problem else 'ok':4} {trial.role}: {trial.score:g}/{trial.max_score:g}"
                  + (f": {trial.problem}" if trial.problem else ""))
            if trial.problem:
                failed = True
                print("\n".join("       " + line for line in trial.output.strip().splitlines()[-30:]))
        print(f"{args.out}: {'do NOT upload it' if failed else 'ran in a simulated /autograder tree'}")
        return Exit.CHECK_FAILED if failed else Exit.OK

    return run_command(go)
