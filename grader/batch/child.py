"""One submission of a batch, graded in a fresh process: writes the full result as JSON, or why there is none.

Exit status: 0 with {"result": ...}; 4 with {"infrastructure_error": ...} (the batch retries);
3 with {"config_error": ...} (the batch stops). Anything else is a crash the batch records as a result.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from pathlib import Path

# Set by the batch process before it forks a child: the shared template sandbox (see grader.sandbox.Zygote).
ZYGOTE = None


def partial_path(out_json: Path) -> Path:
    """Where a child saves its outcomes as it goes (scored if it is stopped at the time limit)."""
    return out_json.with_name(out_json.name + ".partial")


def _die_with_batch() -> None:
    """SIGTERM when the batch process goes away (even by kill -9), so no grading outlives it."""
    parent = int(os.environ.get("GRADER_BATCH_PARENT", "0") or 0)
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG (Linux)
    except (OSError, AttributeError):
        pass
    if parent and os.getppid() != parent:  # the batch died before the line above ran
        sys.exit(128 + signal.SIGTERM)


def _terminate(signum, frame):
    # SIGTERM (a timeout, or the batch going away) ends this process here and now, its workers first.
    # Unwinding is not enough: raised inside a hidden test, SystemExit is recorded by pytest as that
    # test's failure and grading carries on, with the worker still busy. os._exit at the end: nothing the
    # kill itself provokes is saved as an outcome (the batch scores the outcomes saved before it).
    process = sys.modules.get("grader.sandbox.process")  # not imported yet: no worker to stop
    if process is not None:
        process.stop_all_workers()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:
            pass
    os._exit(128 + signum)


def _saver(path: str):
    """Save the outcomes so far after each test: if this process is killed at the batch's time limit,
    the batch still scores what was reached."""
    import json

    from grader.serialize import outcomes_to_plain

    def save(collected, outcomes) -> None:
        tmp = f"{path}.tmp"
        with open(tmp, "w") as f:
            json.dump({"collected": list(collected), "outcomes": outcomes_to_plain(outcomes)}, f)
        os.replace(tmp, path)  # a reader sees the old list or the new one, never half of one

    return save


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m grader.batch.child")
    p.add_argument("submission")
    p.add_argument("rubric")
    p.add_argument("out")
    p.add_argument("--data-dir")
    p.add_argument("--gpu", default="off")
    p.add_argument("--isolation", default="auto")
    p.add_argument("--stop-at", type=float, help="time.monotonic() by which to stop calling the student")
    args = p.parse_args(argv)
    signal.signal(signal.SIGTERM, _terminate)
    _die_with_batch()

    from grader.errors import ConfigError, InfrastructureError
    from grader.files import write_json
    from grader.pipeline import GradeOptions, grade
    from grader.rubric import load_rubric
    from grader.serialize import to_plain

    try:
        rubric = load_rubric(args.rubric)
        # One torch thread per job: the batch runs as many jobs as there are cores.
        options = GradeOptions(data_dir=args.data_dir, gpu=args.gpu, isolation=args.isolation, threads=1,
                               stop_at=args.stop_at)
        result = grade(args.submission, rubric, options, zygote=ZYGOTE, on_outcome=_saver(str(partial_path(Path(args.out)))))
    except InfrastructureError as exc:
        write_json({"infrastructure_error": str(exc)}, args.out)
        return 4
    except ConfigError as exc:
        write_json({"config_error": str(exc)}, args.out)
        return 3
    write_json({"result": to_plain(result)}, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
