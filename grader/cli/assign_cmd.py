"""`grade assign`: write the student release from the reference notebook (or check it is current)."""

from __future__ import annotations

import argparse

from grader.cli.common import Exit, add_grading_args, add_rubric_args, check_and_print, rubric_from, run_command


def command(argv: list[str]) -> int:
    p = argparse.ArgumentParser(
        prog="grade assign", description="Write the student release from the reference notebook, after "
        "`grade check` passes on it (the reference, the new release and the mutants).")
    add_rubric_args(p)
    p.add_argument("--check", action="store_true", help="exit 1 if the committed release is out of date")
    p.add_argument("--no-check", action="store_true", help="skip `grade check` (no grading)")
    add_grading_args(p)
    args = p.parse_args(argv)

    def go() -> int:
        from grader.authoring.assign import make_release
        from grader.errors import ConfigError
        from grader.files import write_atomic

        rubric = rubric_from(args)
        if rubric.release is None or rubric.reference is None:
            raise ConfigError(f"the rubric of {rubric.assignment} names no reference or release notebook")
        text = make_release(rubric.reference)
        current = rubric.release.read_text() if rubric.release.exists() else None
        if args.check and current != text:
            print(f"{rubric.release} is out of date; run `grade assign --assignment {rubric.assignment}`")
            return Exit.CHECK_FAILED
        # The check grades this same new release before it replaces the committed one.
        if not args.no_check and not check_and_print(rubric, args):
            print(f"{rubric.release} not written: fix what `grade check` found, or pass --no-check")
            return Exit.CHECK_FAILED
        if args.check:
            print(f"{rubric.release} is up to date")
        elif current == text:
            print(f"unchanged: {rubric.release}")
        else:
            write_atomic(rubric.release, text)
            print(f"wrote {rubric.release}")
        return Exit.OK

    return run_command(go)
