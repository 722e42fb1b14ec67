"""`grade assign`: write the student release from the reference notebook (or check it is current)."""

from __future__ import annotations

import argparse

from grader.cli.common import Exit, add_rubric_args, rubric_from, run_command


def command(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="grade assign", description="Write the student release from the reference notebook.")
    add_rubric_args(p)
    p.add_argument("--check", action="store_true", help="exit 1 if the committed release is out of date")
    args = p.parse_args(argv)

    def go() -> int:
        from grader.authoring.assign import make_release, write_release
        from grader.errors import ConfigError

        rubric = rubric_from(args)
        if rubric.release is None or rubric.reference is None:
            raise ConfigError(f"the rubric of {rubric.assignment} names no reference or release notebook")
        if args.check:
            current = rubric.release.read_text() if rubric.release.exists() else ""
            if current != make_release(rubric.reference):
                print(f"{rubric.release} is out of date; run `grade assign --assignment {rubric.assignment}`")
                return 1
            print(f"{rubric.release} is up to date")
            return Exit.OK
        changed = write_release(rubric.reference, rubric.release)
        print(f"{'wrote' if changed else 'unchanged:'} {rubric.release}")
        return Exit.OK

    return run_command(go)
