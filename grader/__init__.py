"""mlgrader: a sandboxed autograder for machine-learning notebooks; the names below are its public API."""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

# name -> module. Imported on first use: `import grader` stays cheap (no torch, no pytest) for the CLI
# and for the sandbox's template process.
_API = {
    "grade": "grader.pipeline", "GradeOptions": "grader.pipeline",
    "load_rubric": "grader.rubric", "find_rubric": "grader.rubric", "Rubric": "grader.rubric", "Item": "grader.rubric",
    "score_items": "grader.rubric",
    "GradeResult": "grader.results", "ItemResult": "grader.results", "Outcome": "grader.results",
    "load_submission": "grader.load.submission", "Submission": "grader.load.submission",
    "BatchRun": "grader.classrun", "Graded": "grader.classrun",
    "check": "grader.authoring.kit",  # the public checks from inside a notebook: check("Part 2")
    "GraderError": "grader.errors", "UsageError": "grader.errors", "ConfigError": "grader.errors",
    "InfrastructureError": "grader.errors", "SubmissionError": "grader.errors",
}
__all__ = sorted(_API) + ["__version__"]


def __getattr__(name: str):
    if name in _API:
        value = getattr(importlib.import_module(_API[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'grader' has no attribute {name!r}")


def __dir__() -> list[str]:
    return __all__
