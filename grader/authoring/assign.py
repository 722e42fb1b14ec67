"""Make the student release from the reference notebook: solutions out, outputs cleared."""

from __future__ import annotations

import re
from pathlib import Path

import nbformat

from grader.errors import ConfigError

BEGIN = re.compile(r"^(\s*)# BEGIN SOLUTION\s*$")
END = re.compile(r"^\s*# END SOLUTION\s*$")
HIDDEN_TAGS = {"hidden", "solution", "instructor"}
# The reference's prose may call itself the solution ("CS 419, reference solution."); the release must not.
SOLUTION_WORDS = re.compile(r"reference\s+solution", re.IGNORECASE)


def strip_solutions(source: str, where: str) -> str:
    """Replace each marked region by `raise NotImplementedError` at the marker's indentation."""
    out, inside = [], None
    for n, line in enumerate(source.split("\n"), start=1):
        m = BEGIN.match(line)
        if m:
            if inside is not None:
                raise ConfigError(f"{where}, line {n}: BEGIN SOLUTION inside another solution region")
            inside = m.group(1)
            out.append(f"{inside}raise NotImplementedError")
        elif END.match(line):
            if inside is None:
                raise ConfigError(f"{where}, line {n}: END SOLUTION without BEGIN")
            inside = None
        elif inside is None:
            out.append(line)
    if inside is not None:
        raise ConfigError(f"{where}: BEGIN SOLUTION without END")
    return "\n".join(out)


def make_release(reference: Path) -> str:
    """The release notebook's text, deterministic so a test can compare it with the committed one."""
    nb = nbformat.read(str(reference), as_version=4)
    cells = []
    for index, cell in enumerate(nb.cells, start=1):
        tags = set(cell.get("metadata", {}).get("tags", []))
        if tags & HIDDEN_TAGS:
            continue  # instructor-only cells never reach students
        if cell.cell_type == "code":
            cell.source = strip_solutions(cell.source, f"{reference.name} cell {index}")
            cell.outputs = []
            cell.execution_count = None
        elif cell.cell_type == "markdown":
            cell.source = SOLUTION_WORDS.sub(lambda m: "Assignment" if m[0][0].isupper() else "assignment",
                                             cell.source)
        cell.metadata = {k: v for k, v in cell.metadata.items() if k in ("tags",) and v}
        cells.append(cell)
    nb.cells = cells
    nbformat.validate(nb)
    return nbformat.writes(nb) + "\n"
