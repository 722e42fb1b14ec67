"""Load the reference solution into the grader process (trusted code, never shown to the sandbox)."""

from __future__ import annotations

import functools
import types
from pathlib import Path

from grader.errors import ConfigError, SubmissionError
from grader.load.submission import load_submission


@functools.lru_cache(maxsize=8)
def load_reference(path: Path) -> types.SimpleNamespace:
    """Execute the reference notebook's definitions and return its names as a namespace."""
    try:
        sub = load_submission(path)
    except SubmissionError as exc:
        raise ConfigError(f"reference solution: {exc}") from None
    namespace: dict = {"__name__": f"reference_{Path(path).stem}"}
    for chunk in sub.chunks:
        try:
            exec(compile(chunk.code, f"reference {chunk.filename}", "exec"), namespace)
        except Exception as exc:
            raise ConfigError(f"reference solution {chunk.filename}, line {chunk.line}: {exc!r}") from None
    return types.SimpleNamespace(**{k: v for k, v in namespace.items() if not k.startswith("__")})
