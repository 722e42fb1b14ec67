"""Shared fixtures for the grader's own tests."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

PROJECT = Path(__file__).resolve().parent.parent
TINY = PROJECT / "tests" / "fixtures" / "tiny_course" / "rubrics" / "tiny"

# Parallel test workers each pin torch to one thread so they do not fight over the cores.
torch.set_num_threads(1)


@pytest.fixture(scope="session")
def data_dir() -> str:
    d = os.environ.get("GRADER_DATA_DIR") or str(PROJECT.parent / "shared" / "data")
    if not (Path(d) / "MNIST" / "raw" / "t10k-labels-idx1-ubyte").is_file():
        pytest.skip(f"MNIST not found under {d}; set GRADER_DATA_DIR")
    return d


@pytest.fixture(scope="session")
def tiny_rubric():
    from grader.rubric import load_rubric

    return load_rubric(TINY)


@pytest.fixture
def write(tmp_path):
    """write(name, text) -> path of a new file in a temporary folder."""

    def _write(name: str, text: str | bytes) -> Path:
        p = tmp_path / name
        p.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(text, bytes):
            p.write_bytes(text)
        else:
            p.write_text(text)
        return p

    return _write


@pytest.fixture
def sandboxed(tmp_path):
    """sandboxed(source, **spec) -> a Student running `source` in the sandbox; closed afterwards."""
    from grader.load.submission import load_submission
    from grader.sandbox.spec import Limits, SandboxSpec
    from grader.suites.student import Student

    made = []

    def _make(source: str, *, timeout: float = 10.0, **spec):
        path = tmp_path / f"sub{len(made)}.py"
        path.write_text(source)
        spec.setdefault("limits", Limits(threads=1))
        s = Student(load_submission(path, keep="all"), SandboxSpec(**spec), call_timeout=timeout,
                    total_seconds=120)
        made.append(s)
        return s

    yield _make
    for s in made:
        s.close()
