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
from pathlib import Path

from grader.errors import ConfigError
from grader.rubric import PROJECT, Rubric, _root_of

SKIP_PARTS = ("__pycache__", ".ipynb_checkpoints", ".pytest_cache")
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
# The CPU build of torch: a fraction of the CUDA build's size, and Gradescope has no GPU.
"$ROOT/venv/bin/pip" install torch torchvision --index-url https://download.pytorch.org/whl/cpu
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
        if p.is_file() and not p.is_symlink() and not any(s in p.parts for s in SKIP_PARTS):
            files[(rubric_rel / p.relative_to(rubric.folder)).as_posix()] = p
    files[reference.as_posix()] = rubric.reference
    private = sorted({f'"$SOURCE/{rubric_rel.as_posix()}"', f'"$SOURCE/{reference.parent.as_posix()}"'})
    files["requirements.txt"] = "\n".join(_requirements()) + "\n"
    files["setup.sh"] = SETUP_SH.replace("__FETCH_DATA__", FETCH_MNIST if rubric.needs_mnist else
                                         "# This assignment does not use MNIST: nothing to fetch.")
    files["run_autograder"] = RUN_AUTOGRADER.replace("__RUBRIC__", rubric_rel.as_posix()).replace(
        "__PRIVATE__", " ".join(private))
    return files


def _requirements() -> list[str]:
    """The grader's own dependencies from pyproject.toml, less torch (setup.sh installs the CPU build)."""
    from packaging.requirements import Requirement

    from grader.rubric import tomllib

    deps = tomllib.loads((PROJECT / "pyproject.toml").read_text())["project"]["dependencies"]
    return [d for d in deps if Requirement(d).name not in ("torch", "torchvision")]


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
