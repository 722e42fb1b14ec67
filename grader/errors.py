"""The grader's exception hierarchy, drawn in one place.

GraderError
 +-- UsageError           bad command line or missing file: the user fixes the call (exit 2)
 +-- SubmissionError      the submission cannot be read: becomes a graded result, never a crash
 +-- ConfigError          a rubric or assignment folder is malformed: the instructor fixes it (exit 3)
 +-- InfrastructureError  the sandbox or data could not be provided (exit 4)
"""

from __future__ import annotations


class GraderError(Exception):
    """Base class of every error the grader raises on purpose."""


class UsageError(GraderError):
    """The command line or an input path is wrong."""


class SubmissionError(GraderError):
    """The submission cannot be loaded (invalid JSON, not a notebook, empty...)."""


class ConfigError(GraderError):
    """A rubric, suite folder or reference solution is malformed."""


class InfrastructureError(GraderError):
    """Something the grader itself needs is unavailable (sandbox, data)."""
