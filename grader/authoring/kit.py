"""The student kit (release notebook, the grader without hidden suites or reference, the public checks, install steps) and `check()`, the public checks from inside a notebook."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from grader.errors import UsageError
from grader.rubric import PROJECT, Rubric

README = """\
# {title}: student kit

This folder holds the assignment notebook, `{notebook}`, and `mlgrader/`: the grader with the
public checks only (no hidden tests, no solution). Passing the public checks does not guarantee
full marks: the hidden checks test more cases.

Install once (Linux or macOS, Python >= 3.10; `sudo apt-get install bubblewrap` on Linux gives the
checks their sandbox):

    python3 -m venv .venv
    .venv/bin/pip install -e ./mlgrader

Keep the `-e`: the grader finds the public checks in `mlgrader/`, and a plain install leaves them
behind.

Check the saved notebook from a terminal:

    .venv/bin/grade {notebook} --public

or from a cell of the notebook itself (it checks the notebook as last saved: save first):

    from grader import check
    check()            # every public check
    check("Part 2")    # only the checks whose name or section mentions "Part 2"
"""

_IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc", ".*")


def build_kit(rubric: Rubric, public: Rubric, out: str | Path) -> list[str]:
    """Write the kit into `out` (new or empty); returns the files written, relative to it."""
    out = Path(out)
    if out.exists() and any(out.iterdir()):
        raise UsageError(f"{out}: not empty; give a new folder for the kit")
    if rubric.release is None or not rubric.release.is_file():
        raise UsageError(f"the rubric of {rubric.assignment} names no release notebook (run `grade assign`)")
    out.mkdir(parents=True, exist_ok=True)
    tool = out / "mlgrader"
    shutil.copytree(PROJECT / "grader", tool / "grader", ignore=_IGNORE)
    # The public suite only, at the place find_rubric(public=True) looks for it.
    shutil.copytree(public.folder, tool / "assignments" / rubric.assignment / "public", ignore=_IGNORE)
    shutil.copy2(PROJECT / "pyproject.toml", tool / "pyproject.toml")
    text = README.format(title=rubric.title, notebook=rubric.release.name)
    (tool / "README.md").write_text(text)
    (out / "README.md").write_text(text)
    shutil.copy2(rubric.release, out / rubric.release.name)
    written = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
    leaked = [w for w in written if "rubrics" in Path(w).parts or "reference_solution" in Path(w).parts]
    if leaked or (rubric.reference is not None and any(
            (out / w).read_bytes() == rubric.reference.read_bytes() for w in written if w.endswith(".ipynb"))):
        shutil.rmtree(out)
        raise UsageError(f"the kit would contain hidden files ({', '.join(leaked) or 'the reference'}); not written")
    return written


def check(part: str | None = None, notebook: str | None = None, *, assignment: str | None = None):
    """Run the public checks on the notebook being edited (as last saved) and print the report.

    part: only the checks whose name or section mentions it ("Part 2", "softmax"); notebook: its path
    where it cannot be found (the notebook of this kernel, or the only .ipynb in this folder);
    assignment: where the grader holds several (by default the one its kit was made for)."""
    from dataclasses import replace

    from grader.pipeline import GradeOptions, grade
    from grader.report.terminal import lines
    from grader.rubric import default_assignment, find_rubric

    path = _notebook(notebook)
    rubric = find_rubric(assignment or default_assignment(), public=True)
    result = grade(path, rubric, GradeOptions(gpu="off"))
    if part:
        chosen = tuple(i for i in result.items if part.lower() in f"{i.name} {i.section}".lower())
        if chosen:
            result = replace(result, items=chosen, score=sum(i.score for i in chosen),
                             max_score=sum(i.max_score for i in chosen))
        else:
            print(f"no public check mentions {part!r}; all of them:")
    for line in lines(result, width=100):
        print(line.plain)
    return result


def _notebook(explicit: str | None) -> Path:
    if explicit:
        return Path(explicit)
    candidates = []
    try:  # VS Code names the notebook in the kernel's namespace; Jupyter in the environment
        from IPython import get_ipython

        shell = get_ipython()
        if shell is not None and shell.user_ns.get("__vsc_ipynb_file__"):
            candidates.append(shell.user_ns["__vsc_ipynb_file__"])
    except ImportError:
        pass
    if os.environ.get("JPY_SESSION_NAME", "").endswith(".ipynb"):
        candidates.append(os.environ["JPY_SESSION_NAME"])
    for c in candidates:
        if Path(c).is_file():
            return Path(c)
    here = sorted(p for p in Path.cwd().glob("*.ipynb") if p.is_file())
    if len(here) == 1:
        return here[0]
    raise UsageError("cannot tell which notebook to check: pass it, as in check(notebook=\"mnist_mlp.ipynb\")")
