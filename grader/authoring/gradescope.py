"""Gradescope: build the autograder zip (`grade gradescope`), and grade inside it (what run_autograder calls).

Inside the container (shared/docs/gradescope-results.md): the zip is unpacked to ROOT/source,
setup.sh runs once at image build, run_autograder once per submission, as root, with the student's
files in ROOT/submission; results go to ROOT/results/results.json, and stdout is for instructors only.
ROOT is /autograder unless AUTOGRADER_ROOT says otherwise (the tests unpack into a temporary tree).
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback
import zipfile
from dataclasses import dataclass
from pathlib import Path

from grader.errors import ConfigError
from grader.rubric import PROJECT, Rubric, _root_of

SKIP_PARTS = ("__pycache__", ".ipynb_checkpoints", ".pytest_cache")
# What grading does not need, left out of requirements.txt: torch and torchvision are installed by setup.sh
# (the CPU build), the others serve the batch report, the LMS readers and the kit. Everything else is in,
# so a new runtime dependency (tqdm, which graded code may import) reaches the autograder by default.
NOT_FOR_GRADING = ("torch", "torchvision", "matplotlib", "jinja2", "markdown-it-py", "pyyaml", "nbclient")
# Fixed zip timestamps: the same sources always give the same package.
EPOCH = (1980, 1, 1, 0, 0, 0)

SETUP_SH = r"""#!/usr/bin/env bash
# Gradescope runs this once, as root, when it builds the autograder image: everything grading
# needs is installed (and MNIST fetched) now, so grading itself needs no network.
set -euxo pipefail
ROOT="${AUTOGRADER_ROOT:-/autograder}"
export DEBIAN_FRONTEND=noninteractive
apt-get update
# bubblewrap: the sandbox's namespaces; util-linux: setpriv, to run student code as an unprivileged uid.
apt-get install -y --no-install-recommends python3 python3-venv python3-pip bubblewrap util-linux ca-certificates
python3 -m venv "$ROOT/venv"
"$ROOT/venv/bin/pip" install --upgrade pip
# The CPU build of torch: a fraction of the CUDA build's size, and Gradescope has no GPU. Pinned to
# the versions the rubric names or the package was built with: accuracy curves are measured on one.
"$ROOT/venv/bin/pip" install __TORCH__ --index-url https://download.pytorch.org/whl/cpu
"$ROOT/venv/bin/pip" install -r "$ROOT/source/requirements.txt"
__FETCH_DATA__
"""

FETCH_MNIST = r"""# MNIST, at image build time, where run_autograder points GRADER_DATA_DIR.
mkdir -p "$ROOT/data"
"$ROOT/venv/bin/python" -c "import sys, torchvision; [torchvision.datasets.MNIST(sys.argv[1], train=t, download=True) for t in (True, False)]" "$ROOT/data"
test -s "$ROOT/data/MNIST/raw/t10k-labels-idx1-ubyte"
chmod -R a+rX "$ROOT/data"
"""

RUN_AUTOGRADER = r"""#!/usr/bin/env bash
# Gradescope runs this once per submission, as root. Whatever fails inside, a valid results.json
# is written: the grader writes a "grader error" result itself, and if even Python cannot start,
# the fallback below does. Everything printed here is for instructors only (stdout_visibility hidden).
set -u
ROOT="${AUTOGRADER_ROOT:-/autograder}"
PYTHON="${AUTOGRADER_PYTHON:-$ROOT/venv/bin/python}"  # setup.sh made this venv; tests name another
SOURCE="$ROOT/source"
RESULTS="$ROOT/results/results.json"
mkdir -p "$ROOT/results"
rm -f "$RESULTS"
# Hidden suites and the reference readable by root only. The bubblewrap sandbox never mounts them;
# this keeps them from any process of another uid as well.
chmod -R go-rwx __PRIVATE__ 2>/dev/null || true
cd "$SOURCE" || true
PYTHONPATH="$SOURCE" GRADER_DATA_DIR="${GRADER_DATA_DIR:-$ROOT/data}" \
  "$PYTHON" -m grader.authoring.gradescope --root "$ROOT" --rubric "$SOURCE/__RUBRIC__"
status=$?
if ! "$PYTHON" -c 'import json, sys; d = json.load(open(sys.argv[1])); sys.exit(0 if "score" in d else 1)' "$RESULTS" 2>/dev/null \
   && ! grep -q '"score"' "$RESULTS" 2>/dev/null; then
  cat > "$RESULTS" <<'EOF'
{"score": 0, "output": "The autograder failed while grading this submission. This is not your fault; your instructors have been told. Please resubmit later or contact them.", "stdout_visibility": "hidden", "tests": [{"name": "grader error", "score": 0, "max_score": 0, "status": "failed", "output": "the grader could not start (see the autograder output)", "visibility": "visible"}]}
EOF
  echo "run_autograder: the grader exited with status $status and wrote no results; wrote the fallback"
