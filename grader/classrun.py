"""A graded class as reporters read it: who handed in what, each submission's outcome, the whole run."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from grader.results import GradeResult
from grader.rubric import Rubric

Status = Literal["graded", "unreadable", "crashed", "timeout", "needs regrade"]
NEEDS_REGRADE: Status = "needs regrade"  # the grader could not run it (never a score): a rerun grades it


@dataclass(frozen=True)
class Person:
    """Who handed a submission in, as far as the source says."""

    id: str
    name: str = ""
    email: str = ""


@dataclass(frozen=True)
class StudentSubmission:
    """What one student (or group) handed in: a file or folder to grade, and who they are."""

    key: str  # unique and file-system safe: names the student's output folder
    path: Path
    students: tuple[Person, ...]
    shown_as: str  # where it came from inside the source, for reports
    late: bool = False
    note: str = ""  # why who handed it in is a guess (a file matching no layout, named after its file)


@dataclass(frozen=True)
class Refused:
    """An archive entry or file that was not used, and why."""

    entry: str
    reason: str


@dataclass(frozen=True)
class ClassSource:
    """A whole class, ready to grade."""

    kind: str  # "folder" | "gradescope" | "canvas" | "moodle"
    submissions: tuple[StudentSubmission, ...]
    refused: tuple[Refused, ...] = ()
    ignored: tuple[Refused, ...] = ()  # files not graded, and why (a README, Moodle online text)


@dataclass(frozen=True)
class Graded:
    """One submission's outcome in a batch: a result, or why there is none."""

    submission: StudentSubmission
    status: Status
    result: GradeResult | None
    attempts: int = 0
    message: str = ""
    from_journal: bool = False


@dataclass(frozen=True)
class SimilarPair:
    """Two submissions whose graded code is the same or nearly, after normalisation."""

    a: str  # submission keys
    b: str
    score: float  # share of the smaller one's fingerprints found in the other, 0-1
    shared: int  # fingerprints in common (release code left out)
    code_a: str  # the graded code of each, as the diff shows it
    code_b: str


@dataclass(frozen=True)
class BatchOptions:
    """How to run a batch."""

    jobs: int = 0  # parallel children; 0: one per CPU core
    data_dir: str | None = None
    gpu: str = "off"  # many jobs on one GPU would fight over it; the GPU section is for single runs
    isolation: str = "auto"
    timeout_s: float = 0.0  # per submission, sandbox start and imports included; 0: from the rubric
    fork: bool = True  # fork children from a process that imported the grader once (fast); else spawn


@dataclass(frozen=True)
class BatchRun:
    """A whole batch: every submission's outcome, in the source's order."""

    source: ClassSource
    rubric: Rubric
    graded: tuple[Graded, ...]
    seconds: float
    graded_now: int  # submissions graded by this run (not taken from the journal)
    interrupted: bool = False
    left_out: tuple[StudentSubmission, ...] = ()  # not graded yet and not asked for (--only)
    similar: tuple[SimilarPair, ...] = ()  # pairs whose code is (nearly) the same
