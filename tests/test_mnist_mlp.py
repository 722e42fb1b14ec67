"""The shipped assignment end to end: reference full marks, blank release zero, GPU path on the CPU."""

from __future__ import annotations

import json

import jsonschema
import pytest

from conftest import PROJECT
from grader.cli import main
from grader.pipeline import GradeOptions, grade
from grader.rubric import find_rubric

pytestmark = pytest.mark.slow
REFERENCE = PROJECT / "reference_solution" / "mnist_mlp" / "mnist_mlp.ipynb"
RELEASE = PROJECT / "assignments" / "mnist_mlp" / "mnist_mlp.ipynb"
SCHEMA = json.loads((PROJECT / "tests" / "fixtures" / "gradescope_results.schema.json").read_text())


def test_reference_gets_full_marks(tmp_path, data_dir):
    out = tmp_path / "r.json"
    assert main([str(REFERENCE), "--json", str(out), "--data-dir", data_dir, "--threads", "1"]) == 0
    data = json.loads(out.read_text())
    jsonschema.validate(data, SCHEMA)
    failed = [(t["name"], t["output"]) for t in data["tests"] if t["score"] < t["max_score"]]
    assert failed == [] and data["score"] == data["extra_data"]["max_score"] == 100


def test_blank_release_gets_zero_with_every_check_reported(tmp_path, data_dir):
    out = tmp_path / "r.json"
    assert main([str(RELEASE), "--json", str(out), "--data-dir", data_dir, "--threads", "1"]) == 0
    data = json.loads(out.read_text())
    jsonschema.validate(data, SCHEMA)
    rubric = find_rubric("mnist_mlp")
    assert data["score"] == 0
    assert {t["name"] for t in data["tests"]} == {i.name for i in rubric.items if not i.optional}
    assert all(t["output"] for t in data["tests"])  # every failure says why
    assert any("not implemented yet" in t["output"] for t in data["tests"])


def test_gpu_section_code_path_runs_on_cpu(data_dir):
    # The GPU section through the very same tests, with "cpu" as its device: nothing is faked.
    result = grade(REFERENCE, find_rubric("mnist_mlp"),
                   GradeOptions(data_dir=data_dir, gpu="on", gpu_device="cpu", threads=1))
    gpu = [i for i in result.items if i.section.startswith("GPU")]
    assert gpu and all(i.status == "passed" and i.max_score > 0 for i in gpu)
    assert result.score == result.max_score > 100


def test_gpu_section_skipped_without_cuda_counts_nowhere(data_dir):
    result = grade(RELEASE, find_rubric("mnist_mlp"), GradeOptions(data_dir=data_dir, gpu="off", threads=1))
    gpu = [i for i in result.items if i.section.startswith("GPU")]
    assert gpu and all(i.status == "skipped" and i.max_score == 0 for i in gpu)
    assert result.max_score == 100