fi
exit 0
"""


def package_files(rubric: Rubric) -> dict[str, Path | str]:
    """Zip path -> source file (or text) for the package: the grader, the rubric with its hidden
    suites, the reference at the path the rubric names, and the two scripts."""
    if rubric.reference is None:
        raise ConfigError(f"{rubric.folder}: a public rubric has no reference; package the hidden one")
    folder = rubric.folder.resolve()
    root = _root_of(folder)
    try:
        reference = rubric.reference.resolve().relative_to(root)
        rubric_rel = folder.relative_to(root)
    except ValueError:
        raise ConfigError(f"the reference {rubric.reference} is not inside {root}, beside the rubric") from None
    files: dict[str, Path | str] = {}
    for p in sorted((PROJECT / "grader").rglob("*.py")):
        if "__pycache__" not in p.parts:
            files[p.relative_to(PROJECT).as_posix()] = p
    for p in sorted(rubric.folder.rglob("*")):
        rel = p.relative_to(rubric.folder)
        # mutants/ is for `grade check` only: grading never reads it.
        skip = rel.parts[0] == "mutants" or any(s in rel.parts for s in SKIP_PARTS)
        if p.is_file() and not p.is_symlink() and not skip:
            files[(rubric_rel / rel).as_posix()] = p
    files[reference.as_posix()] = rubric.reference
    private = sorted({f'"$SOURCE/{rubric_rel.as_posix()}"', f'"$SOURCE/{reference.parent.as_posix()}"'})
    files["requirements.txt"] = "\n".join(_requirements()) + "\n"
    torch = " ".join(f"{name}=={version}" for name, version in pinned_versions(rubric).items())
    fetch = FETCH_MNIST if rubric.needs_mnist else "# This assignment does not use MNIST: nothing to fetch."
    files["setup.sh"] = SETUP_SH.replace("__TORCH__", torch).replace("__FETCH_DATA__", fetch)
    files["run_autograder"] = RUN_AUTOGRADER.replace("__RUBRIC__", rubric_rel.as_posix()).replace(
        "__PRIVATE__", " ".join(private))
    return files


def _requirements() -> list[str]:
    """What grading needs of the grader's dependencies (pyproject.toml, else the installed
    metadata), less torch and torchvision (setup.sh installs their CPU builds)."""
    from importlib import metadata

    from packaging.requirements import Requirement

    from grader.rubric import tomllib

    pyproject = PROJECT / "pyproject.toml"
    if pyproject.is_file():
        deps = tomllib.loads(pyproject.read_text())["project"]["dependencies"]
    else:
        deps = [d for d in metadata.requires("mlgrader") or [] if "extra ==" not in d]
    return [d for d in deps if Requirement(d).name not in NOT_FOR_GRADING]


def pinned_versions(rubric: Rubric) -> dict[str, str]:
    """torch and torchvision as the rubric's [environment] names them, else as installed here
    (less any local build tag such as +cu130: setup.sh installs the CPU build of that version)."""
    from importlib import metadata

    from packaging.version import InvalidVersion, Version

    from grader.rubric import PINNED

    named = dict(rubric.versions)
    out = {}
    for dist in PINNED:
        try:
            raw = named.get(dist) or metadata.version(dist)
        except metadata.PackageNotFoundError:
            raise ConfigError(f"{dist} is not installed here: name its version in the rubric's [environment]") from None
        try:
            out[dist] = Version(raw).public  # also keeps anything but a version out of setup.sh
        except InvalidVersion:
            raise ConfigError(f"{rubric.folder}: {dist} version {raw!r} is not a version") from None
    return out


def build_package(rubric: Rubric, out: str | Path) -> list[str]:
    """Write the autograder zip; returns the names in it."""
    files = package_files(rubric)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, src in files.items():
            info = zipfile.ZipInfo(name, EPOCH)
            executable = name in ("setup.sh", "run_autograder")
            info.external_attr = ((0o100755 if executable else 0o100644) << 16)
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, src.read_bytes() if isinstance(src, Path) else src)
    os.replace(tmp, out)
    return list(files)


@dataclass(frozen=True)
class TrialRun:
    """The built package run on one submission in a temporary tree laid out like /autograder."""

    role: str  # "reference" | "release"
    score: float
    max_score: float
    problem: str | None  # None when the run did what it must
    output: str  # what run_autograder printed (instructors only)


def trial_run(package: Path, submission: Path, *, data_dir: str | None = None,
              python: str = sys.executable, timeout: float = 900) -> tuple[dict | None, str]:
    """Unpack the package into ROOT/source, put the submission in ROOT/submission and run
    run_autograder as Gradescope would (with this Python instead of the venv setup.sh makes);
    returns results.json (None if there is none) and what run_autograder printed."""
    import json
    import subprocess
    import tempfile

    with tempfile.TemporaryDirectory(prefix="autograder-") as tmp:
        root = Path(tmp)
        with zipfile.ZipFile(package) as zf:
            zf.extractall(root / "source")
        for script in ("setup.sh", "run_autograder"):
            (root / "source" / script).chmod(0o755)
        (root / "submission").mkdir()
        (root / "submission" / submission.name).write_bytes(submission.read_bytes())
        env = {**os.environ, "AUTOGRADER_ROOT": str(root), "AUTOGRADER_PYTHON": python}
        env.pop("PYTHONPATH", None)  # the package's own grader, not this checkout's
        if data_dir:
            env["GRADER_DATA_DIR"] = data_dir
        try:
            r = subprocess.run(["bash", str(root / "source" / "run_autograder")], capture_output=True,
                               text=True, env=env, timeout=timeout)
            output = r.stdout + r.stderr
        except subprocess.TimeoutExpired:
            return None, f"run_autograder took over {timeout:.0f} s"
        try:
            return json.loads((root / "results" / "results.json").read_text()), output
        except (OSError, ValueError) as exc:
            return None, output + f"\nno readable results.json: {exc}"


def try_package(package: Path, rubric: Rubric, *, data_dir: str | None = None,
                 python: str = sys.executable) -> list[TrialRun]:
    """The built package on the reference (full marks) and on the blank release (a result, no grader error)."""
    from grader.load.mnist import find_data_dir

    data = str(find_data_dir(data_dir)) if rubric.needs_mnist else None
    runs = []
    for role, path in (("reference", rubric.reference), ("release", rubric.release)):
        if path is None or not path.is_file():
            continue
        results, output = trial_run(package, path, data_dir=data, python=python,
                                    timeout=rubric.total_seconds + 300)
        runs.append(_judge_trial(role, results, output))
    return runs


def _judge_trial(role: str, results: dict | None, output: str) -> TrialRun:
    if results is None:
        return TrialRun(role, 0.0, 0.0, "run_autograder wrote no results.json", output)
    tests = results.get("tests", [])
    score, top = float(results.get("score", 0)), sum(float(t.get("max_score", 0)) for t in tests)
    errors = [t.get("output", "") for t in tests if t.get("name") == "grader error"]
    if errors:
        detail = results.get("extra_data", {}).get("grader_error") or errors[0]
        return TrialRun(role, score, top, f"grader error: {detail}", output)
    if role == "reference" and score < top:
        lost = [f"{t.get('name')} ({t.get('score')}/{t.get('max_score')})" for t in tests
                if float(t.get("score", 0)) < float(t.get("max_score", 0))]
        return TrialRun(role, score, top, f"the reference loses points: {'; '.join(lost)}", output)
    return TrialRun(role, score, top, None, output)


def run(root: Path, rubric_dir: Path) -> int:
    """Grade ROOT/submission into ROOT/results/results.json; on any failure, a 'grader error' result."""
    from grader.files import write_json
    from grader.report.gradescope import error_results_json, to_results_json

    results = root / "results" / "results.json"
    try:
        from rich.console import Console

        from grader.pipeline import GradeOptions, grade
        from grader.report.terminal import render
        from grader.rubric import load_rubric

        rubric = load_rubric(rubric_dir)
        result = grade(root / "submission", rubric, GradeOptions())
        write_json(to_results_json(result), results)
        # Gradescope's stdout is for instructors only (stdout_visibility "hidden"): the staff view.
        render(result, Console(width=100, color_system=None), show_hidden=True, staff=True)
        return 0
    except BaseException as exc:  # noqa: BLE001 - whatever happened, the student gets a result
        write_json(error_results_json(f"{type(exc).__name__}: {exc}", exc), results)
        traceback.print_exc(file=sys.stdout)
        return 1


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m grader.authoring.gradescope", description="Grade inside Gradescope.")
    p.add_argument("--root", default=os.environ.get("AUTOGRADER_ROOT", "/autograder"))
    p.add_argument("--rubric", required=True)
    args = p.parse_args(argv)
    return run(Path(args.root), Path(args.rubric))


if __name__ == "__main__":
    sys.exit(main())
