"""`grade calibrate`: a curve item's measured value over seeds, for correct and broken submissions."""

from __future__ import annotations

import argparse

from grader.cli.common import Exit, add_grading_args, add_rubric_args, rubric_from, run_command


def command(argv: list[str]) -> int:
    p = argparse.ArgumentParser(
        prog="grade calibrate", description="Measure a curve item (an accuracy, say) over several values of a "
        "setting for correct and broken submissions, and suggest the curve that separates them.",
        epilog="Example: grade calibrate 'train: MNIST test accuracy of your train() and MLP' --vary mnist_seed=0-7 "
               "--correct my_sgd.py my_adam.ipynb --broken rubrics/mnist_mlp/mutants/train_no_step.py")
    p.add_argument("item", help="the item's name or number (as the report shows it: 5.1)")
    p.add_argument("--vary", required=True, metavar="KEY=VALUES",
                   help="a [settings] key and its values: 0-7, or a comma-separated list")
    p.add_argument("--correct", nargs="*", default=None, metavar="PATH",
                   help="correct submissions (default: the reference)")
    p.add_argument("--broken", nargs="*", default=(), metavar="PATH",
                   help="broken submissions the item must not reward (mutants, say)")
    add_rubric_args(p)
    add_grading_args(p)
    args = p.parse_args(argv)

    def go() -> int:
        import sys
        from pathlib import Path

        from grader.authoring.calibrate import calibrate, find_item, parse_vary, render_calibration
        from grader.errors import UsageError

        rubric = rubric_from(args)
        item = find_item(rubric, args.item)
        key, values = parse_vary(args.vary, rubric.settings)
        correct = [Path(c) for c in args.correct] if args.correct else [rubric.reference]
        broken = [Path(b) for b in args.broken]
        for path in correct + broken:
            if path is None or not path.exists():
                raise UsageError(f"{path}: no such submission")

        def progress(kind, path, k, v):
            print(f"  grading {kind} {path.name} with {k} = {v}", file=sys.stderr, flush=True)

        series = calibrate(rubric, item, key, values, correct, broken, data_dir=args.data_dir,
                           isolation=args.isolation, progress=progress)
        print("\n".join(render_calibration(item, key, values, series)))
        return Exit.OK

    return run_command(go)
