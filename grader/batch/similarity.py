"""Copies in a class: pairs of submissions whose graded code is the same after normalisation (MOSS-style winnowing).

How (Schleimer, Wilkerson and Aiken, "Winnowing: local algorithms for document fingerprinting", 2003,
the algorithm behind MOSS):
1. The graded code of each submission (what the loader keeps and the sandbox runs) is split into
   Python tokens (`tokenize`). Comments, docstrings, blank lines and line breaks inside brackets are
   dropped; every name a student chooses becomes `v`, every string `s` and every number `n`.
   Keywords, builtins and attribute names (`.mean`, `.backward`) stay: they are what the code does.
   Renaming, recommenting and reformatting therefore change nothing.
2. Each run of K tokens is hashed (blake2b: the same on every run and machine); in every window of
   W consecutive hashes the smallest is kept. Any run of K + W - 1 tokens two submissions share yields
   a fingerprint they share; runs shorter than K never do, so common idioms are ignored.
3. Fingerprints of the release notebook (code handed out) and those found in many submissions (the
   obvious way to write a line) are removed.
4. A pair's score is the share of the smaller submission's fingerprints found in the other. A pair is
   listed at score >= THRESHOLD with at least MIN_SHARED shared fingerprints: short answers written
   the same way by chance (an independent `return x.mean()`) do not reach it.
"""

from __future__ import annotations

import builtins
import hashlib
import io
import keyword
import tokenize
from collections import Counter, defaultdict
from pathlib import Path

from grader.classrun import SimilarPair

K = 10  # tokens per hashed run
W = 6  # winnowing window
THRESHOLD = 0.75
MIN_SHARED = 12
_KEEP = set(keyword.kwlist) | set(dir(builtins))
_SKIP = {tokenize.COMMENT, tokenize.NL, tokenize.ENCODING, tokenize.ENDMARKER}


def normalise(code: str) -> list[str]:
    """The code's tokens with names, strings and numbers blanked out (see the module's docstring)."""
    out: list[str] = []
    previous = ""
    try:
        for tok in tokenize.generate_tokens(io.StringIO(code).readline):
            if tok.type in _SKIP:
                continue
            if tok.type == tokenize.NAME:
                text = tok.string if tok.string in _KEEP or previous == "." else "v"
            elif tok.type == tokenize.STRING or tok.type == getattr(tokenize, "FSTRING_START", -1):
                text = "s"
            elif tok.type == tokenize.NUMBER:
                text = "n"
            elif tok.type == tokenize.NEWLINE:
                text = ";"
            elif tok.type == tokenize.INDENT:
                text = "{"
            elif tok.type == tokenize.DEDENT:
                text = "}"
            else:
                text = tok.string
            previous = tok.string
            out.append(text)
    except (tokenize.TokenError, SyntaxError):
        pass  # code that does not tokenize to the end: what came before still counts
    return _without_docstrings(out)


def _without_docstrings(tokens: list[str]) -> list[str]:
    # A string standing alone as a statement is a comment in all but name.
    out: list[str] = []
    for i, t in enumerate(tokens):
        alone = t == "s" and (not out or out[-1] in (";", "{", "}")) and (i + 1 == len(tokens) or tokens[i + 1] == ";")
        if alone:
            continue
        if t == ";" and out and out[-1] in (";", "{", "}"):
            continue
        out.append(t)
    return out


def fingerprints(tokens: list[str], k: int = K, w: int = W) -> set[int]:
    """Winnowed hashes of the k-token runs."""
    hashes = [int.from_bytes(hashlib.blake2b("\x00".join(tokens[i:i + k]).encode(), digest_size=8).digest(), "big")
              for i in range(len(tokens) - k + 1)]
    if len(hashes) <= w:
        return set(hashes)
    return {min(hashes[i:i + w]) for i in range(len(hashes) - w + 1)}


def graded_code(path: str | Path, rubric) -> str | None:
    """The code the grader runs for this submission, or None when it cannot be read."""
    from grader.load.submission import load_submission

    try:
        sub = load_submission(path, keep=rubric.execution)
    except Exception:  # noqa: BLE001  (analysis only: an unreadable file is reported by grading already)
        return None
    return "\n\n".join(c.code.strip("\n") for c in sub.chunks)


def find_similar(codes: dict[str, str], release: str = "", *, threshold: float = THRESHOLD,
                 min_shared: int = MIN_SHARED) -> tuple[SimilarPair, ...]:
    """Pairs of {key: code} whose fingerprints mostly agree, highest score first."""
    given = fingerprints(normalise(release)) if release else set()
    prints = {key: fingerprints(normalise(code)) - given for key, code in codes.items()}
    seen_in = Counter(h for p in prints.values() for h in p)
    common = {h for h, n in seen_in.items() if n > max(4, 0.3 * len(prints))}
    holders: dict[int, list[str]] = defaultdict(list)
    for key in sorted(prints):
        prints[key] -= common
        for h in prints[key]:
            holders[h].append(key)
    shared: Counter = Counter()
    for keys in holders.values():
        for i, a in enumerate(keys):
            for b in keys[i + 1:]:
                shared[(a, b)] += 1
    pairs = []
    for (a, b), n in shared.items():
        score = n / max(1, min(len(prints[a]), len(prints[b])))
        if n >= min_shared and score >= threshold:
            pairs.append(SimilarPair(a, b, round(score, 3), n, codes[a], codes[b]))
    return tuple(sorted(pairs, key=lambda p: (-p.score, -p.shared, p.a, p.b)))


def similar_in(run) -> tuple[SimilarPair, ...]:
    """The similar pairs of a graded class (submissions that could be read), release code left out."""
    codes = {}
    for g in run.graded:
        if g.result is not None and not g.result.error:
            code = graded_code(g.submission.path, run.rubric)
            if code:
                codes[g.submission.key] = code
    release = graded_code(run.rubric.release, run.rubric) if run.rubric.release else None
    return find_similar(codes, release or "")
