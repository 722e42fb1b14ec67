"""Mutation corpus of mnist_mlp: buggy submissions made from the reference solution.

Each mutant in mutants.toml is ONE realistic student mistake, written as text replacements
([old, new] pairs; every `old` occurs exactly once) applied to the reference's definitions source:
the code the grader keeps from the reference notebook, one .py file. A few are instead a `file` in
rubrics/mnist_mlp/mutants/, where `grade check` runs them too (the shipped assignment's own example).
Each mutant records the exact score it must get and the rubric items it must lose (tests/test_corpus.py checks both).

    .venv/bin/python tests/corpus/mnist_mlp/generate.py OUT_DIR     # write every mutant as OUT_DIR/<name>.py
    .venv/bin/python tests/corpus/mnist_mlp/generate.py --measure   # grade them all and print the table
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

HERE = Path(__file__).resolve().parent
PROJECT = HERE.parents[2]
REFERENCE = PROJECT / "reference_solution" / "mnist_mlp" / "mnist_mlp.ipynb"
MUTANTS = HERE / "mutants.toml"
CORRECT = HERE / "correct"


@dataclass(frozen=True)
class Mutant:
    name: str
    mistake: str
    replace: tuple[tuple[str, str], ...]  # empty for a mutant kept as a file
    score: float
    loses: tuple[str, ...]
    hint: str | None = None
    tolerance: float = 0.0  # points of slack, only for an accuracy that lands mid-curve
    extended: bool = False  # graded only with GRADER_CORPUS=all
    xfail: str | None = None  # a known grading bug: the score it SHOULD get is recorded, with why
    file: str | None = None  # a whole submission, relative to the project: rubrics/mnist_mlp/mutants/<name>.py


def reference_source() -> str:
    """The reference solution's definitions, as the grader keeps them, in one Python source."""
    from grader.load.submission import load_submission

    sub = load_submission(REFERENCE)
    return "".join(c.code.strip("\n") + "\n" for c in sub.chunks)


def load_mutants(path: Path = MUTANTS) -> list[Mutant]:
    data = tomllib.loads(path.read_text())
    out = []
    for raw in data["mutants"]:
        out.append(Mutant(
            name=raw["name"], mistake=raw["mistake"],
            replace=tuple((old, new) for old, new in raw.get("replace", ())), file=raw.get("file"),
            score=float(raw["score"]), loses=tuple(raw["loses"]), hint=raw.get("hint"),
            tolerance=float(raw.get("tolerance", 0.0)), extended=bool(raw.get("extended", False)),
            xfail=raw.get("xfail"),
        ))
    names = [m.name for m in out]
    dupes = {n for n in names if names.count(n) > 1}
    if dupes:
        raise ValueError(f"duplicate mutant names: {sorted(dupes)}")
    return out


def apply(source: str, mutant: Mutant) -> str:
    """The mutant's source; ValueError when an `old` text does not occur exactly once."""
    if mutant.file:
        return (PROJECT / mutant.file).read_text()
    for old, new in mutant.replace:
        count = source.count(old)
        if count != 1:
            raise ValueError(f"{mutant.name}: {old!r} occurs {count} times in the reference source, expected 1")
        source = source.replace(old, new)
    return source


def write_all(out_dir: Path) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    source = reference_source()
    paths = []
    for m in load_mutants():
        p = out_dir / f"{m.name}.py"
        p.write_text(f"# mutant {m.name}: {m.mistake}\n" + apply(source, m))
        paths.append(p)
    return paths


def _measure(names: list[str]) -> None:
    """Grade the mutants (or the named ones) and print score and lost items next to the recorded ones."""
    import os
    import tempfile

    from grader.pipeline import GradeOptions, grade
    from grader.rubric import find_rubric

    data = os.environ.get("GRADER_DATA_DIR") or str(PROJECT.parent / "shared" / "data")
    rubric = find_rubric("mnist_mlp")
    with tempfile.TemporaryDirectory() as tmp:
        paths = write_all(Path(tmp))
        mutants = {m.name: m for m in load_mutants()}
        for p in paths:
            if names and p.stem not in names:
                continue
            m = mutants[p.stem]
            r = grade(p, rubric, GradeOptions(data_dir=data, threads=1, gpu="off"))
            lost = [i for i in r.items if i.score < i.max_score]
            ok = abs(r.score - m.score) <= m.tolerance + 1e-9 and {i.name for i in lost} == set(m.loses)
            print(f"{'OK  ' if ok else 'DIFF'} {m.name}: {r.score} (recorded {m.score}) in {r.duration_s:.1f} s")
            for i in lost:
                print(f"     - {i.name}: {i.score}/{i.max_score}: {' | '.join(i.feedback)[:400]}")
            sys.stdout.flush()


if __name__ == "__main__":
    args = sys.argv[1:]
    if args and args[0] == "--measure":
        _measure(args[1:])
    elif len(args) == 1:
        for path in write_all(Path(args[0])):
            print(path)
    else:
        sys.exit(__doc__)
