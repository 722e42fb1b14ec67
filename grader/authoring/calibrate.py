"""`grade calibrate`: measure a curve item over several values of a setting (seeds) for correct and broken
submissions, and suggest the curve that separates them."""

from __future__ import annotations

import dataclasses
import fnmatch
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from grader.errors import ConfigError, UsageError
from grader.rubric import Item, Rubric, curve_value, score_items

MARGIN = 0.05  # full credit this far below the worst correct run: another seed, another CPU's rounding


@dataclass(frozen=True)
class Series:
    """One submission's measured values, one per setting value (None: nothing was measured)."""

    kind: str  # "correct" | "broken"
    path: Path
    values: tuple[float | None, ...]

    @property
    def measured(self) -> tuple[float, ...]:
        return tuple(v for v in self.values if v is not None)


def find_item(rubric: Rubric, name: str) -> Item:
    """The curve item named (or numbered, as the report numbers it: 5.1)."""
    for item, scored in zip(rubric.items, score_items(rubric, ())):
        if name in (item.name, scored.number):
            if item.curve is None:
                raise UsageError(f"item {name!r} has no curve: only a measured item can be calibrated")
            return item
    curves = [i.name for i in rubric.items if i.curve]
    raise UsageError(f"no item {name!r} in {rubric.folder}; items with a curve: {', '.join(curves) or 'none'}")


def parse_vary(text: str, settings: dict) -> tuple[str, tuple]:
    """KEY=0-7 (integers 0 to 7), KEY=1,5,9 or KEY=1e-3,5e-3: a setting of the rubric and its values."""
    key, sep, spec = text.partition("=")
    if not sep or not spec:
        raise UsageError(f"--vary {text!r}: write KEY=0-7 or KEY=v1,v2,...")
    if key not in settings:
        raise ConfigError(f"[settings] has no {key!r}; it has: {', '.join(settings) or 'nothing'}")
    kind = type(settings[key]) if isinstance(settings[key], (int, float)) else float
    try:
        if "-" in spec and "," not in spec and not spec.startswith("-") and "e-" not in spec:
            lo, hi = (int(x) for x in spec.split("-"))
            values = tuple(range(lo, hi + 1))
        else:
            values = tuple(kind(x) for x in spec.split(","))
    except ValueError:
        raise UsageError(f"--vary {text!r}: {spec!r} is not a list of {kind.__name__} values") from None
    if not values:
        raise UsageError(f"--vary {text!r}: no values")
    return key, values


def _only_item(rubric: Rubric, item: Item, folder: Path) -> Path:
    """A copy of the suite folder without the test files the item does not use, nor the mutants."""
    files = {p.split("::")[0] for p in item.tests}
    shutil.copytree(rubric.folder, folder, ignore=lambda d, names: [
        n for n in names if (Path(d) == rubric.folder and n == "mutants")
        or (n.startswith("test_") and n.endswith(".py") and not any(fnmatch.fnmatchcase(n, f) for f in files))])
    return folder


def calibrate(rubric: Rubric, item: Item, key: str, values: tuple, correct: list[Path], broken: list[Path], *,
              data_dir: str | None = None, isolation: str = "auto", progress=None) -> list[Series]:
    """Grade each submission once per value of settings[key], the GPU section off and one torch thread."""
    from grader.authoring.check import template_sandbox
    from grader.pipeline import GradeOptions, grade

    options = GradeOptions(data_dir=data_dir, gpu="off", isolation=isolation, threads=1)
    zygote = template_sandbox(rubric, options)
    series = []
    try:
        with tempfile.TemporaryDirectory(prefix="grade-calibrate-") as tmp:
            folder = _only_item(rubric, item, Path(tmp) / rubric.folder.name)
            for kind, paths in (("correct", correct), ("broken", broken)):
                for path in paths:
                    measured = []
                    for v in values:
                        if progress:
                            progress(kind, path, key, v)
                        one = dataclasses.replace(rubric, folder=folder, items=(item,),
                                                  settings={**rubric.settings, key: v})
                        measured.append(curve_value(item, grade(path, one, options, zygote=zygote).items[0].outcomes))
                    series.append(Series(kind, Path(path), tuple(measured)))
    finally:
        if zygote is not None:
            zygote.close()
    return series


def suggest(series: list[Series]) -> tuple[float, float] | None:
    """(zero, full): no credit at or below the best broken run, full credit MARGIN below the worst correct
    one; None when the runs do not separate."""
    good = [v for s in series if s.kind == "correct" for v in s.measured]
    bad = [v for s in series if s.kind == "broken" for v in s.measured]
    if not good:
        return None
    full = round(min(good) - MARGIN, 2)
    zero = round(max(bad), 2) if bad else 0.0
    return (zero, full) if zero < full else None


def render_calibration(item: Item, key: str, values: tuple, series: list[Series]) -> list[str]:
    lines = [f"{item.name}: {item.measure} for {key} = {', '.join(map(str, values))}"
             f" (the rubric's curve: none at {item.curve[0]}, full at {item.curve[1]})"]
    for s in series:
        shown = " ".join("-" if v is None else f"{v:.4f}" for v in s.values)
        span = f"min {min(s.measured):.4f} max {max(s.measured):.4f}" if s.measured else "nothing measured"
        lines.append(f"  {s.kind:7} {s.path.name}: {shown}  ({span})")
    curve = suggest(series)
    if curve is None:
        lines.append("no curve separates the correct runs from the broken ones: change the recipe "
                     "(learning rate, data size) or the broken submissions")
    else:
        lines.append(f"suggested: curve = {{ zero = {curve[0]:.2f}, full = {curve[1]:.2f} }}  "
                     f"(full {MARGIN} below the worst correct run, none at or below the best broken one); "
                     "record these runs in rubric.toml's comments")
    return lines
