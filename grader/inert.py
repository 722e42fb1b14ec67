"""Text a student can influence, made inert for where staff read it: no control characters, no spreadsheet formulas, no host paths."""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

# C0 controls but newline and tab, DEL, C1 controls (0x9b is a one-byte CSI), the bidirectional
# overrides and isolates (text that reads differently from what it is), and lone surrogates (a file
# name that was not UTF-8) become one visible character each: a terminal, a spreadsheet or a JSON
# reader sees plain text, and a UTF-8 writer never fails on it.
_REPLACE = "\N{REPLACEMENT CHARACTER}"
_CONTROLS = {c: _REPLACE for c in [*range(0x00, 0x09), *range(0x0B, 0x20), *range(0x7F, 0xA0),
                                   *range(0x202A, 0x202F), *range(0x2066, 0x206A), *range(0xD800, 0xE000)]}
# OWASP's CSV injection advice: a cell that starts with one of these is prefixed with a quote.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"[+-]?\d+(?:\.\d+)?")


def clean(text: str) -> str:
    """`text` with every control character but newline and tab replaced (linear, one pass)."""
    return str(text).translate(_CONTROLS)


def csv_cell(value) -> str:
    """A text cell a spreadsheet shows as text: control characters replaced, and a cell that would
    start a formula (= + - @, tab, carriage return) prefixed with a single quote. Plain numbers stay
    numbers."""
    text = str(value)
    if text.startswith(_FORMULA_START) and not _PLAIN_NUMBER.fullmatch(text):
        text = "'" + text
    return clean(text)


# Where the grader lives on this machine: never shown in feedback (a submission can read them from
# /proc/self/mountinfo or its own tracebacks and echo them).
_HOST_PATHS: set[str] = set()
# Folders that look the same on every machine or inside the sandbox: named in ordinary messages.
_SHARED = {"", "/tmp", "/usr", "/usr/local", "/usr/lib", "/proc", "/dev", "/etc", "/bin", "/lib", "/lib64",
           "/sbin", "/sys", "/opt", "/opt/grader", "/data", "/submission", "/var", "/home", "/run", "/mnt"}
_HOST_PATTERN: list[re.Pattern | None] = [None]


def add_host_path(path: str | os.PathLike | None) -> None:
    """Also hide `path` (a data folder, a staging folder) from feedback."""
    if not path:
        return
    for p in {str(path), os.path.realpath(path)}:
        p = p.rstrip("/")
        if p not in _SHARED and p not in _HOST_PATHS:
            _HOST_PATHS.add(p)
            _HOST_PATTERN[0] = None


def _pattern() -> re.Pattern:
    if _HOST_PATTERN[0] is None:
        # Longest first, so a folder inside another is replaced whole; matched only at path boundaries.
        alts = "|".join(re.escape(p) for p in sorted(_HOST_PATHS, key=len, reverse=True))
        _HOST_PATTERN[0] = re.compile(f"(?:{alts})(?=[/\\s'\":,;)\\]]|$)" if alts else r"(?!x)x")
    return _HOST_PATTERN[0]


def no_host_paths(text: str) -> str:
    """`text` with the grader's own folders on this machine replaced by "<grader path>"."""
    return _pattern().sub("<grader path>", text)


def _defaults() -> None:
    add_host_path(Path(__file__).resolve().parent.parent)  # the grader's install (project or site-packages)
    add_host_path(os.environ.get("GRADER_DATA_DIR"))
    add_host_path(os.path.expanduser("~"))
    add_host_path(os.getcwd())
    for prefix in {sys.prefix, sys.base_prefix, sys.exec_prefix}:
        add_host_path(prefix)


_defaults()
