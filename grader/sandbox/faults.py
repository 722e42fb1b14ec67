"""What can go wrong in a call to the sandbox, as exceptions whose messages are written for the student; redaction of every text the sandbox sends."""

from __future__ import annotations

import re

from grader.inert import clean, no_host_paths


class SubmissionFault(Exception):
    """Something the submission did made a call fail; the message is written for the student."""


class StudentError(SubmissionFault):
    """The student's code raised an exception."""

    def __init__(self, call: str, error: dict, cells: dict | None = None):
        # Every field comes from the sandbox: redacted like the message (a class name or a code
        # object's file name can carry the hidden inputs as well as the text can).
        self.call, self.error = call, error
        self.type = redact(str(error.get("type", "Exception")), 100)
        self.message = redact(str(error.get("message", "")))
        self.where = redact(str(error["where"]), 120) if error.get("where") else None
        culprit = error.get("culprit")
        self.culprit = None  # the innermost function of the submission that failed, and where
        if isinstance(culprit, dict) and isinstance(culprit.get("function"), str) \
                and _FUNCTION.fullmatch(culprit["function"]):
            at = culprit.get("where")
            self.culprit = (redact(culprit["function"], 100), redact(at, 120) if isinstance(at, str) else None)
        head, where = call, self.where
        if self.culprit and not _names_itself(call, self.culprit[0]):
            head, where = f"{call} failed: {self.culprit[0]}()", self.culprit[1] or self.where
        at = f" ({place(where, cells, self.culprit[0] if self.culprit else None)})" if where else ""
        if self.type == "NotImplementedError":
            why = f": {self.message}" if self.message else ""
            text = f"{head} is not implemented yet{why}{at}"
        elif self.type == "SyntaxError" and self.culprit:
            text = f"{head} could not be compiled: {self.message}{at}"
        elif self.type == "ModuleNotFoundError":
            text = f"{head}: {missing_module(self.message)}{at}"
        elif self.type == "SystemExit":
            text = f"{head} called sys.exit(){at}; graded code must return a value"
        else:
            text = f"{head} raised {self.type}: {self.message}{at}"
        super().__init__(text)

    def placed(self, cells: dict) -> "StudentError":
        """The same error, its cell described by what the cell holds (cells: Submission.cell_guide())."""
        return StudentError(self.call, self.error, cells)


_FUNCTION = re.compile(r"[A-Za-z_][A-Za-z0-9_.]{0,99}")


def _names_itself(call: str, function: str) -> bool:
    """Whether the call's label already names the function that failed (MLP() for MLP.__init__)."""
    return f"{function}()" in call or f"{function.removesuffix('.__init__')}()" in call


def place(where: str, cells: dict | None, function: str | None = None) -> str:
    """'cell 22, line 2' -> 'cell 22, line 2, the cell starting `ACTIVATIONS = {...`': notebooks number no
    cells, so say which one, unless the function named beside it already does."""
    guide = (cells or {}).get(where.split(",")[0])
    if guide is None:
        return where
    names, first = guide
    if function is not None and function.split(".")[0] in names:
        return where
    if names:
        return f"{where}, the cell defining {', '.join(names[:3])}" + (" ..." if len(names) > 3 else "")
    return f"{where}, the cell starting `{first}`" if first else where


AVAILABLE = "torch, numpy, math, the Python standard library and tqdm"


def missing_module(message: str) -> str:
    """What a student reads when graded code imports a module the grader does not have."""
    match = re.search(r"No module named '([\w.]{1,80})'", message)
    name = f"the module {match.group(1)!r}" if match else "a module"
    return f"{name} is not available where graded code runs; graded code may use {AVAILABLE}"


# Text from the sandbox is split into tokens at separators (linear time: no pattern that can
# backtrack on a megabyte of digits). A token "has digits" if any character is one.
_SEPARATORS = re.compile(r"([^\w.+\-/=]+)")


_DECIMAL = re.compile(r"\d+\.\d+(?:[eE][-+]?\d+)?|(?<![\w.])\.\d+(?:[eE][-+]?\d+)?|\d+[eE][-+]?\d+")


def redact(message: str, cap: int = 300) -> str:
    """Text from the sandbox (a student's exception, a class name) as feedback may show it, without what
    could echo hidden inputs: runs of four or more tokens with digits (a printed list or tensor, hex
    words), decimals and exponents (x=0.25 -> x=#), and long tokens that are mostly digits (hex or
    digit-encoded data). Whole numbers such as shapes and line numbers stay. Control characters and
    the grader's own folders on this machine go too (grader.inert)."""
    tokens = _SEPARATORS.split(no_host_paths(clean(str(message)[: cap * 4])))
    words, seps = tokens[0::2], tokens[1::2] + [""]
    digits = [any(c.isdigit() for c in w) for w in words]
    out: list[str] = []
    i = 0
    while i < len(words):
        j = i
        while digits[i] and j + 1 < len(words) and digits[j + 1]:
            j += 1
        if j - i >= 3:
            out += ["[numbers removed]", seps[j]]
            i = j + 1
            continue
        word = words[i]
        if digits[i] and len(word) > 12 and 3 * sum(c.isdigit() for c in word) >= len(word):
            word = "[data removed]"
        elif digits[i]:
            word = _DECIMAL.sub("#", word)
        out += [word, seps[i]]
        i += 1
    return "".join(out)[:cap]


def type_name(name: str) -> str:
    """A class name sent by the sandbox, safe to print in feedback."""
    return redact(name, 60) or "object"


class WorkerCrashed(SubmissionFault):
    """The worker process died during a call."""


class CallTimeout(SubmissionFault):
    """A call ran past its time limit."""


class ProtocolViolation(SubmissionFault):
    """The worker sent something that is not a valid reply."""


class TimeLimitReached(SubmissionFault):
    """The submission used up its total time."""
