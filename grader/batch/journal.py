"""The batch journal (fsynced JSON lines) and the keys that say when a stored grade may be reused."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import grader
from grader.files import tree_sha256
from grader.rubric import Rubric

STORE = ".results"  # full results, one JSON file per journal key


class Journal:
    """Append-only JSON lines, fsynced one by one; a line torn by a kill is ignored when read."""

    def __init__(self, path: Path):
        self.path = path

    def entries(self) -> list[dict]:
        if not self.path.exists():
            return []
        out = []
        for line in self.path.read_bytes().splitlines():
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            if isinstance(entry, dict) and isinstance(entry.get("key"), str):
                out.append(entry)
        return out

    def append(self, entry: dict) -> None:
        line = json.dumps(entry, sort_keys=True).encode() + b"\n"
        with open(self.path, "ab") as f:
            if f.tell() and not self._ends_with_newline():
                f.write(b"\n")  # a torn last line stays on its own line, never glued to this one
            f.write(line)
            f.flush()
            os.fsync(f.fileno())

    def _ends_with_newline(self) -> bool:
        with open(self.path, "rb") as f:
            f.seek(-1, os.SEEK_END)
            return f.read(1) == b"\n"


def rubric_sha256(rubric: Rubric) -> str:
    """The rubric folder's files (hidden suites included) and the reference: what a grade depends on.
    Instructor mutants are not: adding one to `grade check` regrades no class."""
    return tree_sha256(*[p for p in (rubric.folder, rubric.reference) if p], skip=("mutants",))


def content_sha256(path: Path) -> str:
    if path.is_file():
        return hashlib.sha256(path.read_bytes()).hexdigest()
    return tree_sha256(path)


def journal_key(content: str, name: str, rubric_hash: str) -> str:
    # The name is graded too: messages quote it ("hw.ipynb: not valid JSON"), so a stored result is
    # reused only for the same bytes under the same name, never shown to a student under another's.
    # surrogateescape: a file name that is not UTF-8 is still a name (its own bytes), never a crash.
    text = f"{content}:{name}:{grader.__version__}:{rubric_hash}"
    return hashlib.sha256(text.encode("utf-8", "surrogateescape")).hexdigest()
