"""Atomic writes and content hashes: a reader never sees half a file, and equal bytes hash equal."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path

SKIP = ("__pycache__", ".ipynb_checkpoints", ".pytest_cache")


def write_atomic(path: str | Path, data: str | bytes) -> None:
    """Write to a temporary file beside path, flush it to disk, then rename it over path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data.encode("utf-8") if isinstance(data, str) else data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; these are ordinary output files
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def tree_sha256(*paths: str | Path, skip: tuple[str, ...] = ()) -> str:
    """sha256 of files and folders: names and bytes, never following symbolic links; folders named in
    `skip` (and caches) are left out."""
    h = hashlib.sha256()
    for top in map(Path, paths):
        if top.is_file() and not top.is_symlink():
            h.update(b"F" + hashlib.sha256(top.read_bytes()).digest())
            continue
        for p in sorted(top.rglob("*")):
            rel = p.relative_to(top)
            if any(part in SKIP or part in skip for part in rel.parts) or p.suffix == ".pyc":
                continue
            name = rel.as_posix().encode("utf-8", "surrogateescape")
            if p.is_symlink():
                h.update(b"L" + name + b"\0" + os.readlink(p).encode("utf-8", "surrogateescape") + b"\0")
            elif p.is_file():
                h.update(b"F" + name + b"\0" + hashlib.sha256(p.read_bytes()).digest())
    return h.hexdigest()


def write_json(data: dict, path: str | Path) -> None:
    """JSON, indented, written atomically: a reader never sees half a file."""
    write_atomic(path, json.dumps(data, indent=2) + "\n")
